// Paths and contents of the evaluation test fixtures (test/fixtures/eval).
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { writeParquet } from './parquet-writer.js';

import { sharedData } from '../../shared-data.js';

/** test/fixtures/eval (tests run from dist/test/eval, the fixtures stay in the source tree) */
export const FIXTURES = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', '..', 'test', 'fixtures', 'eval');
export const STS_FIXTURE = join(FIXTURES, 'sts');
export const HF_FIXTURES = join(FIXTURES, 'hf');
export const ASKUBUNTU_FIXTURE = join(HF_FIXTURES, 'mteb__AskUbuntuDupQuestions');
/** The full SemEval releases (STS12–16, SICK) when this machine has them; tests using it skip otherwise. */
export const REAL_STS = process.env.EMBEDRANK_STS_DIR ?? sharedData('sts');

/** Relevance judgements of the AskUbuntu miniature: 1 = duplicate, 0 = judged not duplicate. */
export const ASKUBUNTU_QRELS: Array<[string, string, number]> = [
  ['q1', 'd1', 1], ['q1', 'd2', 0], ['q1', 'd3', 1], ['q1', 'd4', 0],
  ['q2', 'd4', 1], ['q2', 'd5', 1], ['q2', 'd6', 0], ['q2', 'd2', 0],
  ['q3', 'd7', 1], ['q3', 'd8', 0], ['q3', 'd2', 0], ['q3', 'd9', 0],
  ['q4', 'd3', 1], ['q4', 'd10', 0], ['q4', 'd6', 0], ['q4', 'd11', 1],
  ['q5', 'd12', 1], ['q5', 'd13', 0], ['q5', 'd9', 0], ['q5', 'd8', 0],
];

/** The qrels parquet file of the fixture (data/test-00000-of-00001.parquet). */
export function askUbuntuQrelsParquet(): Uint8Array {
  return writeParquet([
    { name: 'query-id', type: 'string', values: ASKUBUNTU_QRELS.map((r) => r[0]) },
    { name: 'corpus-id', type: 'string', values: ASKUBUNTU_QRELS.map((r) => r[1]) },
    { name: 'score', type: 'int64', values: ASKUBUNTU_QRELS.map((r) => r[2]) },
  ]);
}
