// `npm run demo`: evaluates a randomly initialised MiniLM-L6-shaped model on STS12 from the real
// SemEval 2012 files bundled in data/sts, on the CPU, and writes mteb-format results to results/.
// The model is random (nothing can be downloaded here), so its score means nothing: the demo
// shows the pipeline, not a model. With internet, pass a hub id: npm run demo -- --model org/name
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Encoder } from '../src/encoder.js';
import { evaluate } from '../src/eval/index.js';
import { modelResultDir } from '../src/eval/results.js';
import { runMain } from '../src/main.js';
import { makeTestModel } from './make-test-model.js';

await runMain(import.meta, async () => {
  const args = process.argv.slice(2);
  const given = args.includes('--model') ? args[args.indexOf('--model') + 1] : undefined;
  let model = given;
  if (!model) {
    model = join('.cache', 'models', 'random-minilm-l6');
    if (!existsSync(join(model, 'README.md'))) {
      process.stderr.write(`demo: writing a random MiniLM-L6-shaped model to ${model}\n`);
      makeTestModel({ shape: 'minilm-l6', out: model, seed: 2024 });
    }
  }
  const encoder = await Encoder.create({ model, device: 'cpu', modelName: given ?? 'embedrank-demo/random-minilm-l6', showProgress: true });
  try {
    const result = await evaluate(encoder, ['STS12'], { dataDir: given ? undefined : 'data/sts', outputFolder: 'results', overwriteStrategy: 'always' });
    for (const r of result.task_results) {
      const s = r.scores.test[0];
      process.stdout.write(`${r.task_name}: main_score (cosine_spearman) = ${s.main_score} over ${encoder.meta.name}\n`);
    }
    process.stdout.write(`results written to ${modelResultDir('results', encoder.meta)}/ (mteb TaskResult format)\n`);
  } finally {
    await encoder.close();
  }
});
