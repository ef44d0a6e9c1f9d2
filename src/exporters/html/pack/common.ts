/** Small pieces every part of the packer uses: string interning, typed-column choice and tolerant field readers. */
import type { ColumnDesc, ColumnType } from '../format';

export interface PackedColumn {
  desc: ColumnDesc;
  data: Float64Array | Float32Array | Uint32Array | Uint16Array | Uint8Array;
}

/** Appends a column in the order the report lists them. */
export type AddColumn = (id: string, type: ColumnType, data: PackedColumn['data']) => void;

/** Strings by first appearance; the report's head.strings is this list, columns hold the ids. */
export class Interner {
  readonly list: string[] = [];
  private readonly ids = new Map<string, number>();
  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.list.length;
      this.list.push(s);
      this.ids.set(s, id);
    }
    return id;
  }
}

/** The narrowest unsigned column that holds values up to max. */
export function uintColumn(max: number, length: number): { type: ColumnType; data: Uint8Array | Uint16Array | Uint32Array } {
  if (max < 256) return { type: 'u8', data: new Uint8Array(length) };
  if (max < 65536) return { type: 'u16', data: new Uint16Array(length) };
  return { type: 'u32', data: new Uint32Array(length) };
}

export const finiteNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

export function num(x: unknown): number | null {
  return finiteNum(x) ? x : null;
}

export function str(x: unknown, fallback = ''): string {
  return typeof x === 'string' ? x : x == null ? fallback : String(x);
}
