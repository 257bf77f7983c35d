/**
 * Static checks that a clone of the repository alone passes its tests (test/architecture/hermetic.test.ts):
 * nothing refers to a folder beside the repository, and no path built from __dirname climbs above it.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../helpers/fixtures';

const SCANNED_DIRS = ['bin', 'lib', 'lambda', 'scripts', 'test', 'bench', '.ci'];
const SKIPPED_DIRS = new Set(['node_modules', 'fixtures', '.work']);

export function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(REPO_ROOT, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name)) walk(child);
      } else if (/\.(c|m)?[jt]s$|\.sh$|^[^.]+$/.test(entry.name)) {
        out.push(child);
      }
    }
  };
  for (const dir of SCANNED_DIRS) walk(dir);
  return out;
}

/** Lines that name a folder beside the repository: the `shared` folder by a relative path or by path.join(root, '..', 'shared'). */
export function siblingReferences(text: string): string[] {
  return text.split('\n').filter((line) => /\.\.\/shared\b|['"]\.\.['"]\s*,\s*['"]shared['"]/.test(line));
}

/** `path.join(__dirname, '..', ...)` calls that climb more levels than `file` is deep below the root. */
export function climbsAboveRoot(file: string, text: string): string[] {
  const depth = file.split('/').length - 1;
  const found: string[] = [];
  for (const m of text.matchAll(/path\.(?:join|resolve)\(\s*__dirname((?:\s*,\s*['"][^'"]*['"])*)/g)) {
    const parts = [...m[1].matchAll(/['"]([^'"]*)['"]/g)].flatMap((p) => p[1].split('/'));
    let level = depth;
    for (const part of parts) {
      level += part === '..' ? -1 : part === '.' || part === '' ? 0 : 1;
      if (level < 0) {
        found.push(m[0]);
        break;
      }
    }
  }
  return found;
}
