// Checks that an output can be written before any work starts: a results folder or an output
// file that cannot be written should fail in a second with its reason, not after an hour of
// encoding with a misleading error. Nothing is created here.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InputError } from '../errors.js';

/** What is at `path`; null when nothing is, or when a component of the path is a file (ENOTDIR). */
function kind(path: string): 'dir' | 'file' | 'other' | null {
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
  if (!st) return null;
  return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
}

function canWrite(path: string): string | null {
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'EROFS' ? 'is on a read-only file system' : code === 'EACCES' || code === 'EPERM' ? 'is not writable by this user' : (e as Error).message;
  }
}

/**
 * Throws InputError (naming `what`, the path and the reason) unless folder `dir` exists and is
 * writable, or can be created: its nearest existing ancestor is a writable folder and no
 * component of the path is a file.
 */
export function assertWritableFolder(dir: string, what = 'output folder'): void {
  const abs = resolve(dir);
  let p = abs;
  let k = kind(p);
  while (k === null) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
    k = kind(p);
  }
  if (k !== 'dir') {
    throw new InputError(
      p === abs ? `${what} ${dir} exists but is not a folder` : `${what} ${dir} cannot be created: ${p} is ${k === 'file' ? 'a file' : 'not a folder'}`,
    );
  }
  const why = canWrite(p);
  if (why) throw new InputError(p === abs ? `${what} ${dir} ${why}` : `${what} ${dir} cannot be created: ${p} ${why}`);
}

/**
 * Throws InputError unless file `path` can be written: an existing regular file that is writable,
 * or a new file in an existing writable folder.
 */
export function assertWritableFile(path: string, what = 'output file'): void {
  const k = kind(path);
  if (k === 'dir') throw new InputError(`${what} ${path} is a folder; give a file name`);
  if (k === 'file') {
    try {
      accessSync(path, constants.W_OK);
    } catch {
      throw new InputError(`${what} ${path} exists and is not writable`);
    }
  }
  const parent = dirname(resolve(path));
  const pk = kind(parent);
  if (pk !== 'dir') {
    let p = parent;
    while (kind(p) === null && dirname(p) !== p) p = dirname(p);
    const k = kind(p);
    if (k === 'dir') throw new InputError(`${what} ${path}: folder ${dirname(path)} does not exist`);
    throw new InputError(`${what} ${path}: ${p} is ${k === 'file' ? 'a file' : 'not a folder'}, so no file can be created under it`);
  }
  const why = canWrite(parent);
  if (why) throw new InputError(`${what} ${path}: folder ${dirname(path)} ${why}`);
}
