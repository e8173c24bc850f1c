// Reading numbers out of config.json with errors that name the file and the key.
import { ModelFolderError } from '../errors.js';

export function configNumber(config: Record<string, unknown>, file: string, key: string, dflt?: number): number {
  const v = config[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelFolderError(file, `"${key}" is missing or not a number`);
  return v;
}

/** head_dim from config when present (checked against hidden/heads for these MHA encoders), else hidden / heads. */
export function headDimOf(config: Record<string, unknown>, file: string, hidden: number, heads: number): number {
  if (!Number.isInteger(heads) || heads < 1) throw new ModelFolderError(file, `number of attention heads ${heads} is not a positive integer`);
  if (config.head_dim !== undefined && config.head_dim !== null) {
    const hd = configNumber(config, file, 'head_dim');
    if (hd * heads !== hidden) {
      throw new ModelFolderError(file, `head_dim ${hd} × ${heads} heads ≠ hidden size ${hidden}: the output projection of these encoders needs heads·head_dim = hidden`);
    }
    return hd;
  }
  if (hidden % heads !== 0) throw new ModelFolderError(file, `hidden size ${hidden} is not divisible by ${heads} attention heads`);
  return hidden / heads;
}

/** transformers' "gelu" is the exact erf form; other activations are refused before any work. */
export function geluOnly(config: Record<string, unknown>, file: string, key: string): 'gelu' {
  const act = String(config[key] ?? 'gelu');
  if (act !== 'gelu') throw new ModelFolderError(file, `${key} "${act}" is not supported (only exact "gelu")`);
  return 'gelu';
}
