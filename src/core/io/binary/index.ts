/**
 * The .mlxtrace binary layout: layout.ts is the format's spec and constants, encoder.ts writes it
 * from objects, column-source.ts from a taken trace's columns, decoder.ts reads it, packing.ts holds
 * what both sides share (CRC-32, column widths).
 */
export { BinaryEncoder, writeBinaryTrace } from './encoder';
export { primitiveRowSpan, rowEnd, rowRef, rowStart, writeBinaryFromSource } from './column-source';
export type { MemoryRows, PrimitiveNames, PrimitiveRows, RowSource } from './column-source';
export { readBinaryTrace } from './decoder';
export { binaryByteOrderProblem, crc32Table, isBinaryTrace } from './packing';
