/**
 * Tests read only the repository and their temp dirs. A clone has nothing beside it, so a read of a
 * sibling of the repository (a shared fixtures folder next to it) passes here and fails there: guardSiblingReads
 * (installed by test/setup.ts) makes it fail here too. test/architecture/hermetic.test.ts scans the
 * sources for the same mistake statically.
 */
import type * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { RUN_TMP_ENV } from '../global-setup';
import { REPO_ROOT } from './fixtures';

const PARENT = path.dirname(REPO_ROOT);

/**
 * True for a path beside the repository: inside its parent directory but neither inside the repository
 * nor inside the temp dirs (which sit beside a repository checked out directly in /tmp).
 */
export function isBesideRepo(p: fs.PathLike | number): boolean {
  if (typeof p === 'number') return false;
  const abs = path.resolve(p instanceof URL ? p.pathname : p.toString());
  const inside = (dir: string | undefined) => dir !== undefined && (abs === dir || abs.startsWith(`${dir}${path.sep}`));
  if (inside(REPO_ROOT) || inside(os.tmpdir()) || inside(process.env[RUN_TMP_ENV])) return false;
  return inside(PARENT) && abs !== PARENT;
}

// Reads only: stat and exists calls are how find-up code (lock files, package.json) walks past the root.
const READERS = ['readFileSync', 'readdirSync', 'openSync', 'createReadStream'] as const;

export function guardSiblingReads(): void {
  // The CommonJS fs object, which the ESM namespace mirrors after syncBuiltinESMExports().
  const target = process.getBuiltinModule('node:fs') as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of READERS) {
    const original = target[name];
    if ((original as { guarded?: boolean }).guarded) continue;
    const guarded = (...args: unknown[]) => {
      if (isBesideRepo(args[0] as fs.PathLike)) {
        throw new Error(`a test read ${String(args[0])}, outside the repository (${REPO_ROOT}): keep test data in test/fixtures`);
      }
      return original(...args);
    };
    guarded.guarded = true;
    target[name] = guarded;
  }
  syncBuiltinESMExports();
}
