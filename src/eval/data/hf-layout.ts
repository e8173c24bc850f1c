// Which files of a Hugging Face dataset repository make up a config's split: the `configs:` of the
// dataset card when there is one, otherwise the `datasets` library's conventions (split names in
// file or folder names, `data/` for the default config), plus folders named after a config.
import { isDataFile } from './files.js';
import { readFrontMatter, type YamlValue } from './yaml.js';

export interface ConfigSpec {
  name: string;
  /** split -> glob patterns (relative to the repository root) */
  splits: Map<string, string[]>;
  /** patterns without a split: every file belongs to the "train" split, as in `datasets` */
  unsplit: string[];
}

/** `configs:` of a dataset card, or null when the card declares none. */
export function parseCardConfigs(readme: string | null): Map<string, ConfigSpec> | null {
  if (!readme) return null;
  let fm: YamlValue;
  try {
    fm = readFrontMatter(readme);
  } catch {
    return null;
  }
  if (!fm || typeof fm !== 'object' || Array.isArray(fm)) return null;
  const configs = (fm as Record<string, YamlValue>).configs;
  if (!Array.isArray(configs)) return null;
  const out = new Map<string, ConfigSpec>();
  for (const c of configs) {
    if (!c || typeof c !== 'object' || Array.isArray(c)) continue;
    const name = String(c.config_name ?? 'default');
    const spec: ConfigSpec = { name, splits: new Map(), unsplit: [] };
    const df = c.data_files;
    const asList = (v: YamlValue): string[] => (Array.isArray(v) ? v.map(String) : v == null ? [] : [String(v)]);
    if (typeof df === 'string') spec.unsplit.push(df);
    else if (Array.isArray(df)) {
      for (const e of df) {
        if (e && typeof e === 'object' && !Array.isArray(e)) {
          const split = e.split == null ? null : String(e.split);
          const paths = asList(e.path ?? null);
          if (split) spec.splits.set(split, [...(spec.splits.get(split) ?? []), ...paths]);
          else spec.unsplit.push(...paths);
        } else if (e != null) spec.unsplit.push(String(e));
      }
    } else if (df && typeof df === 'object') {
      for (const [split, v] of Object.entries(df)) spec.splits.set(split, asList(v));
    }
    out.set(name, spec);
  }
  return out.size ? out : null;
}

/** A glob (`*`, `**`, `?`, `[...]`) as a RegExp over POSIX paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  const g = glob.replace(/^\.\//, '');
  for (let i = 0; i < g.length; i++) {
    const c = g[i];
    if (c === '*') {
      if (g[i + 1] === '*') {
        i++;
        if (g[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const j = g.indexOf(']', i + 1);
      if (j < 0) re += '\\[';
      else {
        re += `[${g.slice(i + 1, j).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = j;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function matchGlobs(files: string[], globs: string[]): string[] {
  const res = globs.map(globToRegExp);
  return files.filter((f) => res.some((r) => r.test(f)));
}

const SPLIT_KEYWORDS: Record<string, string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'valid', 'dev', 'val'],
  test: ['test', 'testing', 'eval', 'evaluation'],
};

/** The split a file belongs to by the `datasets` naming conventions, or null when its name has none. */
export function splitOfFile(path: string): string | null {
  const parts = path.split('/');
  const base = parts[parts.length - 1].toLowerCase();
  const dirs = parts.slice(0, -1).map((d) => d.toLowerCase());
  for (const [split, kws] of Object.entries(SPLIT_KEYWORDS)) {
    for (const kw of kws) {
      if (dirs.includes(kw)) return split;
      const re = new RegExp(`(^|[-._ 0-9])${kw}([-._ 0-9]|$)`);
      if (re.test(base.replace(/\.(parquet|jsonl|json|ndjson|csv|tsv)(\.gz)?$/, ''))) return split;
    }
  }
  return null;
}

function splitBySplit(files: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const f of files) {
    const s = splitOfFile(f) ?? 'train';
    m.set(s, [...(m.get(s) ?? []), f]);
  }
  return m;
}

export interface ResolvedFiles {
  files: string[];
  /** the split actually used (mteb falls back to a config's only split) */
  split: string;
}

/**
 * The files of `config`/`split`. `config` is "default" for single-config datasets. Returns null
 * when the config does not exist; throws when the config exists but lacks the split.
 */
export function resolveConfigFiles(allFiles: string[], readme: string | null, config: string, split: string): ResolvedFiles | null {
  const dataFiles = allFiles.filter(isDataFile);
  const card = parseCardConfigs(readme);
  let bySplit: Map<string, string[]> | null = null;
  if (card) {
    const spec = card.get(config);
    if (spec) {
      bySplit = new Map();
      for (const [s, globs] of spec.splits) bySplit.set(s, matchGlobs(dataFiles, globs));
      if (spec.unsplit.length) for (const [s, fs] of splitBySplit(matchGlobs(dataFiles, spec.unsplit))) bySplit.set(s, [...(bySplit.get(s) ?? []), ...fs]);
    }
  }
  if (!bySplit) {
    // a folder named after the config (corpus/, queries/, qrels/, top_ranked/, en-de/ ...)
    const prefix = `${config}/`;
    const inDir = dataFiles.filter((f) => f.startsWith(prefix) || f.includes(`/${prefix}`));
    // or a file named after it at the top (corpus.jsonl, queries.jsonl)
    const named = dataFiles.filter((f) => !f.includes('/') && f.replace(/\.(parquet|jsonl|json|ndjson|csv|tsv)(\.gz)?$/i, '') === config);
    if (inDir.length) bySplit = splitBySplit(inDir);
    else if (named.length) bySplit = new Map([[split, named]]);
    else if (config === 'default') {
      // `datasets` default config: data/ if present, else every data file outside config folders
      const dataDir = dataFiles.filter((f) => f.startsWith('data/'));
      const pool = dataDir.length ? dataDir : dataFiles.filter((f) => !/^(corpus|queries|query|qrels|top_ranked|instruction)(\/|\.)/.test(f));
      if (pool.length) bySplit = splitBySplit(pool);
    }
  }
  if (!bySplit) return null;
  const nonEmpty = [...bySplit].filter(([, fs]) => fs.length);
  const hit = bySplit.get(split);
  if (hit?.length) return { files: [...hit].sort(), split };
  // mteb's RetrievalDatasetLoader._get_split: a config with a single split is used whatever its name
  if (nonEmpty.length === 1) return { files: [...nonEmpty[0][1]].sort(), split: nonEmpty[0][0] };
  if (!nonEmpty.length) return { files: [], split };
  throw new Error(`config "${config}" has no split "${split}" (it has ${nonEmpty.map(([s]) => s).join(', ')})`);
}

/** Names of the configs a dataset declares (card) or appears to have (folders). */
export function configNames(allFiles: string[], readme: string | null): string[] {
  const card = parseCardConfigs(readme);
  if (card) return [...card.keys()];
  const names = new Set<string>();
  for (const f of allFiles.filter(isDataFile)) {
    const i = f.indexOf('/');
    if (i > 0) names.add(f.slice(0, i) === 'data' ? 'default' : f.slice(0, i));
    else names.add(f.replace(/\.(parquet|jsonl|json|ndjson|csv|tsv)(\.gz)?$/i, '').match(/^(corpus|queries|query|qrels|top_ranked|instruction)$/) ? f.replace(/\.(parquet|jsonl|json|ndjson|csv|tsv)(\.gz)?$/i, '') : 'default');
  }
  return [...names];
}
