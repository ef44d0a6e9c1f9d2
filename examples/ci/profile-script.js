// The workload the CI job profiles: a small pre-norm transformer (2 blocks, d=256, 4 heads) running a
// 64-token batch through 20 forward passes. Plain MLX: `mlx-trace run` profiles it with no change to it.
// Replace it with a script that runs your own model the way your app does.
'use strict';
const { core: mx, nn } = require('@frost-beta/mlx');

const DIM = 256;
const HEADS = 4;
const SEQ = 64;
const STEPS = Number(process.env.STEPS || 20);

class Block extends nn.Module {
  constructor() {
    super();
    this.norm1 = new nn.RMSNorm(DIM);
    this.attention = new nn.MultiHeadAttention(DIM, HEADS);
    this.norm2 = new nn.RMSNorm(DIM);
    this.up = new nn.Linear(DIM, 4 * DIM);
    this.down = new nn.Linear(4 * DIM, DIM);
  }
  forward(x, mask) {
    const h = this.norm1.forward(x);
    x = mx.add(x, this.attention.forward(h, h, h, mask));
    return mx.add(x, this.down.forward(nn.gelu(this.up.forward(this.norm2.forward(x)))));
  }
}

class Model extends nn.Module {
  constructor() {
    super();
    this.blocks = [new Block(), new Block()];
    this.norm = new nn.RMSNorm(DIM);
  }
  forward(x, mask) {
    for (const b of this.blocks) x = b.forward(x, mask);
    return this.norm.forward(x);
  }
}

mx.random.seed(0);
const model = new Model();
mx.eval(model.parameters());
const x = mx.random.normal([1, SEQ, DIM]);
const mask = nn.MultiHeadAttention.createAdditiveCausalMask(SEQ);

const t0 = process.hrtime.bigint();
for (let i = 0; i < STEPS; i++) mx.eval(model.forward(x, mask));
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(`${STEPS} forward passes in ${ms.toFixed(1)} ms`);
