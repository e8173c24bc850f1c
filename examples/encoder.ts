import { Encoder, evaluate, getTask, runMain } from 'embedrank';

async function runEncoder() {
  // Evaluate a model on MTEB tasks with embedrank's engine (CUDA when available, else the CPU).
  const encoder = await Encoder.create({ model: process.env.MODEL ?? 'intfloat/e5-small' });
  try {
    return await evaluate(encoder, getTask('STS12'), { dataDir: process.env.DATA_DIR });
  } finally {
    await encoder.close();
  }
}

await runMain(import.meta, async () => {
  const results = await runEncoder();
  console.log(results);
});
