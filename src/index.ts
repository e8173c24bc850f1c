// embedrank's public API.
export { Encoder, lookupPromptName } from './encoder.js';
export type { EncoderOptions, EncodeOptions, ModelMeta, PromptType } from './encoder.js';
export { CrossEncoder } from './cross-encoder.js';
export type { CrossEncoderOptions } from './cross-encoder.js';
export type { EngineOptions, DtypeOption, DeviceOption, ComputeDtype } from './core/options.js';
export { isMain, runMain, assertMainThread } from './main.js';
export { ModelFolderError, InputError, UnsupportedOptionError, CudaError, SequenceTooLongError } from './errors.js';
export { loadModelFolder } from './model/folder.js';
export type { ModelFolder, PoolingMode, SimilarityFn, ModelKind } from './model/folder.js';
export { resolveModel, hubCacheDir } from './model/hub.js';
export { TokenizerPool } from './tokenize/pool.js';
export { probeCuda } from './core/runtime.js';
export { writeNpyF32, readNpyF32 } from './io/npy.js';
export * from './eval/index.js';
