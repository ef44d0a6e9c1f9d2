/**
 * The .mlxtrace format: the spec of the binary layout of saved traces and its constants, nothing
 * else (encoder.ts and column-source.ts write it, decoder.ts reads it, packing.ts holds the column
 * arithmetic both sides share).
 *
 * The binary layout of saved traces (.mlxtrace): the trace's header as JSON, then spans and memory
 * events in blocks of packed columns, written from and read into typed arrays with no text step.
 *
 *   file   = "MLXTRACE" (8 bytes), layout version u32 (1), reserved u32 (0), block, block, ...
 *   block  = type u32, count u32, length u32 (bytes of payload, before padding),
 *            CRC-32 u32 (of the block's first 12 bytes, then of its payload),
 *            payload, zero bytes up to a multiple of 8
 *
 * Every block is self-contained: its head carries its length and a CRC-32 of head and payload, and a
 * definitions block precedes the first block that uses a new string, tensor or list; a writer
 * appends blocks one after another (BinaryEncoder: begin, spans/memory, end).
 *
 * Numbers are little-endian; blocks and columns start at multiples of 8, so typed arrays view them
 * where they were read. Blocks are numbered from 0 in file order (in error messages too):
 *
 *   1 header       first, once; count 0. UTF-8 JSON {"spans":S,"memory":M,"trace":{...}}: S spans
 *                  and M memory events follow, and "trace" holds every top-level key of the trace
 *                  except spans and memory (schema, name, meta, dropped, counters, ...).
 *   2 definitions  strings, tensors and tensor lists used for the first time by the next block; count
 *                  = how many. UTF-8 JSON {"strings":[...],"tensors":[{shape,dtype,bytes},...],
 *                  "lists":[[tensor number, ...], ...]}. Each kind is numbered from 0 in order of
 *                  first appearance, on from the blocks before; one string table serves every field.
 *   3 spans        count n (at most 65536) spans in 14 columns: the values id, parentId, start, end,
 *                  thread, flops, bytes, layerId, then the numbers kind, name, device, layer (strings)
 *                  and inputs, outputs (tensor lists).
 *   4 memory       count n memory events in 4 columns: the values t, delta, live, the number op.
 *   5 end          last; count 0, empty: the file is complete.
 *
 * Streamed files (layout version 2, written by a recording as it goes, stream-writer.ts): the same
 * blocks, except that the counts are not known when the header is written and the end block says them:
 *   header  {"streamed":true,"trace":{...}} (no "spans" nor "memory"); the trace's "dropped" is 0;
 *   blocks  definitions, spans and memory blocks in any order, as flushes wrote them (each spans
 *           block's spans are in id order, and so are the blocks' ids one after another);
 *   end     count 0, payload UTF-8 JSON {"spans":S,"memory":M,"dropped":D,"meta":{...}}: the totals,
 *           the trace's final "dropped", and keys added to its meta at the end (or {}).
 * A streamed file grows under its final name plus ".partial" and is renamed once its end block is
 * written. A streamed file cut anywhere after its header (the process was killed) reads up to its
 * last complete block, and the trace's meta.truncated says where it was cut; a version 1 file cut
 * anywhere is 'truncated'. Version 1 files are unchanged, so readers of version 1 read them as before
 * and refuse a streamed file with "upgrade mlx-trace".
 *
 * The payload of a spans or memory block:
 *   - a table of 16 bytes per column: base f64, width u32, 0 u32;
 *   - each column: n elements of `width` bytes, then zero bytes up to a multiple of 8. Element j is
 *     base + the unsigned integer in its bytes (width 1, 2 or 4); width 0 stores nothing (every
 *     element is base); width 8 is the f64 itself (base 0, value columns only). The writer picks the
 *     narrowest width that holds every element exactly, so a block of ns timestamps or ids costs
 *     4 bytes per element rather than 8, and a constant column nothing;
 *   - u8[n] flags, then zero bytes up to a multiple of 8;
 *   - the other keys of the rows flagged as having some, in order: u32[e] byte lengths, then e
 *     UTF-8 JSON objects (attrs, pass, warmup, anything else).
 * Flags say which elements stand for null or for an absent key (the element is then a placeholder):
 *   span    1 parentId null, 2 flops null, 4 bytes null, 8 has layerId, 16 layerId null,
 *           32 has layer, 64 layer null, 128 has other keys
 *   memory  1 has op, 2 op null, 4 has other keys
 *
 * Why: a primitive span and its memory event take about 40 bytes instead of 120 as JSON rows with
 * ns timestamps, the writer reads each field once into a column, and the reader makes objects with
 * no parsing; strings, shapes and tensor lists are written once. A newer layout version or an
 * unknown block type is refused with "upgrade mlx-trace"; a cut file is 'truncated', and a
 * checksum or length that does not add up is 'corrupt'.

/** The first 8 bytes of every file. */
export const MAGIC: Uint8Array = Buffer.from('MLXTRACE', 'latin1');
/** The layout version of files written whole (saveTrace). */
export const VERSION = 1;
/** The layout version of streamed files, and the newest this code reads. */
export const STREAM_VERSION = 2;
/** Bytes before the first block: magic, version, reserved. */
export const PREAMBLE = 16;
/** Bytes of a block's head: type, count, length, CRC-32. */
export const BLOCK_HEAD = 16;

// Block types.
export const T_HEADER = 1;
export const T_DEFS = 2;
export const T_SPANS = 3;
export const T_MEMORY = 4;
export const T_END = 5;

/** Spans (or memory events) per block. */
export const BLOCK = 65536;
/** A block is ended early once its other keys hold this many characters (a few spans with huge attrs). */
export const OTHER_CHARS = 32 << 20;

// Span flags.
export const PARENT_NULL = 1;
export const FLOPS_NULL = 2;
export const BYTES_NULL = 4;
export const HAS_LAYER_ID = 8;
export const LAYER_ID_NULL = 16;
export const HAS_LAYER = 32;
export const LAYER_NULL = 64;
export const SPAN_OTHER = 128;
// Memory flags.
export const HAS_OP = 1;
export const OP_NULL = 2;
export const MEMORY_OTHER = 4;
export const MEMORY_FLAGS = HAS_OP | OP_NULL | MEMORY_OTHER;

/** Columns of values (f64 at most) and of numbers (u32 at most) in spans and memory blocks. */
export const SPAN_VALUES = 8;
export const SPAN_NUMBERS = 6;
export const MEMORY_VALUES = 3;
export const MEMORY_NUMBERS = 1;
/** Bytes per column in a block's table. */
export const ENTRY = 16;
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * n rounded up to a multiple of 8, for any length a block head can hold (up to 2^32 - 1): the low
 * three bits of -n survive ToInt32, where (n + 7) & ~7 would wrap past 2^31.
 */
export const pad8 = (n: number): number => n + (-n & 7);
