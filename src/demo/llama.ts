/**
 * A Llama-style decoder with random weights, and the generation loop LLM clients on node-mlx run:
 * per token one small graph (a few hundred primitives), `asyncEval` of step n+1 before `item()` of
 * step n, a KV cache that grows, top-p sampling. This is the workload mlx-trace's decode-loop
 * benchmarks, tests and `mlx-trace demo` use.
 *
 * The classes are created by a factory so that they extend nn.Module as it is when the factory runs
 * (after registerMlxInstrumentation(), the instrumented one).
 */
export interface LlamaConfig {
  vocab: number;
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  hidden: number;
  ropeBase: number;
  /** RoPE on consecutive pairs (the original formulation) rather than on the two halves. @default false */
  ropeTraditional?: boolean;
}

/** The small model of the decode-overhead benchmark: d=64, 2 layers, 4 heads over 2 KV heads. */
export const TINY_LLAMA: LlamaConfig = { vocab: 256, dim: 64, layers: 2, heads: 4, kvHeads: 2, hidden: 172, ropeBase: 10000 };

/** The demo's model, the size of the demo transformer (d=256). */
export const DEMO_LLAMA: LlamaConfig = { vocab: 1024, dim: 256, layers: 2, heads: 4, kvHeads: 2, hidden: 688, ropeBase: 10000 };

export interface LlamaCache {
  keys: any | null;
  values: any | null;
  offset: number;
}

export interface Llama {
  config: LlamaConfig;
  forward(tokens: any, caches: LlamaCache[]): any;
  newCache(): LlamaCache[];
  parameters(): any;
}

export function createLlama(mlx: any, cfg: LlamaConfig = TINY_LLAMA): Llama {
  const { core: mx, nn } = mlx;
  const headDim = cfg.dim / cfg.heads;

  class Attention extends nn.Module {
    qProj: any; kProj: any; vProj: any; oProj: any; rope: any; scale: number;
    constructor() {
      super();
      this.scale = 1 / Math.sqrt(headDim);
      this.qProj = new nn.Linear(cfg.dim, cfg.heads * headDim, false);
      this.kProj = new nn.Linear(cfg.dim, cfg.kvHeads * headDim, false);
      this.vProj = new nn.Linear(cfg.dim, cfg.kvHeads * headDim, false);
      this.oProj = new nn.Linear(cfg.heads * headDim, cfg.dim, false);
      this.rope = new nn.RoPE(headDim, cfg.ropeTraditional ?? false, cfg.ropeBase);
    }
    forward(x: any, mask: any, cache: LlamaCache) {
      const [B, L] = x.shape;
      const heads = (t: any, n: number) => t.reshape(B, L, n, headDim).transpose(0, 2, 1, 3);
      let q = heads(this.qProj.forward(x), cfg.heads);
      let k = heads(this.kProj.forward(x), cfg.kvHeads);
      let v = heads(this.vProj.forward(x), cfg.kvHeads);
      q = this.rope.forward(q, cache.offset);
      k = this.rope.forward(k, cache.offset);
      if (cache.keys) {
        k = mx.concatenate([cache.keys, k], 2);
        v = mx.concatenate([cache.values, v], 2);
      }
      cache.keys = k;
      cache.values = v;
      // Grouped-query attention: each KV head serves heads / kvHeads query heads, and the fused attention takes
      // k and v with their kvHeads as they are (repeating them first copies both, with a strided loop on the CPU).
      const o = mx.fast.scaledDotProductAttention(q, k, v, this.scale, mask ?? undefined);
      return this.oProj.forward(o.transpose(0, 2, 1, 3).reshape(B, L, cfg.heads * headDim));
    }
  }

  class MLP extends nn.Module {
    gateProj: any; upProj: any; downProj: any;
    constructor() {
      super();
      this.gateProj = new nn.Linear(cfg.dim, cfg.hidden, false);
      this.upProj = new nn.Linear(cfg.dim, cfg.hidden, false);
      this.downProj = new nn.Linear(cfg.hidden, cfg.dim, false);
    }
    forward(x: any) {
      return this.downProj.forward(mx.multiply(nn.silu(this.gateProj.forward(x)), this.upProj.forward(x)));
    }
  }

  class DecoderLayer extends nn.Module {
    selfAttn: any; mlp: any; inputNorm: any; postNorm: any;
    constructor() {
      super();
      this.selfAttn = new Attention();
      this.mlp = new MLP();
      this.inputNorm = new nn.RMSNorm(cfg.dim);
      this.postNorm = new nn.RMSNorm(cfg.dim);
    }
    forward(x: any, mask: any, cache: LlamaCache) {
      const h = mx.add(x, this.selfAttn.forward(this.inputNorm.forward(x), mask, cache));
      return mx.add(h, this.mlp.forward(this.postNorm.forward(h)));
    }
  }

  class LlamaModel extends nn.Module {
    config: LlamaConfig; embedTokens: any; layers: any[]; norm: any; lmHead: any;
    constructor() {
      super();
      this.config = cfg;
      this.embedTokens = new nn.Embedding(cfg.vocab, cfg.dim);
      this.layers = Array.from({ length: cfg.layers }, () => new DecoderLayer());
      this.norm = new nn.RMSNorm(cfg.dim);
      this.lmHead = new nn.Linear(cfg.dim, cfg.vocab, false);
    }
    forward(tokens: any, caches: LlamaCache[]) {
      const L = tokens.shape[1];
      const mask = L > 1 ? nn.MultiHeadAttention.createAdditiveCausalMask(L) : null;
      let x = this.embedTokens.forward(tokens);
      this.layers.forEach((layer, i) => (x = layer.forward(x, mask, caches[i])));
      for (const c of caches) c.offset += L;
      return this.lmHead.forward(this.norm.forward(x));
    }
    newCache(): LlamaCache[] {
      return this.layers.map(() => ({ keys: null, values: null, offset: 0 }));
    }
  }

  const model = new LlamaModel();
  mx.eval(model.parameters());
  return model as unknown as Llama;
}

/**
 * Top-p (nucleus) sampling of the last position's logits, as mlx-lm samples: the smallest set of
 * tokens whose probabilities add up to `topP`, renormalised, one drawn. Lazy: nothing is evaluated.
 */
export function sampleTopP(mx: any, logits: any, topP = 0.9, temperature = 1): any {
  const last = logits.index(0, -1).reshape(1, -1);
  const probs = mx.softmax(mx.multiply(last, 1 / temperature), -1);
  const order = mx.argsort(probs, -1);
  const sorted = mx.takeAlongAxis(probs, order, -1);
  const cumulative = mx.cumsum(sorted, -1);
  const kept = mx.where(mx.greater(cumulative, 1 - topP), sorted, mx.zerosLike(sorted));
  const pick = mx.random.categorical(mx.log(kept), -1);
  return mx.takeAlongAxis(order, pick.reshape(1, 1), -1);
}

export interface GenerateOptions {
  /** Prompt token ids. */
  prompt: number[];
  /** Tokens to generate after the prompt. */
  tokens: number;
  topP?: number;
  temperature?: number;
  /** Called with each token as its value is read (after the next step was launched). */
  onToken?: (token: number, index: number) => void;
}

/**
 * The pipelined generation loop: the prompt's forward and first sample, then per step the graph of
 * step n+1 is built and launched with `asyncEval` before `item()` reads step n's token, so the CPU
 * builds the next graph while the previous one runs. Returns the generated token ids.
 */
export function generate(mlx: any, model: Llama, opts: GenerateOptions): number[] {
  const mx = mlx.core;
  const caches = model.newCache();
  const step = (input: any) => sampleTopP(mx, model.forward(input, caches), opts.topP, opts.temperature);
  let y = step(mx.array([opts.prompt], mx.int32));
  mx.asyncEval(y);
  const out: number[] = [];
  for (let i = 0; i < opts.tokens; i++) {
    const next = i + 1 < opts.tokens ? step(y) : null;
    if (next) mx.asyncEval(next);
    const token = y.item() as number;
    out.push(token);
    opts.onToken?.(token, i);
    y = next;
  }
  return out;
}
