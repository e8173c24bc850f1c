// Where the tests find ../shared/data (the real data sets: read its README.md), one rule for all:
// $EMBEDRANK_SHARED_DATA, else `shared/data` beside the checkout or one level up. Tests that need
// it skip (saying where they looked) when none exists.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The folders looked in, in order. */
export const SHARED_DATA_CANDIDATES = [process.env.EMBEDRANK_SHARED_DATA, join(process.cwd(), '..', 'shared', 'data'), join(process.cwd(), '..', '..', 'shared', 'data')]
  .filter((x): x is string => Boolean(x))
  .map((p) => resolve(p));

/** The first candidate holding the data's README.md, or undefined. */
export const SHARED_DATA = SHARED_DATA_CANDIDATES.find((p) => existsSync(join(p, 'README.md')));

/** A path inside the shared data (a path that does not exist when there is none). */
export function sharedData(...parts: string[]): string {
  return join(SHARED_DATA ?? SHARED_DATA_CANDIDATES[0] ?? '/nonexistent-shared-data', ...parts);
}
