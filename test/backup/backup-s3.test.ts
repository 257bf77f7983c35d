/**
 * Backups to a real S3 protocol server (s3rver on 127.0.0.1, started and stopped here) through
 * /usr/bin/aws with dummy credentials (GPU_MAINT_S3_CLIENT=aws; the curl client: backup-s3-curl.test.ts): round trip, incremental reruns, cut uploads (writer failing,
 * producer failing, server stopped mid-run), and the CLI's snapshots list and prune over s3://.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CheckReport } from '../../lambda/core/backup/check';
import { compareSnapshotIds, parseManifest } from '../../lambda/core/backup/manifest';
import { runCli } from '../helpers/cli';
import { listObjectKeys, S3Server, s3rverClient } from '../helpers/fake-host';
import { loggedCalls, ScriptHarness } from './harness';
import { type AdversarialTree, buildAdversarialTree, describeTree, diffTrees, type EntryInfo, hexPath, withoutExcluded } from './tree';

const BUCKET = 'test-bucket';
const PREFIX = 'fleet-a';

/**
 * What these tests wait for is the AWS CLI: each `aws` process is a Python start (about 0.5 s of CPU on
 * an idle machine, seconds under load) before any request. A backup lists, sends its staged archives in
 * one batch and writes the manifest; a streamed run (`streamed()`) and a restore start one process per
 * object. Measured on the shared 2-core machine under load: 8 s for `aws --version`, 12-17 s per
 * upload. Each deadline below counts the calls its test makes at most, at 20 s a call.
 */
const AWS_CALL_MS = 20_000;
const awsCalls = (n: number) => ({ timeout: 20_000 + n * AWS_CALL_MS });
/** Units of the compact tree (each one object), plus the listing and the manifest around them. */
const WHOLE_TREE = 7 + 3;

let h: ScriptHarness;
let tree: AdversarialTree;
let server: S3Server;
let s3: S3Client;
let firstState: Map<string, EntryInfo>;
const savedEnv: Record<string, string | undefined> = {};

const endpoint = () => server.url;
const env = (extra: Record<string, string> = {}) => ({
  GPU_MAINT_BACKUP_SOURCES: tree.root,
  GPU_MAINT_BACKUP_EXCLUDE: '*.tmp,checkpoints/temp',
  GPU_MAINT_BACKUP_DESTINATION: `s3://${BUCKET}/${PREFIX}`,
  GPU_MAINT_S3_ENDPOINT_URL: endpoint(),
  GPU_MAINT_S3_CLIENT: 'aws',
  ...extra,
});
/** Every archive streamed on its own (`aws s3 cp -`), as archives above the staging budget are. */
const streamed = (extra: Record<string, string> = {}) => env({ GPU_MAINT_BACKUP_S3_BATCH_BYTES: '0', ...extra });

const keys = (prefix = `${PREFIX}/backups/test-host/`) => listObjectKeys(s3, BUCKET, prefix);
const snapshotKeys = async () => (await keys()).filter((k) => k.includes('/snapshots/'));
const archiveKeys = async () => (await keys()).filter((k) => k.includes('/units/'));

beforeAll(async () => {
  h = new ScriptHarness('gpu-maint-backup-s3-');
  server = new S3Server(path.join(h.root, 's3data'), BUCKET);
  await server.start();
  for (const [k, v] of Object.entries({
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
  })) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  s3 = s3rverClient(endpoint());
  tree = buildAdversarialTree(path.join(h.root, 'src'), { compact: true });
  firstState = withoutExcluded(describeTree(tree.root), tree.excluded);
  const run = await h.run('backup', env());
  expect(run.code, run.stderr).toBe(0);
}, awsCalls(WHOLE_TREE).timeout);

afterAll(async () => {
  await server?.stop();
  s3?.destroy();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  h?.cleanup();
});

describe('backup to s3:// (s3rver)', () => {
  test('a restore from S3 equals the source entry by entry', awsCalls(WHOLE_TREE), async () => {
    const target = path.join(h.root, 'restore-full');
    const run = await h.run('restore', { ...env(), GPU_MAINT_RESTORE_TARGET: target });
    expect(run.code, run.stderr).toBe(0);
    expect(diffTrees(firstState, describeTree(target))).toEqual([]);
  });

  test('an unchanged rerun uploads no archive bytes', awsCalls(4), async () => {
    const before = await archiveKeys();
    const run = await h.run('backup', env());
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv).toMatchObject({ status: 'ok', units_uploaded: '0', bytes_uploaded: '0' });
    expect(await archiveKeys()).toEqual(before);
    expect(await snapshotKeys()).toHaveLength(2);
  });

  test('an unchanged rerun lists the host once, reads no manifest (its own cached copy) and writes one', awsCalls(3), async () => {
    const log = path.join(h.root, 'aws-calls.log');
    const run = await h.run('backup', env(), { pathPrefix: [h.loggingBin('aws', log)] });
    expect(run.code, run.stderr).toBe(0);
    const calls = loggedCalls(log);
    // The manifest's upload starts with the listing (its id foreseen from the cached copy): either may log first.
    expect(calls.map((c) => c.split(' ').slice(0, 2).join(' ')).sort()).toEqual(['s3 cp', 's3api list-objects-v2']);
    expect(calls.find((c) => c.startsWith('s3 cp'))).toMatch(/ - s3:\/\/.*\/snapshots\/[0-9TZ-]+\.json/);
  });

  test('a manifest upload started ahead that fails is put again, and the snapshot is written', awsCalls(4), async () => {
    const before = await snapshotKeys();
    // The upload fed through the gate (`-`) fails after reading its input; a put of the file works.
    const failing = h.fakeBin('failing-ahead-aws', {
      aws: 'if [[ "$1 $2" == "s3 cp" && " $* " == *" - s3://"*"/snapshots/"* ]]; then cat >/dev/null; echo "connection reset" >&2; exit 1; fi\nexec /usr/bin/aws "$@"',
    });
    const run = await h.run('backup', env(), { pathPrefix: [failing] });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/started ahead failed \(exit 1\): connection reset.*putting it again/);
    const added = (await snapshotKeys()).filter((k) => !before.includes(k));
    expect(added.map((k) => path.basename(k, '.json'))).toEqual([run.kv.snapshot]);
  });

  test('a rerun whose cached manifest is no longer the newest stores nothing under the id it foresaw', awsCalls(8), async () => {
    const before = await snapshotKeys();
    const elsewhere = await h.run('backup', env({ GPU_MAINT_STATE_DIR: path.join(h.root, 'state-elsewhere') }));
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    const run = await h.run('backup', env());
    expect(run.code, run.stderr).toBe(0);
    const added = (await snapshotKeys()).filter((k) => !before.includes(k));
    const sequences = added.map((k) => Number(/-(\d+)\.json$/.exec(k)?.[1]));
    const newest = Math.max(...before.map((k) => Number(/-(\d+)\.json$/.exec(k)?.[1])));
    expect(sequences.sort((a, b) => a - b)).toEqual([newest + 1, newest + 2]);
    expect(added.map((k) => path.basename(k, '.json'))).toContain(run.kv.snapshot);
  });

  test('changing one unit re-sends only that unit', awsCalls(5), async () => {
    const before = await archiveKeys();
    fs.writeFileSync(path.join(tree.root, 'hard/a'), 'changed through both links\n');
    const run = await h.run('backup', env());
    expect(run.code, run.stderr).toBe(0);
    expect(run.kv.units_uploaded).toBe('1');
    const added = (await archiveKeys()).filter((k) => !before.includes(k));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(/\/units\/hard-[0-9a-f]{12}\/[0-9a-f]{64}\.tar\.zst$/);
  });

  test('a backup whose bash processes are all killed while its manifest upload waits stores no snapshot', awsCalls(6), async () => {
    const before = await snapshotKeys();
    const readme = path.join(tree.root, 'README.md');
    const original = fs.readFileSync(readme);
    fs.writeFileSync(readme, '# killed before its manifest\n');
    // The first zstd waits until the manifest's AWS CLI runs, then kills every process of the script
    // (`pkill -9 -f backup.sh` would): the script and the gate feeding that CLI, not the CLI.
    const killer = h.fakeBin('killing-zstd', {
      zstd: [
        'for _ in $(seq 200); do pgrep -f "aws s3 cp .* - s3://.*/snapshots/" >/dev/null && break; sleep 0.1; done',
        'pkill -KILL -x -f "$(tr "\\0" " " </proc/$PPID/cmdline | sed "s/ $//")"',
        'sleep 5',
      ].join('\n'),
    });
    const scratch = path.join(h.root, 'tmp-killed');
    fs.mkdirSync(scratch);
    const run = await h.run('backup', env({ TMPDIR: scratch }), { pathPrefix: [killer] });
    fs.writeFileSync(readme, original);
    expect(run.code).not.toBe(0);
    // Long enough for the CLI, had it survived, to send what it read.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await snapshotKeys()).toEqual(before);
    // Nor is the CLI left waiting.
    const left = spawnSync('pgrep', ['-f', `s3://${BUCKET}/${PREFIX}/backups/test-host/snapshots/`], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
  });

  test('a streamed upload whose writer dies mid-stream leaves no object and no snapshot', awsCalls(5), async () => {
    fs.writeFileSync(path.join(tree.root, 'model a/weights.bin'), randomBytes(256 * 1024));
    const before = await keys();
    // An AWS CLI whose streamed upload reads 20 KB and then fails, like a dropped connection.
    const failing = h.fakeBin('failing-aws', {
      aws: 'if [[ "$1 $2" == "s3 cp" && " $* " == *" - "* ]]; then head -c 20000 >/dev/null; echo "upload failed" >&2; exit 1; fi\nexec /usr/bin/aws "$@"',
    });
    const run = await h.run('backup', streamed(), { pathPrefix: [failing] });
    expect(run.code).toBe(1);
    expect(run.kv.status).toBe('failed');
    expect(await keys()).toEqual(before);
  });

  test('a streamed archive that breaks before its end is never completed as an object', awsCalls(5), async () => {
    const before = await keys();
    const cut = h.fakeBin('cut-zstd', { zstd: '/usr/bin/zstd "$@" | head -c 10240\nexit 1' });
    const run = await h.run('backup', streamed(), { pathPrefix: [cut] });
    expect(run.code).toBe(1);
    expect(await keys()).toEqual(before);
  });

  test('a server stopped mid-backup leaves no snapshot, and the previous one restores after a restart', awsCalls(10), async () => {
    const before = await snapshotKeys();
    const slow = h.fakeBin('slow-zstd', { zstd: 'sleep 1\nexec /usr/bin/zstd "$@"' });
    let stopping: Promise<void> | null = null;
    // Few retries: the CLI's default back-off against a dead endpoint only makes the test slow.
    const run = await h.run(
      'backup',
      { ...streamed(), GPU_MAINT_PROGRESS: '1', AWS_MAX_ATTEMPTS: '2' },
      {
        pathPrefix: [slow],
        onStderr: (text) => {
          if (!stopping && text.includes('progress: task=backup unit= units=0/')) stopping = server.stop();
        },
      },
    );
    await stopping;
    expect(run.code).toBe(1);
    expect(run.kv.status).toBe('failed');
    await server.start();
    expect(await snapshotKeys()).toEqual(before);
    const target = path.join(h.root, 'restore-after-stop');
    const restore = await h.run('restore', { ...env(), GPU_MAINT_RESTORE_TARGET: target, GPU_MAINT_RESTORE_UNITS: 'model a' });
    expect(restore.code, restore.stderr).toBe(0);
    expect(describeTree(target).get(hexPath('model a/weights.bin'))?.sha256).toBe(firstState.get(hexPath('model a/weights.bin'))?.sha256);
  });

  test('without python3 the coreutils digest path uploads and verifies the same way', awsCalls(9), async () => {
    // A PATH with every tool of /usr/bin except python3 (the AWS CLI's own shebang still finds it).
    const noPython = path.join(h.root, 'no-python-bin');
    fs.mkdirSync(noPython, { recursive: true });
    for (const name of fs.readdirSync('/usr/bin')) {
      if (!name.startsWith('python')) fs.symlinkSync(path.join('/usr/bin', name), path.join(noPython, name));
    }
    fs.writeFileSync(path.join(tree.root, 'README.md'), '# digest without python\n');
    const backup = await h.run('backup', { ...streamed(), PATH: noPython });
    expect(backup.code, backup.stderr).toBe(0);
    // README.md, and `model a` whose new weights the cut uploads above never stored.
    expect(backup.kv.units_uploaded).toBe('2');
    const target = path.join(h.root, 'restore-no-python');
    const restore = await h.run('restore', {
      ...env(),
      PATH: noPython,
      GPU_MAINT_RESTORE_TARGET: target,
      GPU_MAINT_RESTORE_UNITS: 'README.md',
    });
    expect(restore.code, restore.stderr).toBe(0);
    expect(fs.readFileSync(path.join(target, 'README.md'), 'utf8')).toBe('# digest without python\n');
  });

  test('gpu-maint snapshots list shows the host and its snapshots over s3://', async () => {
    const cli = await runCli([
      '--set',
      `backup.destination=s3://${BUCKET}/${PREFIX}`,
      '--set',
      `backup.s3EndpointUrl=${endpoint()}`,
      'snapshots',
      'list',
      '--json',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    const listed = JSON.parse(cli.stdout) as { hosts: { hostKey: string; snapshots: { id: string; readable: boolean }[] }[] };
    expect(listed.hosts.map((x) => x.hostKey)).toEqual(['test-host']);
    expect(listed.hosts[0].snapshots.map((s) => `${PREFIX}/backups/test-host/snapshots/${s.id}.json`)).toEqual(await snapshotKeys());
  });

  test('gpu-maint prune over s3:// keeps the newest snapshot and every archive it references', awsCalls(WHOLE_TREE), async () => {
    const cli = await runCli([
      '--set',
      `backup.destination=s3://${BUCKET}/${PREFIX}`,
      '--set',
      `backup.s3EndpointUrl=${endpoint()}`,
      '--set',
      'backup.retention={"keepLast":1,"keepDaily":0,"keepWeekly":0,"keepMonthly":0,"graceDays":0}',
      'prune',
      '--json',
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(await snapshotKeys()).toHaveLength(1);
    const target = path.join(h.root, 'restore-after-prune');
    const run = await h.run('restore', { ...env(), GPU_MAINT_RESTORE_TARGET: target });
    expect(run.code, run.stderr).toBe(0);
    // The newest snapshot holds the current tree: its reused archives (hard) and its new ones survived.
    expect(diffTrees(withoutExcluded(describeTree(tree.root), tree.excluded), describeTree(target))).toEqual([]);
  });

  /** The CLI against the bucket (s3rver), through the SDK: no AWS CLI process. */
  const s3Cli = (args: string[]) =>
    runCli(['--set', `backup.destination=s3://${BUCKET}/${PREFIX}`, '--set', `backup.s3EndpointUrl=${endpoint()}`, ...args]);

  test('gpu-maint check over s3:// reads every archive of the latest snapshot and passes', async () => {
    const run = await s3Cli(['check', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as CheckReport;
    expect(report.units.length).toBeGreaterThan(0);
    expect(report.units.every((u) => u.status === 'ok')).toBe(true);
  });

  test('gpu-maint check over s3:// fails on one changed byte of an object and names its unit', async () => {
    // The archive of `model a` that the latest snapshot references (older ones may still wait out the grace period).
    const latest = (await snapshotKeys())
      .sort((a, b) => compareSnapshotIds(path.basename(a, '.json'), path.basename(b, '.json')))
      .at(-1) as string;
    const manifestText = await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: latest }))).Body?.transformToString();
    const unit = parseManifest(manifestText ?? '', latest).units.find((u) => u.path === 'model a');
    const key = `${PREFIX}/backups/test-host/${unit?.key}`;
    const original = await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body?.transformToByteArray();
    if (!original) throw new Error(`${key} has no body`);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 8] ^= 0x80;
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: damaged }));
    try {
      const run = await s3Cli(['check']);
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/^ {2}model_a-[0-9a-f]+ .* CORRUPT$/m);
      expect(run.stdout).toMatch(/has sha256 [0-9a-f]{64}; the manifest says [0-9a-f]{64} \(corrupt\)/);
      expect(run.stderr).toMatch(/check failed: 1 of \d+ units of snapshot \S+ damaged \(model_a-[0-9a-f]+\)/);
    } finally {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from(original) }));
    }
  });

  test('gpu-maint ls over s3:// lists a unit from its archive', async () => {
    const run = await s3Cli(['ls', 'latest', 'hard']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual([`${tree.root}/hard`, `${tree.root}/hard/a`, `${tree.root}/hard/b`]);
  });
});
