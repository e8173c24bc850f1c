// The real all-MiniLM-L6-v2 folder (../shared/data/tokenizers: its tokenizer, config and
// sentence-transformers files, no weights) completed with generated random weights of its shape.
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestModel } from '../../scripts/make-test-model.js';
import { MODEL_CACHE } from '../cpu/helpers.js';

/** Path of the completed folder (written once per machine under the test model cache). */
export function realMiniLmModel(realDir: string): string {
  const dir = join(MODEL_CACHE, 'real-minilm-l6-v2-random-weights');
  if (!existsSync(join(dir, '.complete'))) {
    rmSync(dir, { recursive: true, force: true });
    makeTestModel({ shape: 'minilm-l6', out: dir, seed: 11 });
    for (const f of readdirSync(realDir)) cpSync(join(realDir, f), join(dir, f), { recursive: true, force: true });
    cpSync(join(dir, 'config.json'), join(dir, '.complete'));
  }
  return dir;
}
