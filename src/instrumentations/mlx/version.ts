export { VERSION as PACKAGE_VERSION } from '../../core/record/version';
export const PACKAGE_NAME = 'mlx-trace';
/** node-mlx versions whose JS surface (core functions, nn.Module.forward) this patching matches. */
export const SUPPORTED_MLX = ['>=0.0.7 <1'];
