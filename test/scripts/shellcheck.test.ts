/** Every shell script we ship or run in CI is shellcheck clean, and so is every bundle SSM receives. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { bundleTaskScript, SCRIPTS_DIR } from '../../lambda/tasks/scripts';
import { REPO_ROOT } from '../helpers/fixtures';
import { tempDir } from '../helpers/temp';

function isBashScript(file: string): boolean {
  return readFileSync(file, 'utf8').startsWith('#!/usr/bin/env bash');
}

function shellFiles(): string[] {
  const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && !f.startsWith('node_modules/'));
  return tracked.filter(
    (f) => f.endsWith('.sh') || f === '.ci/run' || (f.startsWith('test/fakes/') && isBashScript(path.join(REPO_ROOT, f))),
  );
}

function shellcheck(files: string[], cwd = REPO_ROOT) {
  return spawnSync('shellcheck', ['-x', '-S', 'style', '-f', 'gcc', ...files], { cwd, encoding: 'utf8' });
}

describe('shellcheck', () => {
  test('is installed (CI installs it)', () => {
    expect(spawnSync('shellcheck', ['--version']).status).toBe(0);
  });

  // One shellcheck -x over every script and what each sources: CPU-bound, minutes on a loaded 2-core machine.
  test('reports nothing on the repository scripts', { timeout: 300_000 }, () => {
    const files = shellFiles();
    expect(files.length).toBeGreaterThan(2);
    const r = shellcheck(files);
    expect(r.stdout + r.stderr).toBe('');
  });

  const tasks = readdirSync(SCRIPTS_DIR)
    .filter((f) => f.endsWith('.sh'))
    .map((f) => f.replace(/\.sh$/, ''));
  test.each(tasks)('reports nothing on the bundle of %s', (task) => {
    const dir = tempDir('gpu-maint-sc-');
    const file = path.join(dir, `${task}.sh`);
    writeFileSync(file, bundleTaskScript(task));
    const r = shellcheck([file], dir);
    expect(r.stdout + r.stderr).toBe('');
  });
});
