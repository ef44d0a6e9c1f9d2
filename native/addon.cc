// N-API glue of the hook layer: argument and result conversion only. Everything here runs on a JS
// thread; the hot path is in hooks.cc and alloc-hooks.cc.
#include <napi.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "alloc-hooks.h"
#include "clock.h"
#include "drain.h"
#include "hooks.h"
#include "image.h"
#include "layout.h"
#include "ring.h"
#include "selftest.h"
#include "session.h"
#include "signatures.h"
#include "tags.h"
#include "wrap-hook.h"

namespace mlxtrace {
namespace {

const void* env_key(const Napi::CallbackInfo& info) { return static_cast<napi_env>(info.Env()); }

const void* unwrap_array(Napi::Env env, Napi::Value v) {
  void* p = nullptr;
  if (!v.IsObject() || napi_unwrap(env, v, &p) != napi_ok || !p) return nullptr;
  return p;
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string err = session_open(env_key(info), path);
  if (!err.empty()) {
    r.Set("ok", false);
    r.Set("reason", err);
    return r;
  }
  r.Set("ok", true);
  const MlxImage& img = *session_image();
  Napi::Array names = Napi::Array::New(env, img.classes.size());
  for (size_t i = 0; i < img.classes.size(); i++) names.Set(uint32_t(i), img.classes[i].name);
  r.Set("classes", names);
  r.Set("cpuSlot", img.cpu_slot);
  r.Set("gpuSlot", img.gpu_slot);
  r.Set("memory", img.malloc_slot >= 0 && img.free_slot >= 0);
  return r;
}

Napi::Value Attach(const Napi::CallbackInfo& info) {
  bool memory = info.Length() > 0 && info[0].ToBoolean();
  return Napi::String::New(info.Env(), session_attach(env_key(info), memory));
}

Napi::Value Detach(const Napi::CallbackInfo& info) {
  session_detach(env_key(info));
  return info.Env().Undefined();
}

// The BuildState JS writes (on, layer, epoch, fast) and reads (tagged), as an ArrayBuffer over it; null
// unless this environment holds the tag tables.
Napi::Value BuildStateBuffer(const Napi::CallbackInfo& info) {
  if (!session_tagging(env_key(info), false)) return info.Env().Null();
  return Napi::ArrayBuffer::New(info.Env(), &g_build, sizeof(g_build));
}

// learnArrayWrap(makeArray): calls makeArray() while watching napi_wrap, and keeps the finalizer of
// the wrap whose native object is the array it returned. True when arrays can be tagged as made.
Napi::Value LearnArrayWrap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!wrap_hook_installed() || !session_tagging(env_key(info), false)) return Napi::Boolean::New(env, false);
  learn_begin();
  Napi::Value v = info[0].As<Napi::Function>().Call({});
  const void* a = env.IsExceptionPending() ? nullptr : unwrap_array(env, v);
  return Napi::Boolean::New(env, learn_end(a) && a != nullptr);
}

Napi::Value SetRecording(const Napi::CallbackInfo& info) {
  session_set_recording(env_key(info), info[0].ToBoolean());
  return info.Env().Undefined();
}

Napi::Value SetCapacity(const Napi::CallbackInfo& info) {
  set_buffer_capacity(uint64_t(info[0].As<Napi::Number>().Int64Value()),
                      uint64_t(info[1].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

// drain(): everything in two new ArrayBuffers (tests and diagnostics).
Napi::Value Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t nrec = 0, nword = 0;
  pending_counts(env_key(info), nrec, nword);
  // Records finished while we copy wait for the next drain.
  std::vector<Rec> recs(nrec);
  std::vector<uint32_t> words(nword);
  DrainOut o = drain_into(env_key(info), recs.data(), nrec, words.data(), nword);
  Napi::Object r = Napi::Object::New(env);
  auto rb = Napi::ArrayBuffer::New(env, o.nrec * sizeof(Rec));
  if (o.nrec) memcpy(rb.Data(), recs.data(), o.nrec * sizeof(Rec));
  auto wb = Napi::ArrayBuffer::New(env, o.nword * 4);
  if (o.nword) memcpy(wb.Data(), words.data(), o.nword * 4);
  r.Set("records", rb);
  r.Set("words", wb);
  r.Set("count", double(o.nrec));
  r.Set("dropped", double(o.dropped));
  r.Set("generation", double(o.generation));
  return r;
}

template <class T>
T* column(const Napi::Value& v, size_t& len) {
  auto a = v.As<Napi::TypedArray>();
  len = a.ElementLength();
  return reinterpret_cast<T*>(static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset());
}

// The columns a JS thread's drains write into, bound once by bindColumns and kept until bound
// again: looking up thirteen typed arrays through N-API costs more than an empty drain's own work.
// The references keep the arrays (and so their memory) alive while bound; the SDK never transfers
// or detaches them (a drain would write into memory that is gone).
struct BoundColumns {
  Columns c{};
  Napi::ObjectReference prim, mem, syncs;
  bool ok = false;
};

BoundColumns& bound_columns(Napi::Env env) {
  auto* b = env.GetInstanceData<BoundColumns>();
  if (!b) {
    b = new BoundColumns();
    env.SetInstanceData(b);
  }
  return *b;
}

// bindColumns(prim, mem, syncs): the SDK's columns (drain.h Columns) that drainColumns writes into
// from now on, in this JS thread; bound again whenever the SDK replaces them (growing, a new window).
//   prim  [t0, t1, layer (Float64Array), thread (Int32Array), cls (Uint16Array), flags (Uint8Array),
//         sig (Uint32Array)], equally long
//   mem   [t, delta, live (Float64Array), cls (Int16Array)], equally long
//   syncs Float64Array, [row, t0, t1] per completion marker
Napi::Value BindColumns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto prim = info[0].As<Napi::Array>();
  auto mem = info[1].As<Napi::Array>();
  if (!info[0].IsArray() || !info[1].IsArray() || prim.Length() != 7 || mem.Length() != 4 || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "bindColumns: needs 7 primitive columns, 4 memory columns and a markers array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  BoundColumns& b = bound_columns(env);
  Columns& c = b.c;
  c = Columns{};
  size_t len[7], mlen[4], slen = 0;
  c.prim.t0 = column<double>(prim[0u], len[0]);
  c.prim.t1 = column<double>(prim[1u], len[1]);
  c.prim.layer = column<double>(prim[2u], len[2]);
  c.prim.thread = column<int32_t>(prim[3u], len[3]);
  c.prim.cls = column<uint16_t>(prim[4u], len[4]);
  c.prim.flags = column<uint8_t>(prim[5u], len[5]);
  c.prim.sig = column<uint32_t>(prim[6u], len[6]);
  c.mem.t = column<double>(mem[0u], mlen[0]);
  c.mem.delta = column<double>(mem[1u], mlen[1]);
  c.mem.live = column<double>(mem[2u], mlen[2]);
  c.mem.cls = column<int16_t>(mem[3u], mlen[3]);
  c.syncs = column<double>(info[2], slen);
  c.prim.cap = *std::min_element(len, len + 7);
  c.mem.cap = *std::min_element(mlen, mlen + 4);
  c.sync_cap = slen / 3;
  b.prim = Napi::Persistent(prim.As<Napi::Object>());
  b.mem = Napi::Persistent(mem.As<Napi::Object>());
  b.syncs = Napi::Persistent(info[2].As<Napi::Object>());
  b.ok = true;
  return env.Undefined();
}

// drainColumns(io): drains into the columns bound last (bindColumns), so a drain allocates nothing.
//   io    Float64Array(12): in [0] prim rows, [1] prim limit, [2] mem rows, [3] mem limit,
//         [4] completion marker class; out [5] prim rows, [6] mem rows, [7] markers, [8] records
//         dropped (rings, queues, past the prim limit), [9] memory rows past their limit,
//         [10] more (1: call again), [11] signature generation
Napi::Value DrainColumns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  BoundColumns& b = bound_columns(env);
  if (!b.ok || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "drainColumns: needs io of 12, with columns bound first (bindColumns)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t ilen = 0;
  double* io = column<double>(info[0], ilen);
  if (ilen < 12) {
    Napi::TypeError::New(env, "drainColumns: needs io of 12").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Columns c = b.c;
  c.prim.n = size_t(io[0]);
  c.prim.limit = size_t(io[1]);
  c.mem.n = size_t(io[2]);
  c.mem.limit = size_t(io[3]);
  c.sync_cls = uint32_t(io[4]);
  if (c.prim.n > c.prim.cap || c.mem.n > c.mem.cap) {
    Napi::RangeError::New(env, "drainColumns: rows past the columns' length").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  DrainOut o = drain_columns(env_key(info), c);
  io[5] = double(c.prim.n);
  io[6] = double(c.mem.n);
  io[7] = double(c.nsync);
  io[8] = double(o.dropped + c.prim.dropped);
  io[9] = double(c.mem.dropped);
  io[10] = o.more ? 1 : 0;
  io[11] = double(o.generation);
  return env.Undefined();
}

// signatureKey(num, out Uint32Array): the key words of signature `num` (signatures.h), copied into
// out when they fit; returns their count, 0 for an unknown number.
Napi::Value SignatureKey(const Napi::CallbackInfo& info) {
  size_t cap = 0;
  uint32_t* out = column<uint32_t>(info[1], cap);
  std::lock_guard<std::mutex> lk(session_mutex());
  return Napi::Number::New(info.Env(), signature_key(uint32_t(info[0].As<Napi::Number>().Uint32Value()), out, uint32_t(cap)));
}

Napi::Value Snapshot(const Napi::CallbackInfo& info) {
  const MlxImage* img = session_image();
  std::vector<uint64_t> s = img ? slot_snapshot(*img) : std::vector<uint64_t>{};
  return Napi::Buffer<uint8_t>::Copy(info.Env(), reinterpret_cast<uint8_t*>(s.data()), s.size() * 8);
}

// What the layout says about one JS array, for the self-probe to compare with what JS sees.
Napi::Value Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const void* arr = unwrap_array(env, info[0]);
  if (!arr) return env.Null();
  const uint8_t* d = static_cast<const uint8_t*>(desc_of(arr));
  Napi::Object r = Napi::Object::New(env);
  r.Set("desc", double(reinterpret_cast<uintptr_t>(d)));
  if (!d) return r;
  VecView sh = vec_at(d, g_layout.shape);
  long nd = (sh.end - sh.begin) / long(sizeof(int));
  Napi::Array shape = Napi::Array::New(env);
  if (nd >= 0 && nd <= 32)
    for (long i = 0; i < nd; i++) shape.Set(uint32_t(i), reinterpret_cast<const int*>(sh.begin)[i]);
  r.Set("shape", shape);
  r.Set("size", double(*reinterpret_cast<const size_t*>(d + g_layout.size)));
  r.Set("dtype", *reinterpret_cast<const uint32_t*>(d + g_layout.dtype) & 0xFF);
  r.Set("itemsize", uint32_t(*(d + g_layout.dtype + 4)));
  r.Set("hasPrimitive", *reinterpret_cast<void* const*>(d + g_layout.primitive) != nullptr);
  r.Set("status", *reinterpret_cast<const uint32_t*>(d + g_layout.status));
  VecView in = vec_at(d, g_layout.inputs);
  long nin = (in.end - in.begin) / long(g_layout.array_size);
  Napi::Array inputs = Napi::Array::New(env);
  if (nin >= 0 && nin <= 1024)
    for (long i = 0; i < nin; i++)
      inputs.Set(uint32_t(i), double(reinterpret_cast<uintptr_t>(desc_of(in.begin + i * g_layout.array_size))));
  r.Set("inputs", inputs);
  return r;
}

// tagGraph(arrays, tag, epoch, stops?, fast?): tags every node reachable from `arrays` that no eval
// has taken (stopping at nodes already tagged in this epoch) with `tag`. Called, when arrays are
// not tagged as node-mlx makes them, as a layer's forward returns (its outputs) and begins (its
// arguments, tagged for the caller), so each node ends up with the innermost layer that built it;
// and after an mx.fast call, with its inputs as `stops` and its function as `fast`, so exactly its
// fallback graph gets that mark.
Napi::Value TagGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array roots = info[0].As<Napi::Array>();
  uint32_t tag = info[1].As<Napi::Number>().Uint32Value();
  uint32_t epoch = info[2].As<Napi::Number>().Uint32Value();
  // The tag table belongs to one thread (session.h); another thread's layers go untagged.
  if (!session_tagging(env_key(info), true)) return Napi::Number::New(env, 0);
  const uint8_t* stops[8] = {};
  int nstops = 0;
  if (info.Length() > 3 && info[3].IsArray()) {
    Napi::Array st = info[3].As<Napi::Array>();
    for (uint32_t i = 0; i < st.Length() && nstops < 8; i++) {
      const void* a = unwrap_array(env, st.Get(i));
      if (a && desc_of(a)) stops[nstops++] = static_cast<const uint8_t*>(desc_of(a));
    }
  }
  const uint32_t fast = info.Length() > 4 ? info[4].As<Napi::Number>().Uint32Value() & 7 : 0;
  std::vector<const uint8_t*>& roots_out = walk_stack();
  roots_out.clear();
  for (uint32_t i = 0; i < roots.Length(); i++) {
    const void* a = unwrap_array(env, roots.Get(i));
    if (a && desc_of(a)) roots_out.push_back(static_cast<const uint8_t*>(desc_of(a)));
  }
  const uint32_t tagged = tag_walk(tag, epoch, fast, stops, nstops, stamp());
  return Napi::Number::New(env, tagged);
}

// Raw words of an array's ArrayDesc, for diagnosing a layout the probe refused.
Napi::Value PeekDesc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const void* arr = unwrap_array(env, info[0]);
  uint32_t n = info[1].As<Napi::Number>().Uint32Value();
  Napi::Array out = Napi::Array::New(env);
  const uint64_t* d = arr ? static_cast<const uint64_t*>(desc_of(arr)) : nullptr;
  for (uint32_t i = 0; d && i < n && i < 64; i++) out.Set(i, double(d[i]));
  return out;
}

Napi::Value BenchHook(const Napi::CallbackInfo& info) {
  uint64_t n = uint64_t(info[0].As<Napi::Number>().Int64Value());
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("primitiveNs", bench_hook(n));
  r.Set("allocPairNs", bench_alloc(n));
  return r;
}

Napi::Value CheckTagTable(const Napi::CallbackInfo& info) {
  const TagTableCheck c = check_tag_table(info[0].As<Napi::Number>().Uint32Value());
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("checks", double(c.checks));
  r.Set("wrong", double(c.wrong));
  r.Set("evicted", double(c.evicted));
  return r;
}

Napi::Value Now(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(now_ns())); }

// This thread's clock cell, which nowInto() fills with CLOCK_MONOTONIC ns: a double returned through
// N-API is a new heap number per call, and a decode loop reads the clock twice per layer call.
thread_local double t_now_cell = 0;
Napi::Value NowCell(const Napi::CallbackInfo& info) { return Napi::ArrayBuffer::New(info.Env(), &t_now_cell, sizeof(t_now_cell)); }
Napi::Value NowInto(const Napi::CallbackInfo& info) {
  t_now_cell = double(now_ns());
  return info.Env().Undefined();
}
Napi::Value Tid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(syscall(SYS_gettid))); }

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("liveBytes", double(live_bytes()));
  r.Set("untrackedFrees", double(untracked_frees()));
  r.Set("tagEvictions", double(g_tags.evicted));
  r.Set("tagTableBytes", double(g_tags.bytes()));
  r.Set("wrapHook", wrap_hook_installed() && array_wrap_known() && session_tagging(env_key(info), false));
  r.Set("builtTagged", double(g_build.tagged));
  r.Set("attached", attached());
  r.Set("recording", g_recording.load());
  r.Set("threads", buffer_count());
  r.Set("recordBytes", double(sizeof(Rec)));
  r.Set("clock", g_use_tsc ? "tsc" : "clock_gettime");
  return r;
}

Napi::Value GetLayout(const Napi::CallbackInfo& info) {
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("arraySize", double(g_layout.array_size));
  r.Set("shape", double(g_layout.shape));
  r.Set("size", double(g_layout.size));
  r.Set("dtype", double(g_layout.dtype));
  r.Set("primitive", double(g_layout.primitive));
  r.Set("status", double(g_layout.status));
  r.Set("inputs", double(g_layout.inputs));
  return r;
}

// For tests of the probe: a deliberately wrong layout must be refused.
Napi::Value SetLayout(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  auto get = [&](const char* k, size_t& f) {
    if (o.Has(k)) f = size_t(o.Get(k).As<Napi::Number>().Int64Value());
  };
  get("arraySize", g_layout.array_size);
  get("shape", g_layout.shape);
  get("size", g_layout.size);
  get("dtype", g_layout.dtype);
  get("primitive", g_layout.primitive);
  get("status", g_layout.status);
  get("inputs", g_layout.inputs);
  return info.Env().Undefined();
}

}  // namespace

Napi::Value WatchSignals(const Napi::CallbackInfo& info);  // signals.cc

// The environment is going away (a worker's exit or terminate(), or the process's): release what
// it holds, so nothing left behind points into it.
void OnEnvExit(void* env) { session_env_exit(env); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (session_env_enter(static_cast<napi_env>(env))) napi_add_env_cleanup_hook(env, OnEnvExit, static_cast<napi_env>(env));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("attach", Napi::Function::New(env, Attach));
  exports.Set("detach", Napi::Function::New(env, Detach));
  exports.Set("setRecording", Napi::Function::New(env, SetRecording));
  exports.Set("setCapacity", Napi::Function::New(env, SetCapacity));
  exports.Set("drain", Napi::Function::New(env, Drain));
  exports.Set("bindColumns", Napi::Function::New(env, BindColumns));
  exports.Set("drainColumns", Napi::Function::New(env, DrainColumns));
  exports.Set("signatureKey", Napi::Function::New(env, SignatureKey));
  exports.Set("snapshot", Napi::Function::New(env, Snapshot));
  exports.Set("inspect", Napi::Function::New(env, Inspect));
  exports.Set("tagGraph", Napi::Function::New(env, TagGraph));
  exports.Set("buildState", Napi::Function::New(env, BuildStateBuffer));
  exports.Set("learnArrayWrap", Napi::Function::New(env, LearnArrayWrap));
  exports.Set("peekDesc", Napi::Function::New(env, PeekDesc));
  exports.Set("benchHook", Napi::Function::New(env, BenchHook));
  exports.Set("checkTagTable", Napi::Function::New(env, CheckTagTable));
  exports.Set("now", Napi::Function::New(env, Now));
  exports.Set("nowCell", Napi::Function::New(env, NowCell));
  exports.Set("nowInto", Napi::Function::New(env, NowInto));
  exports.Set("tid", Napi::Function::New(env, Tid));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("getLayout", Napi::Function::New(env, GetLayout));
  exports.Set("setLayout", Napi::Function::New(env, SetLayout));
  exports.Set("watchSignals", Napi::Function::New(env, WatchSignals));
  return exports;
}

}  // namespace mlxtrace

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return mlxtrace::Init(env, exports); }
NODE_API_MODULE(mlx_trace, InitModule)
