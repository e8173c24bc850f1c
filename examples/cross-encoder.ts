import { CrossEncoder, evaluate, getTask, runMain } from 'embedrank';

async function runCrossEncoder() {
  // Evaluate a reranking model on MTEB tasks with embedrank's engine.
  const crossEncoder = await CrossEncoder.create({ model: process.env.MODEL ?? 'cross-encoder/ms-marco-MiniLM-L-6-v2' });
  try {
    return await evaluate(crossEncoder, getTask('AskUbuntuDupQuestions'), { dataDir: process.env.DATA_DIR });
  } finally {
    await crossEncoder.close();
  }
}

await runMain(import.meta, async () => {
  const results = await runCrossEncoder();
  console.log(results);
});
