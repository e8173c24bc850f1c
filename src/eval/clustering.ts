// Clustering as mteb 2.x's AbsTaskClustering (the fast, bootstrapped version;
// mteb/abstasks/clustering.py): embed int(max_fraction_of_documents_to_embed * n) documents drawn
// with the task's random.Random(seed).sample, then for every label level (hierarchical tasks give
// each document a list of labels) draw n_clusters bootstrap samples of max_documents_per_cluster
// documents with random.choices (with replacement), cluster each with MiniBatchKMeans(k = number
// of labels at that level, batch 512, random_state = seed), and score v_measure and AMI.
import { adjustedMutualInfoScore, vMeasureScore } from './cluster-metrics.js';
import { miniBatchKMeans } from './kmeans.js';
import { encodeChecked, type EmbeddingModelLike, type EncodeOptions } from './model.js';
import { npMean, npStd } from './numeric.js';
import { PythonRandom } from './rng.js';

export type ClusterLabel = string | number;

export interface ClusteringData {
  sentences: string[];
  /** one label per document, or a list (one per level) for hierarchical tasks */
  labels: Array<ClusterLabel | ClusterLabel[]>;
}

export interface ClusteringSettings {
  /** max_fraction_of_documents_to_embed (mteb default 0.04); null embeds every document */
  maxFractionOfDocumentsToEmbed?: number | null;
  /** max_document_to_embed (exclusive with the fraction) */
  maxDocumentsToEmbed?: number | null;
  /** max_documents_per_cluster: bootstrap sample size (default 16384) */
  maxDocumentsPerCluster?: number;
  /** n_clusters: bootstrap samples per level (default 10) */
  nClusters?: number;
  /** k_mean_batch_size (default 512) */
  kMeansBatchSize?: number;
  /** max_depth: label levels evaluated (default all) */
  maxDepth?: number | null;
  /** the task seed (default 42) */
  seed?: number;
  minibatchSampling?: 'choice' | 'randint';
}

export interface ClusteringMetrics {
  v_measures: Record<string, number[]>;
  v_measure: number;
  v_measure_std: number;
  ami_scores: Record<string, number[]>;
  ami: number;
  ami_std: number;
  [key: string]: unknown;
}

/** The documents mteb embeds: rng.sample(range(n), k) (all of them when no limit is set). */
export function documentsToEmbed(n: number, s: ClusteringSettings, rng: PythonRandom): number[] {
  const frac = s.maxFractionOfDocumentsToEmbed === undefined ? 0.04 : s.maxFractionOfDocumentsToEmbed;
  const max = s.maxDocumentsToEmbed ?? null;
  if (frac !== null && max !== null) throw new Error('both max_document_to_embed and max_fraction_of_documents_to_embed are set; set only one');
  if (frac === null && max === null) return Array.from({ length: n }, (_, i) => i);
  const k = Math.min(n, frac !== null ? Math.floor(frac * n) : max!);
  return rng.sampleRange(n, k);
}

/** _evaluate_clustering_bootstrapped on embeddings of the chosen documents (labels as lists per level). */
export function clusteringFromEmbeddings(
  embeddings: ArrayLike<number>[],
  labels: ClusterLabel[][],
  s: ClusteringSettings,
  rng: PythonRandom,
): { metrics: ClusteringMetrics; assignments: Record<string, number[][]> } {
  const seed = s.seed ?? 42;
  const deepest = Math.max(...labels.map((l) => l.length));
  const maxDepth = s.maxDepth == null ? deepest : Math.min(s.maxDepth, deepest);
  const size = s.maxDocumentsPerCluster ?? 16384;
  const nBoot = s.nClusters ?? 10;
  const v: Record<string, number[]> = {};
  const ami: Record<string, number[]> = {};
  const assignments: Record<string, number[][]> = {};
  for (let level = 0; level < maxDepth; level++) {
    // documents without a label at this level are left out (mteb marks them -1)
    const keep: number[] = [];
    labels.forEach((l, i) => {
      if (l.length > level) keep.push(i);
    });
    const levelLabels = keep.map((i) => labels[i][level]);
    const levelEmb = keep.map((i) => embeddings[i]);
    const k = new Set(levelLabels).size;
    const name = `Level ${level}`;
    v[name] = [];
    ami[name] = [];
    assignments[name] = [];
    for (let b = 0; b < nBoot; b++) {
      const idx = rng.choicesRange(levelEmb.length, size);
      const x = Array.from(idx, (i) => levelEmb[i]);
      const y = Array.from(idx, (i) => levelLabels[i]);
      const { labels: pred } = miniBatchKMeans(x, { nClusters: k, batchSize: s.kMeansBatchSize ?? 512, randomState: seed, minibatchSampling: s.minibatchSampling });
      v[name].push(vMeasureScore(y, pred));
      ami[name].push(adjustedMutualInfoScore(y, pred));
      assignments[name].push(Array.from(pred));
    }
  }
  const flatV = Object.values(v).flat();
  const flatA = Object.values(ami).flat();
  return {
    metrics: { v_measures: v, v_measure: npMean(flatV), v_measure_std: npStd(flatV), ami_scores: ami, ami: npMean(flatA), ami_std: npStd(flatA) },
    assignments,
  };
}

export interface ClusteringRunHooks {
  phase?: (name: string, start: number, end: number) => void;
  /** receives the cluster assignments per level and bootstrap sample */
  predictions?: (assignments: Record<string, number[][]>) => void;
}

/** Downsamples, encodes the chosen documents (one encode call) and runs the bootstrap. */
export async function evaluateClustering(
  model: EmbeddingModelLike,
  data: ClusteringData,
  opts: EncodeOptions,
  s: ClusteringSettings,
  rng: PythonRandom,
  hooks: ClusteringRunHooks = {},
): Promise<ClusteringMetrics> {
  if (data.sentences.length !== data.labels.length) throw new Error(`${opts.taskName}: ${data.sentences.length} sentences but ${data.labels.length} labels`);
  if (!data.sentences.length) throw new Error(`${opts.taskName}: no documents to cluster`);
  const chosen = documentsToEmbed(data.sentences.length, s, rng);
  if (!chosen.length) throw new Error(`${opts.taskName}: ${data.sentences.length} documents times the embedding fraction leaves none to cluster`);
  let t = performance.now();
  const emb = await encodeChecked(model, chosen.map((i) => data.sentences[i]), opts, `${opts.taskName} sentences`);
  hooks.phase?.('Encoding', t, performance.now());
  t = performance.now();
  const labels = chosen.map((i) => {
    const l = data.labels[i];
    return Array.isArray(l) ? l : [l];
  });
  const r = clusteringFromEmbeddings(emb, labels, s, rng);
  hooks.phase?.('Scoring', t, performance.now());
  hooks.predictions?.(r.assignments);
  return r.metrics;
}
