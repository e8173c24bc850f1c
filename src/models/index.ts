// The family registry: config.json's architectures[0] (else model_type) picks the family file.
import { ModelFolderError } from '../errors.js';
import { BERT } from './bert.js';
import { DISTILBERT } from './distilbert.js';
import type { ModelFamily } from './family.js';
import { QWEN3 } from './qwen3.js';
import { ROBERTA } from './roberta.js';
import { XLM_ROBERTA } from './xlm-roberta.js';

export type { EncoderDims, ModelFamily } from './family.js';

/** Every family embedrank runs, in the order the README lists them. */
export const FAMILIES: readonly ModelFamily[] = [BERT, ROBERTA, XLM_ROBERTA, DISTILBERT, QWEN3];

export interface ResolvedArchitecture {
  family: ModelFamily;
  architecture: string;
  kind: 'encoder' | 'cross-encoder';
}

export function supportedArchitectures(): string[] {
  return FAMILIES.flatMap((f) => [...f.encoderArchitectures, ...f.crossEncoderArchitectures]);
}

/**
 * The family and model kind of a config.json. architectures[0] decides (as transformers'
 * AutoModel does); without one, model_type picks the family's bare encoder. model_type must agree
 * with the architecture's family, so a mislabelled config fails here, not in a shape check.
 */
export function resolveArchitecture(config: Record<string, unknown>, file: string): ResolvedArchitecture {
  const archs = Array.isArray(config.architectures) ? (config.architectures as unknown[]) : [];
  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  const arch = typeof archs[0] === 'string' ? (archs[0] as string) : undefined;
  if (arch === undefined) {
    const family = FAMILIES.find((f) => f.modelTypes.includes(modelType ?? 'bert'));
    if (!family) {
      throw new ModelFolderError(file, `unsupported model_type "${modelType}" (supported: ${FAMILIES.flatMap((f) => f.modelTypes).join(', ')})`);
    }
    return { family, architecture: family.encoderArchitectures[0], kind: 'encoder' };
  }
  for (const family of FAMILIES) {
    const kind = family.encoderArchitectures.includes(arch) ? 'encoder' : family.crossEncoderArchitectures.includes(arch) ? 'cross-encoder' : undefined;
    if (!kind) continue;
    if (modelType !== undefined && !family.modelTypes.includes(modelType)) {
      throw new ModelFolderError(file, `model_type "${modelType}" does not match architecture "${arch}" (model_type ${family.modelTypes.join(' / ')})`);
    }
    return { family, architecture: arch, kind };
  }
  throw new ModelFolderError(file, `unsupported architecture "${arch}" (supported: ${supportedArchitectures().join(', ')})`);
}
