/**
 * s3:// archives staged in the state dir and sent in batches, one AWS CLI process per batch
 * (`aws s3 cp --recursive`), against a real S3 protocol server (s3rver on 127.0.0.1) through
 * /usr/bin/aws: requests per run, batches split by the budget, failures of a batch and of a unit's
 * stream, a full state disk, and staging folders a killed run left behind.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listObjectKeys, S3Server, s3rverClient } from '../helpers/fake-host';
import { loggedCalls, ScriptHarness } from './harness';
import { describeTree, diffTrees } from './tree';

const BUCKET = 'batch-bucket';
const UNITS = 7;
/** Each AWS CLI process is a Python start (seconds of CPU on the loaded 2-core machine): 20 s a call. */
const awsCalls = (n: number) => ({ timeout: 20_000 + n * 20_000 });

let h: ScriptHarness;
let server: S3Server;
let s3: S3Client;
let source: string;

/** Environment of a run against its own prefix and state dir, so that no test reuses another's archives. */
const env = (name: string, extra: Record<string, string> = {}) => ({
  GPU_MAINT_BACKUP_SOURCES: source,
  GPU_MAINT_BACKUP_DESTINATION: `s3://${BUCKET}/${name}`,
  GPU_MAINT_S3_ENDPOINT_URL: server.url,
  GPU_MAINT_STATE_DIR: path.join(h.root, `state-${name}`),
  // The AWS CLI's batches (`aws s3 cp --recursive`); curl's: backup-s3-curl.test.ts.
  GPU_MAINT_S3_CLIENT: 'aws',
  ...extra,
});

const keys = (name: string) => listObjectKeys(s3, BUCKET, `${name}/`);
const stagingLeft = (name: string) => {
  const state = path.join(h.root, `state-${name}`);
  return fs.existsSync(state) ? fs.readdirSync(state).filter((f) => f.startsWith('backup-stage.')) : [];
};

beforeAll(async () => {
  h = new ScriptHarness('gpu-maint-backup-s3-batch-');
  server = new S3Server(path.join(h.root, 's3data'), BUCKET);
  await server.start();
  s3 = s3rverClient(server.url);
  source = path.join(h.root, 'src');
  for (let i = 0; i < UNITS; i++) {
    const dir = path.join(source, `run-${i}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 3; f++) fs.writeFileSync(path.join(dir, `part-${f}.bin`), randomBytes(20_000));
    fs.writeFileSync(path.join(dir, 'metrics.log'), `step ${i}\n`.repeat(200));
  }
}, 60_000);

afterAll(async () => {
  await server?.stop();
  s3?.destroy();
  h?.cleanup();
});

describe('s3:// archives sent in batches', () => {
  test('a first backup sends every archive with one AWS CLI process and restores entry by entry', awsCalls(4 + UNITS), async () => {
    const log = path.join(h.root, 'one-batch.log');
    const run = await h.run('backup', env('one-batch'), { pathPrefix: [h.loggingBin('aws', log)] });
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv).toMatchObject({ status: 'ok', units_uploaded: String(UNITS) });
    const made = loggedCalls(log).map((c) => c.split(' ').slice(0, 3).join(' '));
    // The manifest's upload starts before the last batch is sent (its content follows the batch).
    expect(made.sort()).toEqual(['s3 cp --only-show-errors', 's3 cp --recursive', 's3api list-objects-v2 --bucket']);
    expect((await keys('one-batch')).filter((k) => k.includes('/units/'))).toHaveLength(UNITS);
    expect(stagingLeft('one-batch')).toEqual([]);
    const target = path.join(h.root, 'restore-one-batch');
    const restore = await h.run('restore', { ...env('one-batch'), GPU_MAINT_RESTORE_TARGET: target });
    expect(restore.code, restore.stderr).toBe(0);
    expect(diffTrees(describeTree(source), describeTree(target))).toEqual([]);
  });

  test('an unchanged rerun makes no staging folder and asks nothing of the disk', awsCalls(3), async () => {
    const log = path.join(h.root, 'rerun-df.log');
    const run = await h.run('backup', env('one-batch'), { pathPrefix: [h.loggingBin('df', log)] });
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv).toMatchObject({ status: 'ok', units_uploaded: '0', units_reused: String(UNITS) });
    expect(loggedCalls(log)).toEqual([]);
    expect(stagingLeft('one-batch')).toEqual([]);
  });

  test('archives beyond the batch budget go in several batches, each one AWS CLI process', awsCalls(6 + UNITS), async () => {
    const log = path.join(h.root, 'budget.log');
    // Each unit's bound is about 1.1 MB (data, headers, 1 MiB margin): two fit in 2.3 MB.
    const run = await h.run('backup', env('budget', { GPU_MAINT_BACKUP_S3_BATCH_BYTES: '2300000' }), {
      pathPrefix: [h.loggingBin('aws', log)],
    });
    expect(run.code, run.stderr).toBe(0);
    const batches = loggedCalls(log).filter((c) => c.startsWith('s3 cp --recursive'));
    expect(batches).toHaveLength(Math.ceil(UNITS / 2));
    expect(loggedCalls(log).filter((c) => / - s3:\/\/.*\/units\//.test(c))).toEqual([]);
    expect((await keys('budget')).filter((k) => k.includes('/units/'))).toHaveLength(UNITS);
  });

  test('an archive above the budget streams on its own while the others go in a batch', awsCalls(6), async () => {
    const mixed = path.join(h.root, 'mixed');
    fs.mkdirSync(path.join(mixed, 'big'), { recursive: true });
    fs.writeFileSync(path.join(mixed, 'big', 'weights.bin'), randomBytes(2 * 1024 * 1024));
    for (const name of ['a', 'b']) {
      fs.mkdirSync(path.join(mixed, name), { recursive: true });
      fs.writeFileSync(path.join(mixed, name, 'notes.txt'), `${name}\n`);
    }
    const log = path.join(h.root, 'mixed.log');
    // `big` is bounded by 2 MiB + 1 MiB, above the 2.3 MB budget; `a` and `b` fit together.
    const run = await h.run('backup', env('mixed', { GPU_MAINT_BACKUP_SOURCES: mixed, GPU_MAINT_BACKUP_S3_BATCH_BYTES: '2300000' }), {
      pathPrefix: [h.loggingBin('aws', log)],
    });
    expect(run.code, run.stderr).toBe(0);
    expect(loggedCalls(log).filter((c) => c.startsWith('s3 cp --recursive'))).toHaveLength(1);
    expect(loggedCalls(log).filter((c) => / - s3:\/\/.*\/units\/big-/.test(c))).toHaveLength(1);
    const target = path.join(h.root, 'restore-mixed');
    const restore = await h.run('restore', { ...env('mixed'), GPU_MAINT_RESTORE_TARGET: target });
    expect(restore.code, restore.stderr).toBe(0);
    expect(diffTrees(describeTree(mixed), describeTree(target))).toEqual([]);
  });

  test('a batch that cannot be stored fails the backup, names the destination and leaves no snapshot', awsCalls(4), async () => {
    const failing = h.fakeBin('failing-batch', {
      aws: 'if [[ "$1 $2 $3" == "s3 cp --recursive" ]]; then echo "upload failed: connection reset" >&2; exit 1; fi\nexec /usr/bin/aws "$@"',
    });
    const run = await h.run('backup', env('batch-fails'), { pathPrefix: [failing] });
    expect(run.code).toBe(1);
    expect(run.kv.status).toBe('failed');
    expect(run.kv.error).toContain(`cannot store the archives under s3://${BUCKET}/batch-fails/backups/test-host/units/`);
    expect(run.stderr).toContain('connection reset');
    expect((await keys('batch-fails')).filter((k) => k.includes('/snapshots/'))).toEqual([]);
    expect(stagingLeft('batch-fails')).toEqual([]);
  });

  test('a batch that fails while the next one fills fails the backup naming the destination, not a unit', awsCalls(5), async () => {
    const failing = h.fakeBin('failing-first-batch', {
      aws: 'if [[ "$1 $2 $3" == "s3 cp --recursive" ]]; then echo "upload failed: access denied" >&2; exit 1; fi\nexec /usr/bin/aws "$@"',
    });
    // Two units a batch: the first batch is sent, and found failed, while the third unit is staged.
    const run = await h.run('backup', env('batch-fails-midway', { GPU_MAINT_BACKUP_S3_BATCH_BYTES: '2300000' }), {
      pathPrefix: [failing],
    });
    expect(run.code).toBe(1);
    expect(run.kv.error).toMatch(
      new RegExp(`^cannot store the archives under s3://${BUCKET}/batch-fails-midway/backups/test-host/units/; no snapshot written`),
    );
    expect(run.stderr).toContain('upload of 2 archive(s)');
    expect((await keys('batch-fails-midway')).filter((k) => k.includes('/snapshots/'))).toEqual([]);
    expect(stagingLeft('batch-fails-midway')).toEqual([]);
  });

  test('a unit whose stream breaks is neither staged nor sent, and the backup fails', awsCalls(3), async () => {
    const cut = h.fakeBin('cut-zstd-batch', { zstd: '/usr/bin/zstd "$@" | head -c 1024\nexit 1' });
    const run = await h.run('backup', env('stream-breaks'), { pathPrefix: [cut] });
    expect(run.code).toBe(1);
    expect(run.kv.status).toBe('failed');
    expect(await keys('stream-breaks')).toEqual([]);
    expect(stagingLeft('stream-breaks')).toEqual([]);
  });

  test('with little free space in the state dir every archive is streamed on its own', awsCalls(3 + UNITS), async () => {
    const log = path.join(h.root, 'full-disk.log');
    // df as it reads on a nearly full disk: 10 MiB available.
    const full = h.fakeBin('full-df', {
      df: 'printf "Filesystem 1-blocks Used Available Capacity Mounted on\\n/dev/x 1073741824 1063256064 10485760 99%% /\\n"',
    });
    const run = await h.run('backup', env('full-disk'), { pathPrefix: [full, h.loggingBin('aws', log)] });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('staging off: 10.0 MiB free');
    expect(loggedCalls(log).filter((c) => c.startsWith('s3 cp --recursive'))).toEqual([]);
    expect(loggedCalls(log).filter((c) => / - s3:\/\/.*\/units\//.test(c))).toHaveLength(UNITS);
  });

  test('a staging folder a killed backup left behind is removed by the next backup', awsCalls(4 + UNITS), async () => {
    const left = path.join(h.root, 'state-left-behind', 'backup-stage.AbC123', '1');
    fs.mkdirSync(left, { recursive: true });
    fs.writeFileSync(path.join(left, 'half-written.tar.zst'), randomBytes(1000));
    const run = await h.run('backup', env('left-behind'));
    expect(run.code, run.stderr).toBe(0);
    expect(stagingLeft('left-behind')).toEqual([]);
    expect((await keys('left-behind')).some((k) => k.includes('half-written'))).toBe(false);
  });
});
