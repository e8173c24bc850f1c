// Opens whichever remote model the endpoints serve: a RemoteCrossEncoder when their /info says
// reranker, else a RemoteEncoder (vLLM and OpenAI servers without /info are taken as embedding
// models). Used by `embedrank evaluate --endpoint`.
import { RemoteCrossEncoder } from './cross-encoder.js';
import { RemoteEncoder } from './encoder.js';
import type { RemoteOptions } from './base.js';

export async function openRemoteModel(o: RemoteOptions): Promise<RemoteEncoder | RemoteCrossEncoder> {
  const enc = new RemoteEncoder(o);
  try {
    await enc.ready();
    return enc;
  } catch (e) {
    if (enc.serverKind !== 'cross-encoder') throw e;
  }
  return RemoteCrossEncoder.create(o);
}
