/**
 * Turns a drained batch of native records (48-byte records + a side table of shape words) into
 * plain events. Layout mirrors native/records.h; this is the only place that knows it.
 */
import { dtypeItemsize } from '../cost';
import { DTYPE_NAMES } from './native';
import type { Device, TensorInfo } from '../model/trace';
import { PRIM_FAST_SHIFT, PRIM_GPU, PRIM_TRUNCATED, registerSignature, type Signature } from './event-log';

export const RECORD_BYTES = 48;
const KIND_PRIM_CPU = 1;
const KIND_PRIM_GPU = 2;
const KIND_MALLOC = 3;
const KIND_FREE = 4;
const NO_CLASS = 0xffff;

export interface PrimitiveEvent {
  op: string;
  t0: number;
  t1: number;
  thread: number;
  device: Device;
  outputs: TensorInfo[];
  inputs: TensorInfo[];
  /** ArrayDesc* of each output and input (only when decoded with ids: tests and diagnostics). */
  outputIds: number[];
  inputIds: number[];
  /** Layer span id resolved by the hook layer's tag table, 0 when built outside any layer. */
  layerTag: number;
  truncated: boolean;
  /** The mx.fast function whose fallback graph built this op (FAST_FUNCTIONS index), 0 if none. */
  fast: number;
}

/** mx.fast functions the SDK marks (index = marker in the record's flags bits 1-3). */
export const FAST_FUNCTIONS = ['', 'rmsNorm', 'layerNorm', 'rope', 'scaledDotProductAttention'] as const;

export interface Batch {
  records: ArrayBuffer;
  words: ArrayBuffer;
  count: number;
  dropped: number;
  /** The drain's signature generation (native/signatures.h). */
  generation: number;
}


/**
 * One TensorInfo per distinct (dtype, itemsize, shape): a model repeats a few hundred shapes across
 * millions of events, so interning saves most of the decoding's allocations. A trie keyed by the
 * header word and then each dim; dropped and rebuilt if it ever grows past a bound.
 */
interface TrieNode {
  info?: TensorInfo;
  next?: Map<number, TrieNode>;
}
let trie = new Map<number, TrieNode>();
let trieSize = 0;
const TRIE_LIMIT = 200_000;

/** The tensor whose header word is key[p], its dims following (a signature key's layout). */
function tensorAt(key: Uint32Array, p: number): TensorInfo {
  const hdr = key[p];
  const ndim = hdr & 0xff;
  let node: TrieNode | undefined = trie.get(hdr);
  if (!node) trie.set(hdr, (node = {}));
  for (let d = 0; d < ndim; d++) {
    const dim = key[p + 1 + d];
    let next: TrieNode | undefined = node.next?.get(dim);
    if (!next) {
      (node.next ??= new Map()).set(dim, (next = {}));
      if (++trieSize > TRIE_LIMIT) {
        trie = new Map();
        trieSize = 0;
      }
    }
    node = next;
  }
  if (node.info) return node.info;
  const dtype = DTYPE_NAMES[(hdr >>> 8) & 0xff] ?? `dtype#${(hdr >>> 8) & 0xff}`;
  const item = (hdr >>> 16) & 0xff || dtypeItemsize(dtype) || 0;
  const shape = new Array<number>(ndim);
  let n = 1;
  for (let d = 0; d < ndim; d++) n *= shape[d] = key[p + 1 + d];
  // The info is frozen (spans share it); its shape array is not: reads of a frozen array's elements
  // cost the cost model more (V8 reads them slower), and a shared shape is no one's to change anyway.
  return (node.info = Object.freeze({ shape, dtype, bytes: n * item }));
}

/**
 * The batch as events, one object each (tests and diagnostics; the recorder uses decodeColumns).
 * With `withIds`, each primitive also carries the ArrayDesc* of its arrays.
 */
export function decodeBatch(
  batch: Batch,
  classes: string[],
  onPrimitive: (e: PrimitiveEvent) => void,
  onMemory: (t: number, delta: number, live: number, cls: number, thread: number) => void,
  withIds = false,
): void {
  const v = recordViews(batch.records, batch.words);
  useSignatureGeneration(batch.generation);
  const noIds: number[] = [];
  decodeColumns(
    v,
    batch.count,
    (cls, t0, t1, thread, flags, layerTag, sig, i) => {
      const outputIds: number[] = withIds ? [] : noIds;
      const inputIds: number[] = withIds ? [] : noIds;
      if (withIds) {
        const nout = sig.outputs.length;
        for (let k = 0, p = v.u32[i * 12 + 11]; k < nout + sig.inputs.length; k++) {
          (k < nout ? outputIds : inputIds).push(v.w[p + 1] + v.w[p + 2] * 4294967296);
          p += 3 + (v.w[p] & 0xff);
        }
      }
      onPrimitive({
        op: classes[cls] ?? `class#${cls}`,
        t0,
        t1,
        thread,
        device: flags & PRIM_GPU ? 'gpu' : 'cpu',
        outputs: sig.outputs,
        inputs: sig.inputs,
        outputIds,
        inputIds,
        layerTag,
        truncated: (flags & PRIM_TRUNCATED) !== 0,
        fast: flags >> PRIM_FAST_SHIFT,
      });
    },
    onMemory,
  );
}

/**
 * One Signature per distinct list of (dtype, itemsize, shape) of a record's outputs then inputs,
 * found by a hash of the record's words and checked word by word: a few hundred signatures cover
 * millions of primitives, and a hit allocates nothing.
 */
/** A Signature as decoding interns it, with its registerSignature() number. */
export interface InternedSignature extends Signature {
  readonly id: number;
}

interface SigEntry extends InternedSignature {
  id: number;
  key: Uint32Array;
  next: SigEntry | null;
}
let sigs = new Map<number, SigEntry>();
const SIG_LIMIT = 100_000;
/** The longest signature key: counts, then per array (16 inputs, 8 outputs) its header and 12 dims. */
const SIGNATURE_KEY_WORDS = 1 + (16 + 8) * 13;
const sigKey = new Uint32Array(SIGNATURE_KEY_WORDS);

/**
 * The signature of class `cls` last seen, tried first: an op class mostly repeats its shapes (the
 * same layer, step after step), and comparing the words costs less than hashing them and probing
 * the map.
 */
const lastByClass: (SigEntry | undefined)[] = [];

/**
 * Signatures by the number the drain gave them (native/signatures.h), for the generation
 * `numbersOf`: a record whose number is known costs one array read here.
 */
let byNumber: (SigEntry | undefined)[] = [];
let numbersOf = -1;
/** A record the drain could not number. */
const NO_NUMBER = 0xffffffff;

/** The drain's signature generation of the batch about to be decoded: numbers of another one are void. */
export function useSignatureGeneration(generation: number): void {
  if (generation !== numbersOf) {
    byNumber = [];
    numbersOf = generation;
  }
}

function numberedSignature(num: number, w: Uint32Array, p: number, nin: number, nout: number, cls: number): SigEntry {
  if (num === NO_NUMBER) return signatureOf(w, p, nin, nout, cls);
  const known = byNumber[num];
  if (known !== undefined) return known;
  // Numbers come dense from 0: the array stays packed unless a batch starts mid-generation.
  return (byNumber[num] = signatureOf(w, p, nin, nout, cls));
}

function signatureOf(w: Uint32Array, p: number, nin: number, nout: number, cls: number): SigEntry {
  const last = lastByClass[cls];
  if (last !== undefined && sameSignature(last.key, w, p, nin, nout)) return last;
  return (lastByClass[cls] = signatureAt(w, p, nin, nout));
}

/** Whether the words at p hold the signature `key` (counts, then each array's header and dims). */
function sameSignature(key: Uint32Array, w: Uint32Array, p: number, nin: number, nout: number): boolean {
  if (key[0] !== (nin | (nout << 8))) return false;
  let n = 1;
  for (let k = 0; k < nin + nout; k++) {
    const hdr = w[p] & 0x00ffffff;
    if (key[n++] !== hdr) return false;
    const ndim = hdr & 0xff;
    for (let d = 0; d < ndim; d++) if (key[n++] !== w[p + 3 + d]) return false;
    p += 3 + ndim;
  }
  return n === key.length;
}

function signatureAt(w: Uint32Array, p: number, nin: number, nout: number): SigEntry {
  // The key: counts, then per array its header (is-output bit dropped) and dims; the words in
  // between (the ArrayDesc pointer) differ per call and are left out.
  let n = 0;
  sigKey[n++] = nin | (nout << 8);
  for (let k = 0; k < nin + nout; k++) {
    const hdr = w[p] & 0x00ffffff;
    const ndim = hdr & 0xff;
    sigKey[n++] = hdr;
    for (let d = 0; d < ndim; d++) sigKey[n++] = w[p + 3 + d];
    p += 3 + ndim;
  }
  return internKey(sigKey, n);
}

/** The signature of key[0..n) (signatureAt's layout, which is also the drain's: signatures.h), made once. */
function internKey(key: Uint32Array, n: number): SigEntry {
  const counts = key[0];
  const arrays = (counts & 0xff) + ((counts >>> 8) & 0xff);
  let h = counts;
  for (let k = 0, p = 1; k < arrays && p < n; k++) {
    const hdr = key[p++];
    h = Math.imul(h ^ hdr, 0x9e3779b1);
    for (let d = hdr & 0xff; d > 0; d--) h = Math.imul(h ^ key[p++], 0x85ebca6b);
  }
  h ^= h >>> 15;
  for (let e: SigEntry | null = sigs.get(h) ?? null; e; e = e.next) {
    const known = e.key;
    if (known.length !== n) continue;
    let same = true;
    for (let i = 0; i < n; i++) {
      if (known[i] !== key[i]) {
        same = false;
        break;
      }
    }
    if (same) return e;
  }
  return newSignature(key.slice(0, n), h);
}

function newSignature(key: Uint32Array, h: number): SigEntry {
  if (sigs.size >= SIG_LIMIT) sigs = new Map();
  const nin = key[0] & 0xff;
  const nout = (key[0] >>> 8) & 0xff;
  const outputs: TensorInfo[] = new Array(nout);
  const inputs: TensorInfo[] = new Array(nin);
  for (let k = 0, p = 1; k < nin + nout && p < key.length; k++) {
    const t = tensorAt(key, p);
    if (k < nout) outputs[k] = t;
    else inputs[k - nout] = t;
    p += 1 + (key[p] & 0xff);
  }
  const e: SigEntry = {
    // Shared by every span of this signature, and not frozen: V8 reads a frozen array's elements
    // slower (the cost model reads them per span), and the trace model asks readers not to write.
    inputs,
    outputs,
    id: -1,
    key,
    next: sigs.get(h) ?? null,
  };
  e.id = registerSignature(e);
  sigs.set(h, e);
  return e;
}

const numberKey = new Uint32Array(SIGNATURE_KEY_WORDS);
/** The signature of a primitive the drain could not describe: no arrays. */
let unknownSignature: SigEntry | undefined;

/**
 * The Signature of the drain's signature number `num` (of the generation last passed to
 * useSignatureGeneration), asking `keyOf` for its key words the first time a number is seen.
 */
export function signatureOfNumber(num: number, keyOf: (num: number, out: Uint32Array) => number): InternedSignature {
  const known = byNumber[num];
  if (known !== undefined) return known;
  const n = num === NO_NUMBER ? 0 : keyOf(num, numberKey);
  if (n === 0 || n > numberKey.length) return (unknownSignature ??= internKey(new Uint32Array(1), 1));
  // Numbers come dense from 0: the array stays packed unless a batch starts mid-generation.
  return (byNumber[num] = internKey(numberKey, n));
}

/** Typed-array views of records and their words: u32 index 12*i + k is byte 48*i + 4*k of record i. */
export interface RecordViews {
  u32: Uint32Array;
  i32: Int32Array;
  u16: Uint16Array;
  u8: Uint8Array;
  w: Uint32Array;
}

function recordViews(records: ArrayBuffer, words: ArrayBuffer): RecordViews {
  return { u32: new Uint32Array(records), i32: new Int32Array(records), u16: new Uint16Array(records), u8: new Uint8Array(records), w: new Uint32Array(words) };
}

/**
 * Walks a batch of 48-byte records through typed-array views, one callback per event (decodeBatch's
 * core; the recorder has the native drain write its columns instead). A primitive's flags carry its
 * device, the truncated bit and its mx.fast marker (event-log.ts PRIM_*).
 */
function decodeColumns(
  v: RecordViews,
  count: number,
  onPrimitive: (cls: number, t0: number, t1: number, thread: number, flags: number, layerTag: number, sig: InternedSignature, index: number) => void,
  onMemory: (t: number, delta: number, live: number, cls: number, thread: number) => void,
): void {
  const { u32, i32, u16, u8, w } = v;
  for (let i = 0; i < count; i++) {
    const q = i * 12; // u32 index of the record
    const kind = u8[q * 4 + 38];
    const cls = u16[q * 2 + 18];
    const t0 = u32[q] + u32[q + 1] * 4294967296;
    if (kind === KIND_MALLOC || kind === KIND_FREE) {
      onMemory(t0, u32[q + 6] + i32[q + 7] * 4294967296, u32[q + 4] + u32[q + 5] * 4294967296, cls === NO_CLASS ? -1 : cls, u32[q + 8]);
      continue;
    }
    if (kind !== KIND_PRIM_CPU && kind !== KIND_PRIM_GPU) continue;
    const raw = u8[q * 4 + 41];
    const flags = (kind === KIND_PRIM_GPU ? PRIM_GPU : 0) | (raw & 1 ? PRIM_TRUNCATED : 0) | (((raw >> 1) & 7) << PRIM_FAST_SHIFT);
    onPrimitive(
      cls,
      t0,
      u32[q + 2] + u32[q + 3] * 4294967296,
      u32[q + 8],
      flags,
      u32[q + 6] + i32[q + 7] * 4294967296,
      numberedSignature(u32[q + 4], w, u32[q + 11], u8[q * 4 + 39], u8[q * 4 + 40], cls),
      i,
    );
  }
}
