/**
 * scripts/backup.sh when the manifest cannot be written completely (scratch disk full): no snapshot
 * may name only the units that happened to fit. The write failure is made real with a file size
 * limit (`ulimit -f`, SIGXFSZ ignored so that writes fail with EFBIG instead of killing bash).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseKeyValues, parseResult } from '../../lambda/core/contract';
import { bundleTaskScript } from '../../lambda/tasks/scripts';
import { listFiles } from '../helpers/fake-host';
import { ScriptHarness } from './harness';

let h: ScriptHarness;

beforeAll(() => {
  h = new ScriptHarness('gpu-maint-manifest-write-');
});
afterAll(() => h.cleanup());

/**
 * Runs the backup bundle with the script's own writes limited to `limitKiB` KiB per file (a soft
 * limit), while cp, which copies the manifest into the destination, lifts it: the scratch disk is
 * full, the destination is not.
 */
function runWithFileSizeLimit(limitKiB: number, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const bundle = path.join(h.root, 'backup-limited.sh');
  fs.writeFileSync(bundle, bundleTaskScript('backup'), { mode: 0o700 });
  const unlimitedCp = h.fakeBin('unlimited-cp', { cp: 'ulimit -S -f unlimited\nexec /bin/cp "$@"' });
  return new Promise((resolve, reject) => {
    // An ignored signal stays ignored across exec: the script's writes past the limit get EFBIG.
    const child = spawn('bash', ['-c', `trap '' XFSZ; ulimit -S -f ${limitKiB}; exec bash "$0"`, bundle], {
      env: h.env(env, [unlimitedCp]),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('a manifest that cannot be written completely fails the backup and leaves no snapshot', async () => {
  // 16 tiny units: each archive stays far below 2 KiB, the manifest (a line per unit) does not.
  const src = path.join(h.root, 'src');
  for (let i = 0; i < 16; i++) {
    fs.mkdirSync(path.join(src, `run-${String(i).padStart(2, '0')}`), { recursive: true });
    fs.writeFileSync(path.join(src, `run-${String(i).padStart(2, '0')}`, 'metrics.json'), `{"step":${i}}\n`);
  }
  const dest = path.join(h.root, 'dest');
  const run = await runWithFileSizeLimit(2, { GPU_MAINT_BACKUP_SOURCES: src, GPU_MAINT_BACKUP_DESTINATION: `file://${dest}` });
  const kv = parseKeyValues(parseResult(run.stdout).sections.get('backup')?.stdout ?? '');
  expect(run.code, run.stderr).toBe(1);
  expect(kv.status).toBe('failed');
  expect(kv.error).toContain('cannot write manifest');
  expect(kv.snapshot).toBe('');
  expect(listFiles(path.join(dest, 'backups', 'test-host', 'snapshots'))).toEqual([]);
});
