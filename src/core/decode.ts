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
  /** ArrayDesc* of each output: the identity that links the op to the layer that built it. */
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

export interface MemoryRecord {
  t: number;
  delta: number;
  live: number;
  op: string | null;
  thread: number;
}

export interface Batch {
  records: ArrayBuffer;
  words: ArrayBuffer;
  count: number;
  dropped: number;
}

const ITEM_BYTES: Record<string, number> = {};
for (const n of DTYPE_NAMES) ITEM_BYTES[n] = n === 'bool' || n.endsWith('8') ? 1 : n.endsWith('16') ? 2 : n.endsWith('64') ? 8 : 4;

export function decodeBatch(
  batch: Batch,
  classes: string[],
  onPrimitive: (e: PrimitiveEvent) => void,
  onMemory: (m: MemoryRecord) => void,
): void {
  const dv = new DataView(batch.records);
  const w = new Uint32Array(batch.words);
  const u64 = (o: number) => dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 4294967296;
  for (let i = 0; i < batch.count; i++) {
    const o = i * RECORD_BYTES;
    const kind = dv.getUint8(o + 38);
    const cls = dv.getUint16(o + 36, true);
    const thread = dv.getUint32(o + 32, true);
    if (kind === KIND_MALLOC || kind === KIND_FREE) {
      onMemory({
        t: u64(o),
        delta: Number(dv.getBigInt64(o + 24, true)),
        live: u64(o + 16),
        op: cls === NO_CLASS ? null : classes[cls] ?? null,
        thread,
      });
      continue;
    }
    if (kind !== KIND_PRIM_CPU && kind !== KIND_PRIM_GPU) continue;
    const nin = dv.getUint8(o + 39);
    const nout = dv.getUint8(o + 40);
    let p = dv.getUint32(o + 44, true);
    const outputs: TensorInfo[] = [];
    const inputs: TensorInfo[] = [];
    const outputIds: number[] = [];
    const inputIds: number[] = [];
    for (let k = 0; k < nin + nout; k++) {
      const hdr = w[p];
      const ndim = hdr & 0xff;
      const dtype = DTYPE_NAMES[(hdr >>> 8) & 0xff] ?? `dtype#${(hdr >>> 8) & 0xff}`;
      const item = (hdr >>> 16) & 0xff || ITEM_BYTES[dtype] || 0;
      const id = w[p + 1] + w[p + 2] * 4294967296;
      const shape = new Array<number>(ndim);
      let n = 1;
      for (let d = 0; d < ndim; d++) n *= shape[d] = w[p + 3 + d];
      p += 3 + ndim;
      const t: TensorInfo = { shape, dtype, bytes: n * item };
      if (k < nout) {
        outputs.push(t);
        outputIds.push(id);
      } else {
        inputs.push(t);
        inputIds.push(id);
      }
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
      layerTag: Number(dv.getBigInt64(o + 24, true)),
      truncated: (dv.getUint8(o + 41) & 1) !== 0,
      fast: (dv.getUint8(o + 41) >> 1) & 7,
    });
  }
}
