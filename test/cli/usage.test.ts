/**
 * Usage errors print the error and one hint line (never the whole help); --version prints the
 * package version.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli';
import { REPO_ROOT } from '../helpers/fixtures';

const VERSION = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('gpu-maint usage', () => {
  test.each([['--version'], ['-V']])('%s prints the version and exits 0', async (flag) => {
    const r = await runCli([flag]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`gpu-maint ${VERSION}`);
  });

  test.each([
    [['run', '--jsn', 'gpu-check'], "error: unknown option '--jsn'", "Run 'gpu-maint run --help' for usage."],
    [['rn', 'gpu-check'], "error: unknown command 'rn'", "Run 'gpu-maint --help' for usage."],
    [['run', 'gpu-chek'], 'gpu-maint: unknown task "gpu-chek"', "Run 'gpu-maint run --help' for usage."],
    [['run'], "error: missing required argument 'task'", "Run 'gpu-maint run --help' for usage."],
  ])('%j prints the error and one hint line, not the help', async (args, error, hint) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toContain(error);
    expect(lines.at(-1)).toBe(hint);
    expect(lines.length).toBeLessThanOrEqual(3);
    expect(r.stderr + r.stdout).not.toContain('Options:');
  });
});
