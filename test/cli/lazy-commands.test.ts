/**
 * bin/cli/main.ts imports a command's module only when the command line names it (the others cost
 * start-up time), and every module when help, suggestions or errors must list them all.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import { processIo } from '../../bin/cli/context';
import { COMMANDS, commandsFor } from '../../bin/cli/main';
import { tempDir } from '../helpers/temp';

const cliBundle = createRequire(__filename)('../../bin/cli-bundle.cjs') as { readonly BUNDLE: string };

const REPO_ROOT = path.resolve(__dirname, '../..');
const ALL = COMMANDS.map((c) => c.name);

function launch(args: readonly string[]) {
  return spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs'), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('which command modules a command line loads', () => {
  test.each([
    [['run', 'backup', '--json'], ['run']],
    [['--config', 'run', 'restore', '--to', '/tmp/x'], ['restore']],
    [['--config=/etc/gpu-maint.yaml', '--set', 'a.b=1', '--set=c.d=2', 'snapshots', 'list'], ['snapshots']],
    [['run', '--help'], ['run']],
    [[], ALL],
    [['--help'], ALL],
    [['help', 'run'], ALL],
    [['runn', 'backup'], ALL],
    [['--bogus', 'run'], ALL],
    [['--setx', 'run'], ALL],
    [['--config'], ALL],
    [['--version'], []],
    [['--config', '/etc/gpu-maint.yaml', '-V'], []],
    [['run', '--version'], ['run']],
  ])('%j loads %j', (argv, expected) => {
    expect(commandsFor(argv).map((c) => c.name)).toEqual(expected);
  });

  test.each(ALL)('the module loaded for %s registers exactly that command', async (name) => {
    const program = new Command('gpu-maint');
    const register = await COMMANDS.find((c) => c.name === name)!.load();
    register(program, processIo);
    expect(program.commands.map((c) => c.name())).toEqual([name]);
  });
});

describe('the launcher (the built bundle)', () => {
  test('--help lists every command', () => {
    const run = launch(['--help']);
    expect(run.status, run.stderr).toBe(0);
    for (const name of ALL) expect(run.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });

  test('--help runs the built bundle and loads no AWS SDK package', () => {
    const preload = path.join(tempDir('gpu-maint-lazy-'), 'print-loaded.cjs');
    writeFileSync(preload, "process.on('exit', () => process.stderr.write(`\\n${JSON.stringify(Object.keys(require.cache))}`));\n");
    const run = spawnSync(process.execPath, ['--require', preload, path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs'), '--help'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    const loaded = JSON.parse(run.stderr.split('\n').at(-1) ?? '') as string[];
    expect([loaded.includes(cliBundle.BUNDLE), loaded.filter((file) => file.includes('/node_modules/@aws-sdk/'))]).toEqual([true, []]);
  });

  test('--help does not load string-width, which builds an Intl.Segmenter when it loads', () => {
    const preload = path.join(tempDir('gpu-maint-lazy-'), 'count-segmenters.cjs');
    writeFileSync(
      preload,
      `let made = 0;
Intl.Segmenter = class extends Intl.Segmenter { constructor(...args) { super(...args); made++; } };
process.on('exit', () => process.stderr.write(\`\\nsegmenters=\${made}\`));
`,
    );
    const run = spawnSync(process.execPath, ['--require', preload, path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs'), '--help'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect([run.status, run.stderr.split('\n').at(-1)]).toEqual([0, 'segmenters=0']);
  });

  test('a command given by name loads and shows its own help', () => {
    const run = launch(['restore', '--help']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Usage: gpu-maint restore \[options\]/);
  });
});
