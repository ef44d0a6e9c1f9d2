export { MlxInstrumentation } from './instrumentation';
export type { MlxInstrumentationConfig } from './types';
