// Dataset sources: a local folder, or a dataset revision in the hub cache (src/hub/cache.ts)
// downloaded on demand.
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { downloadFile, HubError, hubOffline, listRemoteFiles, savedListing, snapshotDir, type HubOptions } from '../../hub/cache.js';
import { listLocalFiles } from './files.js';

export { HubError, downloadFile, hubCacheDir, hubOffline, listRemoteFiles, snapshotDir } from '../../hub/cache.js';
export type { HubOptions } from '../../hub/cache.js';

/** A dataset revision's files, local or in the hub cache, fetched on demand. */
export interface DatasetSource {
  /** where the files come from, for messages */
  readonly description: string;
  /** local folder holding (or about to hold) the files */
  readonly root: string;
  /** every file of the dataset (relative POSIX paths) */
  listFiles(): Promise<string[]>;
  /** the dataset card, if any */
  readme(): Promise<string | null>;
  /** local absolute paths of `paths`, downloading those that are missing when possible */
  ensure(paths: string[]): Promise<string[]>;
}

/** A dataset in a local folder (a copy of the Hub repository, or a hub-cache snapshot). */
export class LocalSource implements DatasetSource {
  private files?: string[];
  constructor(readonly root: string, readonly description = `local folder ${root}`) {}

  async listFiles(): Promise<string[]> {
    this.files ??= listLocalFiles(this.root);
    return this.files;
  }

  async readme(): Promise<string | null> {
    const p = join(this.root, 'README.md');
    return existsSync(p) ? readFileSync(p, 'utf8') : null;
  }

  async ensure(paths: string[]): Promise<string[]> {
    return paths.map((p) => {
      const abs = join(this.root, ...p.split('/'));
      if (!existsSync(abs)) throw new Error(`${this.description}: missing file ${p}`);
      return abs;
    });
  }
}

/** A dataset revision on the Hub, read through the hub cache and downloaded when missing. */
export class HubSource implements DatasetSource {
  readonly root: string;
  readonly description: string;
  private files?: string[];

  /**
   * `localTried`: the folders of a dataDir that were looked in before falling back to the Hub, so a
   * failed download says the data was not there (not only that the Hub is out of reach).
   */
  constructor(readonly repoId: string, readonly revision: string, private readonly o: HubOptions = {}, private readonly localTried: string[] = []) {
    this.root = snapshotDir(repoId, revision, o);
    this.description = `${repoId}@${revision} (hub cache ${this.root})`;
  }

  /** True when the cache holds something for this revision. */
  get cached(): boolean {
    return existsSync(this.root) || savedListing(this.repoId, this.revision, this.o) !== null;
  }

  async listFiles(): Promise<string[]> {
    if (this.files) return this.files;
    const saved = savedListing(this.repoId, this.revision, this.o);
    if (saved) this.files = saved;
    else if (hubOffline(this.o)) this.files = existsSync(this.root) ? listLocalFiles(this.root) : [];
    else {
      try {
        this.files = await listRemoteFiles(this.repoId, this.revision, this.o);
      } catch (e) {
        // no network (or no listing): a snapshot another tool downloaded is still usable
        if (e instanceof HubError && (e.status === 401 || e.status === 403)) throw e;
        if (!existsSync(this.root)) {
          // Offline evaluation reads local copies: say how, not only that the Hub is out of reach.
          if (e instanceof HubError && e.status === undefined) {
            const copy = 'an mteb/Hugging Face dataset folder, BEIR folders, or the SemEval STS releases (docs/evaluation.md)';
            throw new HubError(
              this.localTried.length
                ? `${this.repoId} is not in the data folder (looked in ${this.localTried.join(', ')}), and the Hub fallback failed: ${e.message} Put a local copy there: ${copy}.`
                : `${e.message} For a dataset, pass --data-dir (dataDir) with a local copy: ${copy}.`,
            );
          }
          throw e;
        }
        this.o.log?.(`${(e as Error).message}; using the files in ${this.root}`);
        this.files = listLocalFiles(this.root);
      }
    }
    return this.files;
  }

  async readme(): Promise<string | null> {
    const files = await this.listFiles();
    if (!files.includes('README.md')) return null;
    const [p] = await this.ensure(['README.md']);
    return readFileSync(p, 'utf8');
  }

  async ensure(paths: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const p of paths) out.push(await downloadFile(this.repoId, this.revision, posix.normalize(p), this.o));
    return out;
  }
}
