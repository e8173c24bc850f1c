// Every route of `embedrank serve` on loopback with the CPU engine and generated models: values
// equal Encoder.encode / CrossEncoder.predict, response shapes follow OpenAI, Cohere/vLLM and TEI,
// and bad requests get TEI's status codes with a JSON error in the route's dialect.
import { expect } from 'chai';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder } from '../../src/encoder.js';
import { createServer } from '../../src/serve/server.js';
import { maxAbs, tinyCrossEncoder, tinyEncoder, tinyEncoderCls } from '../foundation/helpers.js';
import { decodeBase64F32, getText, l2normalize, postJson, startServer, type Running } from './helpers.js';

const TOL = 1e-5;
const TEXTS = ['the cat sat on the mat', 'stocks fell sharply on tuesday', 'x', '', 'héllo wörld 日本 ünïcode'];

/** Asserts a TEI error body {error, error_type}. */
function teiError(body: any, type: string, pattern?: RegExp): void {
  expect(body, JSON.stringify(body)).to.have.property('error').that.is.a('string');
  expect(body.error_type).to.equal(type);
  if (pattern) expect(body.error).to.match(pattern);
}

/** Asserts an OpenAI error body {error: {message, type, code}}. */
function openaiError(body: any, status: number, type: string, pattern?: RegExp): void {
  expect(body, JSON.stringify(body)).to.have.property('error').that.is.an('object');
  expect(body.error.code).to.equal(status);
  expect(body.error.type).to.equal(type);
  expect(body.error.message).to.be.a('string');
  if (pattern) expect(body.error.message).to.match(pattern);
}

describe('serve: embedding routes', function () {
  this.timeout(120_000);
  let enc: Encoder;
  let encCls: Encoder;
  let srv: Running;
  let srvCls: Running;

  before(async () => {
    [enc, encCls] = await Promise.all([
      Encoder.create({ model: tinyEncoder(), device: 'cpu', tokenizerThreads: 1 }),
      Encoder.create({ model: tinyEncoderCls(), device: 'cpu', tokenizerThreads: 1 }),
    ]);
    srv = await startServer(enc, { maxClientBatchSize: 8, payloadLimit: 20_000 });
    srvCls = await startServer(encCls, { autoTruncate: false, servedModelName: 'cls-model' });
  });
  after(async () => {
    await Promise.all([srv?.server.close(), srvCls?.server.close()]);
    await Promise.all([enc?.close(), encCls?.close()]);
  });

  it('POST /v1/embeddings returns Encoder.encode rows in input order, with usage in tokens', async () => {
    const want = await enc.encode(TEXTS);
    const r = await postJson(`${srv.url}/v1/embeddings`, { input: TEXTS, model: 'test-model' });
    expect(r.status).to.equal(200);
    expect(r.body.object).to.equal('list');
    expect(r.body.model).to.equal('test-model');
    expect(r.body.data).to.have.length(TEXTS.length);
    r.body.data.forEach((d: any, i: number) => {
      expect(d.object).to.equal('embedding');
      expect(d.index).to.equal(i);
      expect(d.embedding).to.have.length(64);
      expect(maxAbs(d.embedding, want[i]), `row ${i}`).to.be.at.most(TOL);
    });
    // usage counts every token the model saw, special tokens included (as vLLM counts them).
    let tokens = 0;
    for (const t of TEXTS) tokens += (await postJson(`${srv.url}/tokenize`, { prompt: t })).body.count;
    expect(r.body.usage).to.deep.equal({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('a single string and encoding_format base64 give exactly the float32 values of the float format', async () => {
    const f = await postJson(`${srv.url}/v1/embeddings`, { input: TEXTS[1] });
    const b = await postJson(`${srv.url}/v1/embeddings`, { input: TEXTS[1], encoding_format: 'base64' });
    expect(f.body.data).to.have.length(1);
    const row = decodeBase64F32(b.body.data[0].embedding);
    expect(Array.from(row)).to.deep.equal(Array.from(Float32Array.from(f.body.data[0].embedding)));
    expect(maxAbs(row, (await enc.encode([TEXTS[1]]))[0])).to.be.at.most(TOL);
  });

  it('token ids from /tokenize embed exactly like their text (one id array, or an array of them)', async () => {
    const tok = await postJson(`${srv.url}/tokenize`, { inputs: TEXTS.slice(0, 3) });
    expect(tok.status).to.equal(200);
    const ids: number[][] = tok.body.map((toks: any[]) => toks.map((t) => t.id));
    expect(tok.body[0][0]).to.include({ text: '[CLS]', special: true, start: null });
    const text = await postJson(`${srv.url}/v1/embeddings`, { input: TEXTS.slice(0, 3) });
    const viaIds = await postJson(`${srv.url}/v1/embeddings`, { input: ids });
    const one = await postJson(`${srv.url}/v1/embeddings`, { input: ids[1] });
    expect(viaIds.status).to.equal(200);
    for (let i = 0; i < 3; i++) expect(maxAbs(viaIds.body.data[i].embedding, text.body.data[i].embedding), `ids ${i}`).to.be.at.most(TOL);
    expect(maxAbs(one.body.data[0].embedding, text.body.data[1].embedding)).to.be.at.most(TOL);
    expect(viaIds.body.usage.prompt_tokens).to.equal(text.body.usage.prompt_tokens);
  });

  it('TEI /tokenize gives UTF-8 byte offsets and the text they cover', async () => {
    const r = await postJson(`${srv.url}/tokenize`, { inputs: 'héllo world', add_special_tokens: false });
    expect(r.body).to.deep.equal([
      [
        { id: r.body[0][0].id, text: 'héllo', special: false, start: 0, stop: 6 },
        { id: r.body[0][1].id, text: 'world', special: false, start: 7, stop: 12 },
      ],
    ]);
  });

  it('dimensions keeps a Matryoshka prefix, renormalised for a normalising model and as-is otherwise', async () => {
    const [full] = await enc.encode([TEXTS[0]]);
    const r = await postJson(`${srv.url}/v1/embeddings`, { input: TEXTS[0], dimensions: 16 });
    expect(r.body.data[0].embedding).to.have.length(16);
    expect(maxAbs(r.body.data[0].embedding, l2normalize(full.subarray(0, 16)))).to.be.at.most(TOL);
    const [fullCls] = await encCls.encode([TEXTS[0]]);
    const c = await postJson(`${srvCls.url}/v1/embeddings`, { input: TEXTS[0], dimensions: 16, model: 'cls-model' });
    expect(maxAbs(c.body.data[0].embedding, fullCls.subarray(0, 16))).to.be.at.most(TOL);
  });

  it('TEI /embed: a list of rows, normalize (default true), prompt_name from the model prompts, compute headers', async () => {
    const [raw] = await encCls.encode(['x']);
    const [rawQ] = await encCls.encode(['x'], { promptType: 'query' });
    const d = await postJson(`${srvCls.url}/embed`, { inputs: 'x' });
    expect(d.status).to.equal(200);
    expect(d.body).to.have.length(1);
    expect(maxAbs(d.body[0], l2normalize(raw))).to.be.at.most(TOL);
    const n = await postJson(`${srvCls.url}/embed`, { inputs: ['x', 'x'], normalize: false });
    expect(maxAbs(n.body[1], raw)).to.be.at.most(TOL);
    const q = await postJson(`${srvCls.url}/embed`, { inputs: ['x'], normalize: false, prompt_name: 'query' });
    expect(maxAbs(q.body[0], rawQ)).to.be.at.most(TOL);
    expect(maxAbs(q.body[0], raw)).to.be.above(1e-3);
    expect(Number(q.headers.get('x-compute-tokens'))).to.be.above(3);
  });

  it('over-long input: 422 with the token count when not truncating; cut as Encoder cuts when truncating', async () => {
    const long = 'word '.repeat(300);
    const no = await postJson(`${srvCls.url}/v1/embeddings`, { input: [long] });
    expect(no.status).to.equal(422);
    openaiError(no.body, 422, 'validation', /must have less than 128 tokens\. Given: 302/);
    const tei = await postJson(`${srvCls.url}/embed`, { inputs: [long], normalize: false });
    expect(tei.status).to.equal(422);
    teiError(tei.body, 'validation', /Given: 302/);
    const cut = await postJson(`${srvCls.url}/embed`, { inputs: [long], normalize: false, truncate: true });
    expect(maxAbs(cut.body[0], (await encCls.encode([long]))[0])).to.be.at.most(TOL);
    const auto = await postJson(`${srv.url}/v1/embeddings`, { input: [long] });
    expect(maxAbs(auto.body.data[0].embedding, (await enc.encode([long]))[0])).to.be.at.most(TOL);
    expect(auto.body.usage.prompt_tokens).to.equal(128);
    const ten = await postJson(`${srv.url}/v1/embeddings`, { input: [long], truncate_prompt_tokens: 10 });
    expect(ten.body.usage.prompt_tokens).to.equal(10);
    const tooMany = await postJson(`${srv.url}/v1/embeddings`, { input: [long], truncate_prompt_tokens: 129 });
    expect(tooMany.status).to.equal(400);
  });

  it('bad requests get TEI status codes and a JSON error in the route dialect, and the server keeps serving', async () => {
    const cases: Array<[string, unknown, number, string, RegExp?, boolean?]> = [
      ['/v1/embeddings', '{"input": ', 400, 'validation', /invalid JSON/, true],
      ['/embed', '{"inputs": [1,', 400, 'validation', /invalid JSON/, true],
      ['/v1/embeddings', [1, 2], 400, 'validation', /JSON object/],
      ['/v1/embeddings', { input: 5 }, 400, 'validation', /`input` must be/],
      ['/v1/embeddings', { input: ['a', 3] }, 400, 'validation', /input\[1\]/],
      ['/v1/embeddings', { input: [[1, 2.5]] }, 400, 'validation', /integer token id/],
      ['/v1/embeddings', {}, 400, 'validation', /`input` is required/],
      ['/v1/embeddings', { input: [] }, 400, 'empty', /cannot be empty/],
      ['/v1/embeddings', { input: [[]] }, 400, 'empty', /empty token-id array/],
      ['/v1/embeddings', { input: Array(9).fill('a') }, 413, 'validation', /batch size 9 > maximum allowed batch size 8/],
      ['/v1/embeddings', { input: 'a', encoding_format: 'int8' }, 400, 'validation', /encoding_format/],
      ['/v1/embeddings', { input: 'a', dimensions: 0 }, 422, 'validation', /positive/],
      ['/v1/embeddings', { input: 'a', dimensions: 65 }, 422, 'validation', /at most/],
      ['/v1/embeddings', { input: [[101, 999999, 102]] }, 422, 'validation', /outside the model's vocabulary/],
      ['/v1/embeddings', { input: [[101, -1, 102]] }, 422, 'validation', /outside/],
      ['/v1/embeddings', { input: 'a', model: 'someone-else' }, 404, 'validation', /does not exist/],
      ['/v1/embeddings', { input: 'x'.repeat(30_000) }, 413, 'validation'],
      ['/embed', { inputs: 'a', prompt_name: 'nope' }, 422, 'validation', /prompt_name "nope"/],
      ['/embed', { inputs: 'a', truncation_direction: 'left' }, 422, 'validation', /left/],
      ['/embed', { inputs: 'a', normalize: 'yes' }, 400, 'validation', /normalize/],
      ['/rerank', { query: 'a', texts: ['b'] }, 424, 'backend', /not a re-ranker/],
      ['/v1/rerank', { query: 'a', documents: ['b'] }, 424, 'backend', /not a re-ranker/],
    ];
    for (const [path, body, status, type, pattern, raw] of cases) {
      const r = await postJson(`${srv.url}${path}`, body, raw);
      const what = `${path} ${typeof body === 'string' ? body : JSON.stringify(body).slice(0, 60)}`;
      expect(r.status, what).to.equal(status);
      if (path.startsWith('/v1/')) openaiError(r.body, status, type, pattern);
      else teiError(r.body, type, pattern);
    }
    // Only JSON bodies (was: text/plain parsed into a string, then 400)
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const r = await fetch(`${srv.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': type }, body: 'hello' });
      expect(r.status, type).to.equal(415);
      await r.text();
    }
    const nf = await getText(`${srv.url}/nope`);
    expect(nf.status).to.equal(404);
    teiError(JSON.parse(nf.text), 'validation', /no route GET \/nope/);
    expect(srv.server.service.admittedInputs).to.equal(0);
    const ok = await postJson(`${srv.url}/v1/embeddings`, { input: 'still fine' });
    expect(ok.status).to.equal(200);
  });

  it('createServer refuses a client batch size above the concurrency limit (such requests could never be admitted)', async () => {
    expect(() => createServer(enc, { servedModelName: 'x', maxClientBatchSize: 600 })).to.throw(/maxClientBatchSize \(600\) is more than maxConcurrentRequests \(512\)/);
    await createServer(enc, { servedModelName: 'x', maxClientBatchSize: 600, maxConcurrentRequests: 600 }).close();
  });

  it('a request past --request-timeout gets 503 (timeout); its queued work is dropped and admission released', async () => {
    const quick = await startServer(enc, { requestTimeoutSeconds: 0.001 });
    try {
      // Keep the engine busy so the request cannot finish within 1 ms.
      const busy = enc.embedMatrix(Array.from({ length: 2000 }, (_, i) => `busy text ${i} ${'word '.repeat(i % 50)}`));
      const r = await postJson(`${quick.url}/embed`, { inputs: Array.from({ length: 32 }, (_, i) => `long ${i} ${'word '.repeat(120)}`) });
      expect(r.status).to.equal(503);
      teiError(r.body, 'timeout', /timed out after 0\.001 s/);
      await busy;
      await quick.server.service.batcher.idle();
      expect(quick.server.service.admittedInputs).to.equal(0);
      expect(quick.server.service.batcher.queueSize).to.equal(0);
    } finally {
      await quick.server.close();
    }
  });

  it('GET /v1/models, /info, /health and /metrics', async () => {
    const models = JSON.parse((await getText(`${srv.url}/v1/models`)).text);
    expect(models.data[0]).to.include({ id: 'test-model', object: 'model', max_model_len: 128 });
    const info = JSON.parse((await getText(`${srv.url}/info`)).text);
    expect(info).to.include({ max_client_batch_size: 8, max_input_length: 128, auto_truncate: true, max_concurrent_requests: 512, model_dtype: 'float32' });
    expect(info.model_type).to.deep.equal({ embedding: { pooling: 'mean' } });
    expect(info.embedrank).to.include({ kind: 'encoder', embed_dim: 64, similarity_fn_name: 'cosine', normalize: true });
    expect((await getText(`${srv.url}/health`)).status).to.equal(200);

    const before = await getText(`${srv.url}/metrics`);
    const sum = (t: string, name: string) => Number(t.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? NaN);
    const seqs0 = sum(before.text, 'embedrank_batch_size_sum');
    const tok0 = sum(before.text, 'embedrank_tokens_total');
    const r = await postJson(`${srv.url}/v1/embeddings`, { input: TEXTS });
    const after = await getText(`${srv.url}/metrics`);
    expect(after.headers.get('content-type')).to.match(/text\/plain/);
    // Every sequence goes through exactly one engine batch; tokens are counted once.
    expect(sum(after.text, 'embedrank_batch_size_sum') - seqs0).to.equal(TEXTS.length);
    expect(sum(after.text, 'embedrank_tokens_total') - tok0).to.equal(r.body.usage.prompt_tokens);
    for (const name of ['embedrank_queue_size', 'embedrank_batches_in_flight', 'embedrank_admitted_inputs', 'embedrank_tokens_per_second']) {
      expect(after.text).to.match(new RegExp(`^${name} \\d`, 'm'));
    }
    expect(after.text).to.match(/^embedrank_request_duration_seconds_bucket\{le="[^"]+",route="\/v1\/embeddings"\} \d+/m);
    expect(after.text).to.match(/^embedrank_request_queue_duration_seconds_count \d+/m);
    expect(after.text).to.match(/^embedrank_requests_total\{route="\/v1\/embeddings",status="413"\} \d+/m);
    expect(after.text).to.match(/^embedrank_batch_tokens_bucket/m);
  });
});

describe('serve: reranking routes', function () {
  this.timeout(120_000);
  let ce: CrossEncoder;
  let raw: CrossEncoder;
  let srv: Running;
  const query = 'what is the capital of france';
  const docs = ['paris is the capital of france', 'bananas are yellow', 'france is in europe', 'the capital city', 'word '.repeat(200)];

  before(async () => {
    [ce, raw] = await Promise.all([
      CrossEncoder.create({ model: tinyCrossEncoder(), device: 'cpu', tokenizerThreads: 1 }),
      CrossEncoder.create({ model: tinyCrossEncoder(), device: 'cpu', tokenizerThreads: 1, activation: 'identity' }),
    ]);
    srv = await startServer(ce, { servedModelName: 'reranker' });
  });
  after(async () => {
    await srv?.server.close();
    await Promise.all([ce?.close(), raw?.close()]);
  });

  it('POST /v1/rerank ranks like CrossEncoder.rank, best first, with top_n and return_documents', async () => {
    const want = await ce.rank(query, docs);
    const r = await postJson(`${srv.url}/v1/rerank`, { model: 'reranker', query, documents: docs });
    expect(r.status).to.equal(200);
    expect(r.body.model).to.equal('reranker');
    expect(r.body.usage.total_tokens).to.be.above(0);
    const res = r.body.results as Array<{ index: number; relevance_score: number; document?: { text: string } }>;
    expect(res.map((x) => x.index).sort()).to.deep.equal([0, 1, 2, 3, 4]);
    for (let k = 1; k < res.length; k++) expect(res[k - 1].relevance_score).to.be.at.least(res[k].relevance_score);
    for (const x of res) {
      expect(Math.abs(x.relevance_score - want[x.index]), `doc ${x.index}`).to.be.at.most(TOL);
      expect(x.document).to.deep.equal({ text: docs[x.index] });
    }
    const top = await postJson(`${srv.url}/rerank`, { query, documents: docs.map((text) => ({ text })), top_n: 2, return_documents: false });
    expect(top.body.results).to.have.length(2);
    expect(top.body.results.map((x: any) => x.index)).to.deep.equal(res.slice(0, 2).map((x) => x.index));
    expect(top.body.results[0]).to.not.have.property('document');
  });

  it("TEI /rerank: [{index, score}] best first; raw_scores gives logits; return_text", async () => {
    const want = await ce.rank(query, docs);
    const logits = await raw.rank(query, docs);
    const r = await postJson(`${srv.url}/rerank`, { query, texts: docs, return_text: true });
    expect(r.status).to.equal(200);
    for (let k = 1; k < r.body.length; k++) expect(r.body[k - 1].score).to.be.at.least(r.body[k].score);
    for (const x of r.body) {
      expect(Math.abs(x.score - want[x.index])).to.be.at.most(TOL);
      expect(x.text).to.equal(docs[x.index]);
    }
    const rr = await postJson(`${srv.url}/rerank`, { query, texts: docs, raw_scores: true });
    for (const x of rr.body) expect(Math.abs(x.score - logits[x.index])).to.be.at.most(TOL);
    const e = await postJson(`${srv.url}/rerank`, { query, texts: [] });
    expect(e.status).to.equal(400);
    teiError(e.body, 'empty');
  });

  it("vLLM /score: 1:N and N:N in input order equal CrossEncoder.predict; use_activation false gives logits", async () => {
    const pairs = docs.map((d) => [query, d] as [string, string]);
    const want = await ce.scoreMatrix(pairs);
    const oneN = await postJson(`${srv.url}/score`, { text_1: query, text_2: docs });
    expect(oneN.status).to.equal(200);
    expect(oneN.body.object).to.equal('list');
    oneN.body.data.forEach((d: any, i: number) => {
      expect(d).to.include({ index: i, object: 'score' });
      expect(Math.abs(d.score - want[i])).to.be.at.most(TOL);
    });
    const q2 = ['a', 'b', 'c'];
    const d2 = ['x', 'y', 'z'];
    const want2 = await ce.scoreMatrix(q2.map((q, i) => [q, d2[i]] as [string, string]));
    const nn = await postJson(`${srv.url}/v1/score`, { text_1: q2, text_2: d2 });
    nn.body.data.forEach((d: any, i: number) => expect(Math.abs(d.score - want2[i])).to.be.at.most(TOL));
    const logits = await raw.scoreMatrix(pairs);
    const lg = await postJson(`${srv.url}/score`, { text_1: [query], text_2: docs, use_activation: false });
    lg.body.data.forEach((d: any, i: number) => expect(Math.abs(d.score - logits[i])).to.be.at.most(TOL));
    const bad = await postJson(`${srv.url}/score`, { text_1: ['a', 'b'], text_2: ['x', 'y', 'z'] });
    expect(bad.status).to.equal(400);
    openaiError(bad.body, 400, 'validation', /1:N/);
  });

  it('embedding routes on a cross-encoder server answer 424, as TEI does', async () => {
    const r = await postJson(`${srv.url}/v1/embeddings`, { input: 'a' });
    expect(r.status).to.equal(424);
    openaiError(r.body, 424, 'backend', /not an embedding model/);
    const info = JSON.parse((await getText(`${srv.url}/info`)).text);
    expect(info.model_type).to.have.property('reranker');
    expect(info.embedrank.kind).to.equal('cross-encoder');
  });
});
