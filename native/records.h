// The record layout: what one event looks like in a thread's ring and in a drained batch. This is
// the one description of it; src/core/record/decode.ts reads the same bytes.
#pragma once
#include <cstdint>

namespace mlxtrace {

enum RecKind : uint8_t { kPrimCpu = 1, kPrimGpu = 2, kMalloc = 3, kFree = 4 };
constexpr uint16_t kNoClass = 0xFFFF;

// Rec.flags, bit by bit:
//   bit 0     the array list was cut: more than kMaxArraysIn inputs or kMaxArraysOut outputs
//   bits 1-3  mx.fast marker (0: none; else the index of the mx.fast function whose fallback graph
//             built the primitive), written by the drain from the fast-function tag table
//   bits 4-7  zero
// Memory records carry no flags (0).
constexpr uint8_t kFlagTruncated = 1u << 0;
constexpr int kFlagFastShift = 1;
constexpr uint8_t kFlagFastMask = 7u << kFlagFastShift;

// Flags of a primitive in the SDK's columns (drain_columns; event-log.ts PRIM_* reads the same bits):
//   bit 0     ran on the GPU
//   bit 1     the array list was cut
//   bits 2-4  mx.fast marker, as above
constexpr uint8_t kColGpu = 1u << 0;
constexpr uint8_t kColTruncated = 1u << 1;
constexpr int kColFastShift = 2;

// 48 bytes, little-endian, byte offsets on the left:
//    0  t0      begin: a stamp() while in the ring, CLOCK_MONOTONIC ns once drained
//    8  t1      end (memory records: equal to t0)
//   16  ident   primitive: in the ring the ArrayDesc* of the first output (0 when it has none),
//               once drained the number of its signature (signatures.h; kNoSignature: none);
//               memory: live bytes after the event
//   24  value   primitive: in the ring 0, once drained the layer tag (span id of the innermost
//               layer that built the output, 0 if none); memory: +bytes (malloc) / -bytes (free)
//   32  tid     OS thread id of the thread that ran the event
//   36  cls     primitive class index (image order); memory: class of the primitive running on
//               that thread, kNoClass when none
//   38  kind    RecKind
//   39  nin     input arrays described in the side words
//   40  nout    output arrays described in the side words
//   41  flags   see above
//   42  nwords  side words of this record
//   44  woff    in the ring: primitive: the owner mark of its first output's node when it ran,
//               else of its first marked input (owners.h; 0: none, or marks are off), memory: 0;
//               once drained: the offset of the record's side words in the batch
struct Rec {
  uint64_t t0;
  uint64_t t1;
  uint64_t ident;
  int64_t value;
  uint32_t tid;
  uint16_t cls;
  uint8_t kind;
  uint8_t nin;
  uint8_t nout;
  uint8_t flags;
  uint16_t nwords;
  uint32_t woff;
};
static_assert(sizeof(Rec) == 48, "Rec must stay 48 bytes");

// Side words of a primitive: per array, outputs first then inputs,
//   word 0       header: bits 0-7 ndim, bits 8-15 dtype (MLX Dtype::Val), bits 16-23 itemsize,
//                bit 24 is-output, bits 25-31 zero
//   words 1, 2   ArrayDesc* low and high 32 bits (0, 0 for an array with no desc)
//   words 3..    ndim dims, one word each
constexpr int kMaxArraysIn = 16;
constexpr int kMaxArraysOut = 8;
constexpr int kMaxDims = 12;  // deeper shapes are cut to this many dims
constexpr int kMaxArrayWords = 3 + kMaxDims;

}  // namespace mlxtrace
