// The allocator a bench runs on: the one the `embedrank` command would (src/cli/allocator.ts).
import { allocatorLabel, relaunchWithAllocator } from '../src/cli/allocator.js';

/**
 * Starts this bench again on the allocator the `embedrank` command would use (EMBEDRANK_ALLOCATOR;
 * =system: glibc's) and returns true: the relaunched child does the run, so the caller returns.
 * Otherwise (already relaunched, or nothing to preload) prints the allocator line of the log and
 * returns false.
 */
export function relaunchedOnAllocator(): boolean {
  if (relaunchWithAllocator()) return true;
  process.stdout.write(`allocator: ${allocatorLabel()}\n`);
  return false;
}
