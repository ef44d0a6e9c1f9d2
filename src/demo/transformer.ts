/**
 * A small decoder-only transformer with random weights (no weights are downloaded), written the way
 * MLX's performance guide recommends: fused mx.fast kernels, one eval per generated token.
 * The classes are created by a factory so that they extend nn.Module as it is when the factory runs
 * (after registerMlxInstrumentation(), the instrumented one).
 */
export interface TransformerConfig {
  vocab: number;
  dim: number;
  layers: number;
  heads: number;
  hidden: number;
}

export const DEMO_CONFIG: TransformerConfig = { vocab: 1024, dim: 256, layers: 2, heads: 4, hidden: 768 };

export interface KVCache {
  keys: any | null;
  values: any | null;
  offset: number;
}

export function createTransformer(mlx: any, cfg: TransformerConfig = DEMO_CONFIG): any {
  const { core: mx, nn } = mlx;

  class Attention extends nn.Module {
    wq: any; wk: any; wv: any; wo: any; rope: any; heads: number; scale: number;
    constructor(dim: number, heads: number) {
      super();
      this.heads = heads;
      this.scale = 1 / Math.sqrt(dim / heads);
      this.wq = new nn.Linear(dim, dim, false);
      this.wk = new nn.Linear(dim, dim, false);
      this.wv = new nn.Linear(dim, dim, false);
      this.wo = new nn.Linear(dim, dim, false);
      this.rope = new nn.RoPE(dim / heads, true);
    }
    forward(x: any, mask: any, cache: KVCache) {
      const [B, L, D] = x.shape;
      const split = (t: any) => t.reshape(B, L, this.heads, D / this.heads).transpose(0, 2, 1, 3);
      let q = split(this.wq.forward(x));
      let k = split(this.wk.forward(x));
      let v = split(this.wv.forward(x));
      q = this.rope.forward(q, cache.offset);
      k = this.rope.forward(k, cache.offset);
      if (cache.keys) {
        k = mx.concatenate([cache.keys, k], 2);
        v = mx.concatenate([cache.values, v], 2);
      }
      cache.keys = k;
      cache.values = v;
      const o = mx.fast.scaledDotProductAttention(q, k, v, this.scale, mask ?? undefined);
      return this.wo.forward(o.transpose(0, 2, 1, 3).reshape(B, L, D));
    }
  }

  class MLP extends nn.Module {
    gate: any; up: any; down: any;
    constructor(dim: number, hidden: number) {
      super();
      this.gate = new nn.Linear(dim, hidden, false);
      this.up = new nn.Linear(dim, hidden, false);
      this.down = new nn.Linear(hidden, dim, false);
    }
    forward(x: any) {
      return this.down.forward(mx.multiply(nn.silu(this.gate.forward(x)), this.up.forward(x)));
    }
  }

  class Block extends nn.Module {
    attention: any; mlp: any; norm1: any; norm2: any;
    constructor(c: TransformerConfig) {
      super();
      this.attention = new Attention(c.dim, c.heads);
      this.mlp = new MLP(c.dim, c.hidden);
      this.norm1 = new nn.RMSNorm(c.dim);
      this.norm2 = new nn.RMSNorm(c.dim);
    }
    forward(x: any, mask: any, cache: KVCache) {
      const h = mx.add(x, this.attention.forward(this.norm1.forward(x), mask, cache));
      return mx.add(h, this.mlp.forward(this.norm2.forward(h)));
    }
  }

  class Transformer extends nn.Module {
    embed: any; layers: any[]; norm: any; head: any; config: TransformerConfig;
    constructor(c: TransformerConfig) {
      super();
      this.config = c;
      this.embed = new nn.Embedding(c.vocab, c.dim);
      this.layers = Array.from({ length: c.layers }, () => new Block(c));
      this.norm = new nn.RMSNorm(c.dim);
      this.head = new nn.Linear(c.dim, c.vocab, false);
    }
    forward(tokens: any, caches: KVCache[]) {
      const L = tokens.shape[1];
      const mask = L > 1 ? nn.MultiHeadAttention.createAdditiveCausalMask(L) : null;
      let x = this.embed.forward(tokens);
      this.layers.forEach((layer, i) => (x = layer.forward(x, mask, caches[i])));
      for (const c of caches) c.offset += L;
      return this.head.forward(this.norm.forward(x));
    }
    newCache(): KVCache[] {
      return this.layers.map(() => ({ keys: null, values: null, offset: 0 }));
    }
  }

  const model = new Transformer(cfg);
  mx.eval(model.parameters());
  return model;
}

/** Greedy next token from the last position's logits (lazy: evaluated with the next eval). */
export function nextToken(mx: any, logits: any): any {
  const last = logits.index(0, -1);
  return mx.argmax(last, -1).reshape(1, 1);
}
