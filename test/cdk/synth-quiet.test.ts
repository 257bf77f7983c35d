/**
 * `cdk synth -q`, as an operator or CI runs it, offline: it prints nothing on success (no bundling
 * progress, no warnings, no notices), so whatever it does print is worth reading.
 */
import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { quietBundlingNotices } from '../../bin/app';
import { REPO_ROOT } from '../helpers/fixtures';
import { cdkOutdir, tempDir } from '../helpers/temp';

test('npx cdk synth -q prints nothing and succeeds', () => {
  const run = spawnSync('npx', ['cdk', 'synth', '-q', '-o', cdkOutdir()], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 240_000,
    // The app runs through tsx, whose compile cache goes to TMPDIR: one the suite removes.
    env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true', TMPDIR: tempDir('gpu-maint-synth-tmp-') },
  });
  expect(run.stderr).toBe('');
  expect(run.stdout).toBe('');
  expect(run.status).toBe(0);
});

test("the app's stderr drops CDK's bundling notice and passes everything else", () => {
  const written: string[] = [];
  const stream = { write: (chunk: string) => written.push(chunk) > 0 } as unknown as NodeJS.WriteStream;
  quietBundlingNotices(stream);
  stream.write('Bundling asset GpuMaint/Collect/Handler/Function/Code/Stage...\n');
  stream.write('gpu-maint: config (defaults): fleet.name: got "a b"\n');
  stream.write('Bundling asset is a phrase in a longer line...\nand more\n');
  expect(written).toEqual([
    'gpu-maint: config (defaults): fleet.name: got "a b"\n',
    'Bundling asset is a phrase in a longer line...\nand more\n',
  ]);
});
