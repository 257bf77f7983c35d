/**
 * A clone of the repository alone passes its tests: no source or test refers to a folder beside the
 * repository (such as the shared folder beside it), and no path built from __dirname climbs above the repository root.
 * At run time test/helpers/hermetic.ts makes such a read throw.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures';
import { isBesideRepo } from '../helpers/hermetic';

/** The folder beside the repository, spelled in pieces so this file does not itself name it. */
const SIBLING = ['..', 'shared'].join('/');

import { climbsAboveRoot, siblingReferences, sourceFiles } from './hermetic';

/** The checks and the guard spell the patterns out to look for them. */
const SELF = ['test/architecture/hermetic.test.ts', 'test/architecture/hermetic.ts', 'test/helpers/hermetic.ts'];

describe('no source or test refers to a folder beside the repository', () => {
  const files = sourceFiles();
  const checked = files.filter((f) => !SELF.includes(f));

  test('the scan sees the tests, the runtime and the scripts', () => {
    expect(files).toEqual(expect.arrayContaining(['test/helpers/fixtures.ts', 'lambda/core/gpu/xid.ts', 'scripts/gpu-check.sh']));
  });

  test('no file names the shared folder beside the repository', () => {
    const hits = checked.flatMap((f) => siblingReferences(readFileSync(path.join(REPO_ROOT, f), 'utf8')).map((l) => `${f}: ${l.trim()}`));
    expect(hits).toEqual([]);
  });

  test('no path built from __dirname climbs above the repository root', () => {
    const hits = checked.flatMap((f) => climbsAboveRoot(f, readFileSync(path.join(REPO_ROOT, f), 'utf8')).map((c) => `${f}: ${c}`));
    expect(hits).toEqual([]);
  });
});

describe('the checks find what they look for', () => {
  test.each([
    ["export const FIXTURES_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');"],
    [`const CAPTURES = '${SIBLING}/fixtures/nvidia-smi';`],
    [`FAKE_DATA="\${ROOT}/${SIBLING}/fixtures"`],
  ])('%s names a sibling folder', (line) => {
    expect(siblingReferences(line)).toEqual([line]);
  });

  test.each([
    ['test/helpers/fixtures.ts', "path.resolve(__dirname, '..', '..', '..', 'shared')", 1],
    ['test/gpu/x.test.ts', "path.join(__dirname, '../../..')", 1],
    ['test/helpers/fixtures.ts', "path.resolve(__dirname, '..', '..')", 0],
    ['lambda/core/gpu/x.ts', "path.join(__dirname, '..', '..', '..', 'scripts')", 0],
  ])('in %s, %s climbs above the root: %i', (file, text, count) => {
    expect(climbsAboveRoot(file, text)).toHaveLength(count);
  });

  test.each([
    [path.join(path.dirname(REPO_ROOT), 'shared', 'fixtures', 'x.csv'), true],
    [path.join(REPO_ROOT, 'test', 'fixtures', 'x.csv'), false],
    ['/etc/os-release', false],
  ])('a read of %s is beside the repository: %s', (p, beside) => {
    expect(isBesideRepo(p)).toBe(beside);
  });

  test('reading beside the repository throws in a test', () => {
    expect(() => readFileSync(path.join(path.dirname(REPO_ROOT), 'shared', 'fixtures', 'SOURCES.md'))).toThrow(/outside the repository/);
  });
});
