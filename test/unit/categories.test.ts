/**
 * opCategory: MLX primitive class names (as the addon names them), their mx.fast forms and snake_case JS names
 * all land in the same category.
 */
import { describe, expect, it } from 'vitest';
import { OP_CATEGORIES, OP_CATEGORY_LABELS, opCategory, type OpCategory } from '../../src/core/model/categories';

const CASES: [string, OpCategory][] = [
  ['Matmul', 'matmul'], ['AddMM', 'matmul'], ['QuantizedMatmul', 'matmul'], ['GatherMM', 'matmul'], ['GatherQMM', 'matmul'],
  ['BlockMaskedMM', 'matmul'], ['Convolution', 'matmul'], ['matmul', 'matmul'], ['addmm', 'matmul'], ['quantized_matmul', 'matmul'],
  ['ScaledDotProductAttention', 'attention'], ['fast::ScaledDotProductAttention', 'attention'], ['scaled_dot_product_attention', 'attention'],
  ['Softmax', 'attention'], ['softmax', 'attention'], ['fast::RoPE', 'attention'], ['rope', 'attention'],
  ['RMSNorm', 'normalization'], ['fast::RMSNorm', 'normalization'], ['rms_norm', 'normalization'], ['LayerNorm', 'normalization'],
  ['fast::LayerNormVJP', 'normalization'], ['layer_norm', 'normalization'], ['LogSumExp', 'normalization'],
  ['Add', 'elementwise'], ['Multiply', 'elementwise'], ['Exp', 'elementwise'], ['Subtract', 'elementwise'], ['Divide', 'elementwise'],
  ['Sigmoid', 'elementwise'], ['Tanh', 'elementwise'], ['AsType', 'elementwise'], ['Select', 'elementwise'], ['Power', 'elementwise'],
  ['Maximum', 'elementwise'], ['BitwiseBinary', 'elementwise'], ['CompiledAddMultiply', 'elementwise'], ['Compiled', 'elementwise'],
  ['Copy', 'memory'], ['Reshape', 'memory'], ['Transpose', 'memory'], ['Concatenate', 'memory'], ['Gather', 'memory'],
  ['Scatter', 'memory'], ['Slice', 'memory'], ['SliceUpdate', 'memory'], ['Broadcast', 'memory'], ['AsStrided', 'memory'],
  ['Pad', 'memory'], ['Split', 'memory'], ['Full', 'memory'], ['Load', 'memory'],
  ['Reduce', 'other'], ['Sum', 'other'], ['ArgReduce', 'other'], ['Sort', 'other'], ['Scan', 'other'], ['RandomBits', 'other'],
  ['FFT', 'other'], ['Arange', 'other'], ['CustomKernel', 'other'], ['', 'other'], ['<img src=x>', 'other'],
];

describe('opCategory', () => {
  it.each(CASES)('%s -> %s', (name, cat) => {
    expect(opCategory(name)).toBe(cat);
  });

  it('is total: any input gives a listed category, with a label', () => {
    for (const x of ['???', '   ', 'Sum (axis 1)', 'a.b.c', undefined as unknown as string, 42 as unknown as string]) {
      const c = opCategory(x);
      expect(OP_CATEGORIES).toContain(c);
      expect(OP_CATEGORY_LABELS[c]).toBeTruthy();
    }
  });
});
