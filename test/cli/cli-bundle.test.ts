/**
 * The CLI bundle (bin/cli-bundle.cjs): the launcher runs the built file only while it is built from the
 * sources on disk, rebuilds it otherwise, and runs a fresh build from memory where it cannot write one.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import type { main } from '../../bin/cli/main';
import { version } from '../../package.json';
import { runCli } from '../helpers/cli';
import { gpuCheckOutput } from '../helpers/gpu-check-output';
import { tempDir } from '../helpers/temp';

interface CliBundle {
  readonly BUNDLE: string;
  readonly HEADER: string;
  staleReason(options?: { exact?: boolean; bundle?: string; root?: string }): string | null;
  runBundle(text: string): { exports: { main: typeof main } };
}

const cliBundle = createRequire(__filename)('../../bin/cli-bundle.cjs') as CliBundle;
const REPO_ROOT = path.resolve(__dirname, '../..');
const LAUNCHER = path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs');

/** A bundle file recording `inputs` (paths relative to `root`) as they are now, or with the contents given. */
function writeBundle(bundle: string, root: string, inputs: readonly string[], contents: Record<string, string> = {}): void {
  const record: Record<string, { size: number; mtimeMs: number; sha256: string }> = {};
  for (const rel of inputs) {
    const file = path.join(root, rel);
    const { size, mtimeMs } = statSync(file);
    record[rel] = {
      size,
      mtimeMs,
      sha256: createHash('sha256')
        .update(contents[rel] ?? readFileSync(file))
        .digest('hex'),
    };
  }
  writeFileSync(bundle, `${cliBundle.HEADER}${JSON.stringify({ format: 1, inputs: record })}\n`);
}

/** A temp root with one source file `a.ts` and a bundle built from it. */
function builtWorld(): { root: string; bundle: string; source: string } {
  const root = tempDir('gpu-maint-bundle-');
  const source = path.join(root, 'a.ts');
  writeFileSync(source, 'export const a = 1;\n');
  const bundle = path.join(root, 'main.cjs');
  writeBundle(bundle, root, ['a.ts']);
  return { root, bundle, source };
}

function launch(args: readonly string[], bundle: string) {
  return spawnSync(process.execPath, [LAUNCHER, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, GPU_MAINT_CLI_BUNDLE: bundle },
    timeout: 120_000,
  });
}

describe('whether the bundle is built from the sources on disk', () => {
  test('a bundle whose inputs are unchanged is current', () => {
    const { root, bundle } = builtWorld();
    expect(cliBundle.staleReason({ bundle, root, exact: true })).toBeNull();
  });

  test.each([
    ['an input whose size changed', (source: string) => writeFileSync(source, 'export const a = 12;\n'), 'a.ts changed'],
    ['an input touched', (source: string) => utimesSync(source, new Date(2030, 0, 1), new Date(2030, 0, 1)), 'a.ts changed'],
  ])('%s makes the bundle stale', (_name, change, reason) => {
    const { root, bundle, source } = builtWorld();
    change(source);
    expect(cliBundle.staleReason({ bundle, root })).toBe(reason);
  });

  test('an input removed makes the bundle stale', () => {
    const { root, bundle, source } = builtWorld();
    rmSync(source);
    expect(cliBundle.staleReason({ bundle, root })).toBe('a.ts is gone');
  });

  test('a content change that keeps size and mtime is found by the exact check only', () => {
    const { root, bundle, source } = builtWorld();
    writeFileSync(source, 'export const b = 1;\n');
    writeBundle(bundle, root, ['a.ts'], { 'a.ts': 'export const a = 1;\n' });
    expect([cliBundle.staleReason({ bundle, root }), cliBundle.staleReason({ bundle, root, exact: true })]).toEqual([null, 'a.ts changed']);
  });

  test.each([
    ['no file', null],
    ['a file without the inputs line', 'module.exports = {};\n'],
  ])('%s is no bundle', (_name, content) => {
    const root = tempDir('gpu-maint-bundle-');
    const bundle = path.join(root, 'main.cjs');
    if (content !== null) writeFileSync(bundle, content);
    expect(cliBundle.staleReason({ bundle, root })).toBe(`no bundle at ${bundle}`);
  });

  test('the bundle the test run uses is built from the current sources (global setup)', () => {
    expect(cliBundle.staleReason({ exact: true })).toBeNull();
  });
});

describe('the launcher', () => {
  test('runs the bundle file while it is current', () => {
    const dir = tempDir('gpu-maint-bundle-');
    const bundle = path.join(dir, 'main.cjs');
    const header = readFileSync(cliBundle.BUNDLE, 'utf8').split('\n', 1)[0];
    writeFileSync(bundle, `${header}\nexports.main = async () => { console.log('from the file'); return 0; };\n`);
    const run = launch(['--version'], bundle);
    expect([run.status, run.stdout]).toEqual([0, 'from the file\n']);
  });

  test('writes the code cache of a build once it ran, and replaces one that V8 rejects', () => {
    const dir = tempDir('gpu-maint-bundle-');
    const bundle = path.join(dir, 'main.cjs');
    const header = readFileSync(cliBundle.BUNDLE, 'utf8').split('\n', 1)[0];
    writeFileSync(bundle, `${header}\nexports.main = async () => { console.log('from the file'); return 0; };\n`);
    const cache = `${bundle}.${(JSON.parse(header.slice(cliBundle.HEADER.length)) as { id: string }).id}.v8cache`;
    writeFileSync(cache, 'not a code cache');
    const run = launch(['--version'], bundle);
    expect([run.status, run.stdout, readFileSync(cache).includes('not a code cache')]).toEqual([0, 'from the file\n', false]);
  });

  test("takes the settings of a command line run before from its build's memo, and checks a changed config file again", () => {
    // GIVEN a fresh build and a command line that loads a config
    const dir = tempDir('gpu-maint-bundle-');
    const bundle = path.join(dir, 'main.cjs');
    const config = path.join(dir, 'gpu-maint.json');
    writeFileSync(config, JSON.stringify({ gpuCheck: { schedule: { expression: 'rate(7 minutes)' } } }));
    const args = ['--config', config, 'schedule', '--systemd', '--no-verify'];
    const first = launch(args, bundle);
    expect([first.status, first.stdout.includes('gpu-check on rate(7 minutes)')], first.stderr).toEqual([0, true]);
    // WHEN the memo says something else for the same input, then the file changes
    const memoFile = path.join(dir, readdirSync(dir).find((name) => name.endsWith('.config-memo.json')) ?? 'no memo written');
    const memo = JSON.parse(readFileSync(memoFile, 'utf8')) as {
      entries: { config: { gpuCheck: { schedule: { expression: string } } } }[];
    };
    memo.entries[0].config.gpuCheck.schedule.expression = 'rate(9 minutes)';
    writeFileSync(memoFile, JSON.stringify(memo));
    const recalled = launch(args, bundle);
    writeFileSync(config, JSON.stringify({ gpuCheck: { schedule: { expresion: 'rate(7 minutes)' } } }));
    const changed = launch(args, bundle);
    // THEN the same input is answered from the memo, and the changed one by the schema
    expect([recalled.status, recalled.stdout.includes('gpu-check on rate(9 minutes)')], recalled.stderr).toEqual([0, true]);
    expect([changed.status, changed.stderr]).toEqual([2, expect.stringMatching(/gpuCheck\.schedule\.expresion: unknown setting/)]);
  });

  test('rebuilds a bundle of older sources before running it', () => {
    const dir = tempDir('gpu-maint-bundle-');
    const bundle = path.join(dir, 'main.cjs');
    writeFileSync(
      bundle,
      `${cliBundle.HEADER}${JSON.stringify({ format: 1, inputs: { 'bin/cli/main.ts': { size: 0, mtimeMs: 0, sha256: '' } } })}\nexports.main = async () => 0;\n`,
    );
    const run = launch(['--version'], bundle);
    expect([run.status, run.stdout, cliBundle.staleReason({ bundle, exact: true })]).toEqual([0, `gpu-maint ${version}\n`, null]);
  });

  test('builds a missing bundle, which finds the files beside its sources', () => {
    const bundle = path.join(tempDir('gpu-maint-bundle-'), 'deeper', 'main.cjs');
    const run = launch(['schedule', '--systemd', '--no-verify'], bundle);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`ExecStart=${process.execPath} ${LAUNCHER} run gpu-check\n`);
    expect(existsSync(bundle)).toBe(true);
  });

  test('runs a fresh build from memory where the bundle cannot be written', () => {
    const blocker = path.join(tempDir('gpu-maint-bundle-'), 'a-file');
    writeFileSync(blocker, '');
    const run = launch(['schedule', '--systemd', '--no-verify'], path.join(blocker, 'main.cjs'));
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Documentation=file://${path.join(REPO_ROOT, 'docs', 'single-host.md')}\n`);
  });
});

describe('the bundle and the sources', () => {
  test('render a terminal report, wrapped to the width and coloured, alike', async () => {
    const input = path.join(tempDir('gpu-maint-bundle-'), 'gpu-check.out');
    const xid = 'NVRM: Xid (PCI:0000:10:1d): 79, pid=1234, name=python3, GPU has fallen off the bus.';
    writeFileSync(input, gpuCheckOutput({ host: 'i-0abc', temperatures: { 3: 93 }, xidLines: [xid] }));
    const args = ['evaluate', 'gpu-check', '--input', input];
    const terminal = { isTty: true, color: true, columns: 48 };
    const bundled = cliBundle.runBundle(readFileSync(cliBundle.BUNDLE, 'utf8')).exports.main;
    const [fromSources, fromBundle] = [await runCli(args, terminal), await runCli(args, { ...terminal, main: bundled })];
    expect(fromSources.stdout).toContain('\x1b[');
    expect(fromBundle).toEqual(fromSources);
  });

  test("leave zod's translations out of the bundle and report a bad setting alike", async () => {
    const text = readFileSync(cliBundle.BUNDLE, 'utf8');
    expect([text.includes('node_modules/zod/v4/locales/en.js'), text.includes('node_modules/zod/v4/locales/fr.js')]).toEqual([true, false]);
    const args = ['--set', 'backup.unitDepth="deep"', '--set', 'fleet.shards=0', 'run', 'backup'];
    const bundled = cliBundle.runBundle(text).exports.main;
    const [fromSources, fromBundle] = [await runCli(args), await runCli(args, { main: bundled })];
    expect(fromSources.stderr).toMatch(/backup\.unitDepth: got "deep"; expected a number/);
    expect(fromBundle).toEqual(fromSources);
  });
});
