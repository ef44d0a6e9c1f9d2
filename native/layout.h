// Where the fields of mlx::core::array::ArrayDesc sit. These are facts about one MLX build; they are
// never trusted blindly: the JS self-probe compares what they give against values JS can see.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "records.h"

namespace mlxtrace {

struct Layout {
  // mlx::core::array is one std::shared_ptr<ArrayDesc>: {ArrayDesc*, control block*}.
  size_t array_size = 16;
  size_t shape = 0;       // std::vector<int>
  size_t size = 48;       // size_t element count
  size_t dtype = 56;      // Dtype { uint32 val; uint8 size; }
  size_t primitive = 64;  // std::shared_ptr<Primitive>, empty once evaluated and detached
  size_t status = 80;     // array::Status, a 4-byte enum: 0 (unscheduled) until an eval takes the node
  size_t inputs = 176;    // std::vector<array>
};

extern Layout g_layout;

inline const void* desc_of(const void* array) { return *static_cast<void* const*>(array); }

struct VecView {
  const uint8_t* begin;
  const uint8_t* end;
};
inline VecView vec_at(const void* base, size_t off) {
  auto p = reinterpret_cast<const uint8_t* const*>(static_cast<const uint8_t*>(base) + off);
  return {p[0], p[1]};
}

// Whether an eval has taken the node (MLX's status is no longer `unscheduled`). MLX's eval sets it on
// the calling thread before it hands the node to the stream thread, which may then run it and, right
// after, detach it (free its inputs): so a walk on another thread reads a node's inputs only while
// this is false, as MLX's own eval walks do.
inline bool taken_by_eval(const uint8_t* d) { return *reinterpret_cast<const uint32_t*>(d + g_layout.status) != 0; }

// Whether a walk may read node d's inputs: no eval has taken it, and it is not a leaf (or evaluated:
// its primitive is gone then).
inline bool walkable(const uint8_t* d) {
  return !taken_by_eval(d) && *reinterpret_cast<void* const*>(d + g_layout.primitive) != nullptr;
}

// Pushes the nodes of walkable node d's inputs onto a walk's stack.
inline void push_inputs(const uint8_t* d, std::vector<const uint8_t*>& stack) {
  VecView in = vec_at(d, g_layout.inputs);
  for (const uint8_t* p = in.begin; p < in.end; p += g_layout.array_size)
    if (desc_of(p)) stack.push_back(static_cast<const uint8_t*>(desc_of(p)));
}

// Writes one array's description (header, desc pointer, dims) into out; returns words written.
inline int describe_array(const void* array, bool is_output, uint32_t* out) {
  const uint8_t* d = static_cast<const uint8_t*>(desc_of(array));
  if (!d) {
    out[0] = 0;
    out[1] = out[2] = 0;
    return 3;
  }
  VecView sh = vec_at(d, g_layout.shape);
  int ndim = int((sh.end - sh.begin) / sizeof(int));
  if (ndim < 0 || ndim > kMaxDims) ndim = kMaxDims;  // deeper shapes are cut
  uint32_t dval = *reinterpret_cast<const uint32_t*>(d + g_layout.dtype) & 0xFF;
  uint32_t isz = *(d + g_layout.dtype + 4);
  out[0] = uint32_t(ndim) | (dval << 8) | (isz << 16) | (uint32_t(is_output) << 24);
  uintptr_t p = reinterpret_cast<uintptr_t>(d);
  out[1] = uint32_t(p);
  out[2] = uint32_t(p >> 32);
  const int* dims = reinterpret_cast<const int*>(sh.begin);
  for (int i = 0; i < ndim; i++) out[3 + i] = uint32_t(dims[i]);
  return 3 + ndim;
}

}  // namespace mlxtrace
