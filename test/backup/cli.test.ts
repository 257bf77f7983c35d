/**
 * The backup commands of the CLI against a file:// destination: `run backup` (local mode, progress on
 * a terminal), `snapshots list`, `prune` and `restore`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli';

let root: string;
let set: string[];
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-backup-cli-'));
  // Scripts inherit this environment: a fixed host id, and never a metadata request.
  for (const [k, v] of Object.entries({ GPU_MAINT_HOST_ID: 'cli-host', GPU_MAINT_IMDS: 'off' })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  fs.mkdirSync(path.join(root, 'models/llama/shards'), { recursive: true });
  fs.writeFileSync(path.join(root, 'models/llama/shards/00.safetensors'), 'weights');
  fs.mkdirSync(path.join(root, 'models/bert'));
  fs.writeFileSync(path.join(root, 'models/bert/model.bin'), 'bert');
  set = ['--set', `local.stateDir=${path.join(root, 'state')}`, '--set', `backup.sources=["${path.join(root, 'models')}"]`];
});

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(root, { recursive: true, force: true });
});

describe('gpu-maint backup commands', () => {
  test('run backup on a terminal shows progress and reports the snapshot', async () => {
    const status: string[] = [];
    const run = await runCli([...set, 'run', 'backup'], { isTty: true, status: (line) => status.push(line) });
    expect(run.code, run.stderr).toBe(0);
    expect(status).toContainEqual(
      expect.stringMatching(/^backup 2\/2 units · (llama|bert)-[0-9a-f]+ · .* of .* · .*\/s · ETA \d+:\d\d · /),
    );
    expect(status.at(-1)).toBe('');
    expect(run.stderr).not.toContain('progress:');
    expect(run.stdout).toMatch(/backup\.run\s+snapshot \d{8}T\d{6}Z-\d+: 2 units \(2 uploaded, 0 reused\)/);
  });

  test('run backup where the sources do not exist says there is nothing to back up and exits 0', async () => {
    const run = await runCli([
      '--set',
      `local.stateDir=${path.join(root, 'state-empty')}`,
      '--set',
      `backup.sources=["${path.join(root, 'none')}"]`,
      'run',
      'backup',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { findings: { check: string; message: string }[]; snapshot: unknown };
    expect(result.findings[0].message).toBe(`nothing to back up: ${path.join(root, 'none')} does not exist (backup.sources)`);
    expect(result.snapshot).toBeNull();
  });

  test('snapshots list shows the host and its snapshot in the default destination under the state dir', async () => {
    const run = await runCli([...set, 'snapshots', 'list']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`cli-host: 1 snapshot(s) in file://${path.join(root, 'state', 'backups')}/backups/cli-host/`);
    const lines = run.stdout.split('\n');
    expect(lines[1]).toMatch(/^ {2}snapshot +age +units +entries +data +stored$/);
    expect(lines[2]).toMatch(/^ {2}\d{8}T\d{6}Z-\d+ +\d+ (s|min) ago +2 \(2 sent\) +\d+ +\S+ B +\S+ B$/);
  });

  test('prune --dry-run reports what it keeps and deletes nothing', async () => {
    const before = fs.readdirSync(path.join(root, 'state/backups/backups/cli-host/snapshots'));
    const run = await runCli([...set, 'prune', '--dry-run']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('dry run: retention applied to');
    expect(run.stdout).toMatch(/^ {2}action +snapshot +why kept$/m);
    expect(run.stdout).toMatch(/^ {2}keep +\d{8}T\d{6}Z-\d+ {2}newest, last, daily, weekly, monthly$/m);
    expect(fs.readdirSync(path.join(root, 'state/backups/backups/cli-host/snapshots'))).toEqual(before);
  });

  test('restore --snapshot latest restores into an empty directory and lists the units', async () => {
    const target = path.join(root, 'restored');
    const run = await runCli([...set, 'restore', '--snapshot', 'latest', '--host', 'cli-host', '--to', target]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^restored 2 of 2 units of snapshot \d{8}T\d{6}Z-\d+ \(host cli-host\) into .*: \d+ entries, .*, verified/);
    expect(fs.readFileSync(path.join(target, 'llama/shards/00.safetensors'), 'utf8')).toBe('weights');
  });

  test('restore into a non-empty directory without --force exits 1 and says why', async () => {
    const run = await runCli([...set, 'restore', '--snapshot', 'latest', '--to', path.join(root, 'restored')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('is not empty; use --force');
  });

  test('restore --unit by path with --force replaces only that unit', async () => {
    fs.writeFileSync(path.join(root, 'restored/bert/model.bin'), 'damaged');
    const run = await runCli([...set, 'restore', '--snapshot', 'latest', '--unit', 'bert', '--to', path.join(root, 'restored'), '--force']);
    expect(run.code, run.stderr).toBe(0);
    expect(fs.readFileSync(path.join(root, 'restored/bert/model.bin'), 'utf8')).toBe('bert');
  });

  test.each([
    [
      ['restore', '--snapshot', 'yesterday', '--to', '/tmp/x'],
      '--snapshot "yesterday": expected a snapshot id such as 20261128T020000Z-42, or latest',
    ],
    [['restore', '--snapshot', 'latest', '--host', '../etc', '--to', '/tmp/x'], '--host "../etc": expected a host key'],
    [['snapshots', 'list', '--host', 'a b'], '--host "a b": expected a host key'],
    [['restore', '--snapshot', 'latest', '--to', "/tmp/it's"], 'target "/tmp/it\'s" is not allowed'],
  ])('%j is a usage error naming the bad value', async (args, message) => {
    const run = await runCli([...set, ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});
