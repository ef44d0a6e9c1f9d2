/** The demo models, bundled as dist/demo.js for the benchmarks and examples. */
export { createTransformer, DEMO_CONFIG, nextToken, type TransformerConfig, type KVCache } from './transformer';
export { createLlama, generate, sampleTopP, TINY_LLAMA, DEMO_LLAMA, type Llama, type LlamaConfig, type LlamaCache, type GenerateOptions } from './llama';
