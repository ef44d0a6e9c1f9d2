/**
 * The demo transformer: the Llama-style decoder of llama.ts with one KV head per query head and
 * traditional RoPE, random weights (none are downloaded), fused mx.fast kernels, one eval per token.
 * The benchmarks that compare with earlier results (hook, sdk) and the dashboard tests run it.
 */
import { createLlama, type Llama, type LlamaCache } from './llama';

export interface TransformerConfig {
  vocab: number;
  dim: number;
  layers: number;
  heads: number;
  hidden: number;
}

export const DEMO_CONFIG: TransformerConfig = { vocab: 1024, dim: 256, layers: 2, heads: 4, hidden: 768 };

export type KVCache = LlamaCache;

export function createTransformer(mlx: any, cfg: TransformerConfig = DEMO_CONFIG): Llama {
  return createLlama(mlx, { ...cfg, kvHeads: cfg.heads, ropeBase: 10000, ropeTraditional: true });
}

/** Greedy next token from the last position's logits (lazy: evaluated with the next eval). */
export function nextToken(mx: any, logits: any): any {
  const last = logits.index(0, -1);
  return mx.argmax(last, -1).reshape(1, 1);
}
