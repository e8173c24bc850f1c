import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelNameAsPath, parsePyJson, pyJsonDumps, readTaskResult, taskResultJson, writeTaskResult, type TaskResult } from '../../src/eval/index.js';

describe('eval/results: mteb result files written as Python writes them', () => {
  it('pyJsonDumps reproduces json.dump(indent=2): float repr, NaN, ensure_ascii, empty containers', () => {
    const text = pyJsonDumps({ a: 1, b: [], c: NaN, d: 'é\n', e: { f: [1e-5, 2] }, n: null, o: {} }, 2);
    // what CPython prints for json.dumps({"a": 1.0, "b": [], "c": float("nan"), "d": "é\n",
    //   "e": {"f": [1e-05, 2.0]}, "n": None, "o": {}}, indent=2)
    const python = '{\n  "a": 1.0,\n  "b": [],\n  "c": NaN,\n  "d": "\\u00e9\\n",\n  "e": {\n    "f": [\n      1e-05,\n      2.0\n    ]\n  },\n  "n": null,\n  "o": {}\n}';
    expect(text).to.equal(python);
    expect(pyJsonDumps({ n_parameters: 5, max_tokens: 512 }, 4, new Set(['n_parameters']))).to.equal('{\n    "n_parameters": 5,\n    "max_tokens": 512.0\n}');
  });

  it('parsePyJson reads NaN and Infinity outside strings only', () => {
    const v = parsePyJson('{"a": NaN, "b": -Infinity, "c": "NaN is fine", "d": [Infinity]}') as Record<string, unknown>;
    expect(v.a).to.be.NaN;
    expect(v.b).to.equal(-Infinity);
    expect(v.c).to.equal('NaN is fine');
    expect(v.d).to.deep.equal([Infinity]);
  });

  it('rounds scores to 6 decimals on disk and writes atomically', () => {
    const dir = mkdtempSync(join(tmpdir(), 'embedrank-res-'));
    try {
      const r: TaskResult = {
        dataset_revision: 'r',
        task_name: 'STS12',
        mteb_version: '2.20.0',
        scores: { test: [{ cosine_spearman: 0.12345678, main_score: 0.12345678, hf_subset: 'default', languages: ['eng-Latn'] }] },
        evaluation_time: 1.25,
        kg_co2_emissions: null,
        date: 1700000000.5,
        evaluation_phases: null,
      };
      expect(taskResultJson(r)).to.contain('"cosine_spearman": 0.123457,').and.contain('"evaluation_time": 1.25,').and.not.contain('notes');
      const p = join(dir, 'a', 'STS12.json');
      writeTaskResult(p, r);
      expect(readdirSync(join(dir, 'a'))).to.deep.equal(['STS12.json']);
      const back = readTaskResult(p);
      expect(back.scores.test[0].main_score).to.equal(0.123457);
      expect(back.date).to.equal(1700000000.5);
      expect(readFileSync(p, 'utf8').endsWith('}')).to.equal(true); // json.dump writes no trailing newline
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names model folders like ModelMeta.model_name_as_path', () => {
    expect(modelNameAsPath('BAAI/bge small')).to.equal('BAAI__bge_small');
    expect(modelNameAsPath('')).to.equal('no_model_name__available');
  });
});
