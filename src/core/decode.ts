/**
 * Turns a drained batch of native records (48-byte records + a side table of shape words) into
 * plain events. Layout mirrors native/records.h; this is the only place that knows it.
 */
import { DTYPE_NAMES } from './native';
import type { Device, TensorInfo } from './trace';

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
}

const ITEM_BYTES: Record<string, number> = {};
for (const n of DTYPE_NAMES) ITEM_BYTES[n] = n === 'bool' || n.endsWith('8') ? 1 : n.endsWith('16') ? 2 : n.endsWith('64') ? 8 : 4;

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

function tensorAt(w: Uint32Array, p: number): TensorInfo {
  const hdr = w[p] & 0x00ffffff; // drop the is-output bit: same tensor either way
  const ndim = hdr & 0xff;
  let node: TrieNode | undefined = trie.get(hdr);
  if (!node) trie.set(hdr, (node = {}));
  for (let d = 0; d < ndim; d++) {
    const dim = w[p + 3 + d];
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
  const item = (hdr >>> 16) & 0xff || ITEM_BYTES[dtype] || 0;
  const shape = new Array<number>(ndim);
  let n = 1;
  for (let d = 0; d < ndim; d++) n *= shape[d] = w[p + 3 + d];
  return (node.info = Object.freeze({ shape: Object.freeze(shape) as number[], dtype, bytes: n * item }));
}

export function decodeBatch(
  batch: Batch,
  classes: string[],
  onPrimitive: (e: PrimitiveEvent) => void,
  onMemory: (t: number, delta: number, live: number, cls: number, thread: number) => void,
  withIds = false,
): void {
  const dv = new DataView(batch.records);
  const w = new Uint32Array(batch.words);
  const u64 = (o: number) => dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 4294967296;
  const i64 = (o: number) => dv.getUint32(o, true) + dv.getInt32(o + 4, true) * 4294967296;
  const noIds: number[] = [];
  for (let i = 0; i < batch.count; i++) {
    const o = i * RECORD_BYTES;
    const kind = dv.getUint8(o + 38);
    const cls = dv.getUint16(o + 36, true);
    const thread = dv.getUint32(o + 32, true);
    if (kind === KIND_MALLOC || kind === KIND_FREE) {
      onMemory(u64(o), i64(o + 24), u64(o + 16), cls === NO_CLASS ? -1 : cls, thread);
      continue;
    }
    if (kind !== KIND_PRIM_CPU && kind !== KIND_PRIM_GPU) continue;
    const nin = dv.getUint8(o + 39);
    const nout = dv.getUint8(o + 40);
    let p = dv.getUint32(o + 44, true);
    const outputs: TensorInfo[] = new Array(nout);
    const inputs: TensorInfo[] = new Array(nin);
    const outputIds: number[] = withIds ? [] : noIds;
    const inputIds: number[] = withIds ? [] : noIds;
    for (let k = 0; k < nin + nout; k++) {
      if (k < nout) outputs[k] = tensorAt(w, p);
      else inputs[k - nout] = tensorAt(w, p);
      if (withIds) (k < nout ? outputIds : inputIds).push(w[p + 1] + w[p + 2] * 4294967296);
      p += 3 + (w[p] & 0xff);
    }
    onPrimitive({
      op: classes[cls] ?? `class#${cls}`,
      t0: u64(o),
      t1: u64(o + 8),
      thread,
      device: kind === KIND_PRIM_GPU ? 'gpu' : 'cpu',
      outputs,
      inputs,
      outputIds,
      inputIds,
      layerTag: i64(o + 24),
      truncated: (dv.getUint8(o + 41) & 1) !== 0,
      fast: (dv.getUint8(o + 41) >> 1) & 7,
    });
  }
}
