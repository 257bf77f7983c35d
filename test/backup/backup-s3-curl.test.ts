/**
 * Backups to s3:// through curl (GPU_MAINT_S3_CLIENT=auto with credentials curl can sign with), against
 * s3rver on 127.0.0.1 behind a proxy that checks every request's SigV4 signature with the AWS SDK's signer
 * (test/helpers/sigv4-proxy.ts): a round trip with a multipart upload and an aws-userid host key from STS,
 * the requests of an unchanged rerun, one curl process per staged batch, a backup killed mid-upload, and
 * the AWS CLI taking over when a first request is refused. An `aws` on PATH that fails shows the AWS
 * CLI is never started where curl can sign.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listObjectKeys, S3Server, s3rverClient } from '../helpers/fake-host';
import { type SigV4Proxy, startSigV4Proxy } from '../helpers/sigv4-proxy';
import { loggedCalls, ScriptHarness } from './harness';
import { describeTree, diffTrees } from './tree';

const BUCKET = 'curl-bucket';
/** The shape of an aws-userid host key (`<role id>:<instance id>`): `:` is encoded in every request path. */
const HOST = 'AROAEXAMPLEROLE:i-0abc1234';

let h: ScriptHarness;
let server: S3Server;
let proxy: SigV4Proxy;
let s3: S3Client;
let source: string;
let noAws: string;
let awsLog: string;

const env = (prefix: string, extra: Record<string, string> = {}) => ({
  GPU_MAINT_HOST_ID: HOST,
  GPU_MAINT_BACKUP_SOURCES: source,
  GPU_MAINT_BACKUP_DESTINATION: `s3://${BUCKET}/${prefix}`,
  GPU_MAINT_S3_ENDPOINT_URL: proxy.endpoint,
  GPU_MAINT_STATE_DIR: path.join(h.root, `state-${prefix}`),
  ...extra,
});
const keys = (prefix: string) => listObjectKeys(s3, BUCKET, `${prefix}/backups/${HOST}/`);
const requestsDuring = async <T>(work: () => Promise<T>) => {
  const from = proxy.requests.length;
  const result = await work();
  return { result, requests: proxy.requests.slice(from) };
};

beforeAll(async () => {
  h = new ScriptHarness('gpu-maint-backup-s3-curl-');
  server = new S3Server(path.join(h.root, 's3data'), BUCKET);
  await server.start();
  proxy = await startSigV4Proxy(server.url, [{ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }], { S3RVER: HOST });
  s3 = s3rverClient(server.url);
  source = path.join(h.root, 'src');
  for (const [name, bytes] of [
    ['model/weights-00001.safetensors', 20 * 1024 * 1024],
    ['model/config.json', 300],
    ['tokenizer/vocab.json', 5000],
    ['logs/run-1.log', 2000],
  ] as const) {
    fs.mkdirSync(path.dirname(path.join(source, name)), { recursive: true });
    fs.writeFileSync(path.join(source, name), randomBytes(bytes));
  }
  awsLog = path.join(h.root, 'aws-started.log');
  noAws = h.fakeBin('no-aws', { aws: `printf '%s\\n' "$*" >> '${awsLog}'\necho "the AWS CLI must not run here" >&2\nexit 99` });
});

afterAll(async () => {
  await proxy?.close();
  await server?.stop();
  s3?.destroy();
  h?.cleanup();
});

describe('backup to s3:// through curl', () => {
  test('a backup with a multipart upload and its restore go through curl alone, every request signed as the AWS SDK signs it', async () => {
    const { result: backup, requests } = await requestsDuring(() =>
      h.run('backup', env('round', { GPU_MAINT_BACKUP_S3_BATCH_BYTES: '0' }), { pathPrefix: [noAws] }),
    );
    expect(backup.code, backup.stderr).toBe(0);
    expect(requests.every((r) => r.valid)).toBe(true);
    // The 20 MiB weights went up as a multipart upload: started, parts, completed.
    expect(requests.some((r) => r.line.startsWith('POST ') && r.line.endsWith('?uploads='))).toBe(true);
    expect(requests.filter((r) => r.line.startsWith('PUT ') && r.line.includes('partNumber='))).toHaveLength(2);
    expect(requests.some((r) => r.line.startsWith('PUT ') && r.line.includes('AROAEXAMPLEROLE%3Ai-0abc1234'))).toBe(true);
    const target = path.join(h.root, 'restore-round');
    const restore = await h.run('restore', { ...env('round'), GPU_MAINT_RESTORE_TARGET: target }, { pathPrefix: [noAws] });
    expect(restore.code, restore.stderr).toBe(0);
    expect(diffTrees(describeTree(source), describeTree(target))).toEqual([]);
    expect(loggedCalls(awsLog)).toEqual([]);
  });

  test('the aws-userid host key comes from STS through curl, and the backup lands under it', async () => {
    const { result: run, requests } = await requestsDuring(() =>
      h.run('backup', env('userid', { GPU_MAINT_BACKUP_HOST_KEY: 'aws-userid', AWS_ENDPOINT_URL_STS: proxy.endpoint }), {
        pathPrefix: [noAws],
      }),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(requests[0]).toMatchObject({ line: 'POST /', valid: true });
    expect((await keys('userid')).some((k) => k.includes('/snapshots/'))).toBe(true);
    expect(loggedCalls(awsLog)).toEqual([]);
  });

  test('an unchanged rerun makes four requests: the signature check (two, in one process), one listing and the manifest', async () => {
    const first = await h.run('backup', env('rerun'), { pathPrefix: [noAws] });
    expect(first.code, first.stderr).toBe(0);
    const { result: rerun, requests } = await requestsDuring(() => h.run('backup', env('rerun'), { pathPrefix: [noAws] }));
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.kv).toMatchObject({ units_uploaded: '0', bytes_uploaded: '0' });
    const folder = `/${BUCKET}/rerun/backups/AROAEXAMPLEROLE%3Ai-0abc1234`;
    expect(requests.map((r) => r.line.replace(/\?.*/, '?…').replace(/[^/]+\.json$/, '<id>.json'))).toEqual([
      `GET /${BUCKET}/?…`,
      `GET ${folder}/.signature-check`,
      `GET /${BUCKET}/?…`,
      `PUT ${folder}/snapshots/<id>.json`,
    ]);
    expect(requests.every((r) => r.valid)).toBe(true);
  });

  test('the archives of a staged batch go up with one curl process', async () => {
    const log = path.join(h.root, 'curl-calls.log');
    const run = await h.run('backup', env('batch'), { pathPrefix: [noAws, h.loggingBin('curl', log)] });
    expect(run.code, run.stderr).toBe(0);
    const batches = loggedCalls(log).filter((c) => c.includes('--parallel'));
    expect(batches).toHaveLength(1);
    expect((await keys('batch')).filter((k) => k.includes('/units/')).length).toBeGreaterThanOrEqual(3);
  });

  test('a backup killed while a multipart upload is in flight stores neither the object nor a snapshot', async () => {
    fs.writeFileSync(path.join(source, 'model/weights-00001.safetensors'), randomBytes(20 * 1024 * 1024));
    const before = await keys('round');
    // zstd hands over the first 17 MiB (one part and more), then kills every bash process of the script.
    const killer = h.fakeBin('killing-zstd', {
      zstd: [
        '/usr/bin/zstd "$@" | head -c 17825792',
        'pkill -KILL -x -f "$(tr "\\0" " " </proc/$PPID/cmdline | sed "s/ $//")"',
        'sleep 5',
      ].join('\n'),
    });
    // A killed script leaves its temp folder; this one is removed below.
    const scratch = path.join(h.root, 'tmp-killed');
    fs.mkdirSync(scratch);
    const run = await h.run('backup', env('round', { GPU_MAINT_BACKUP_S3_BATCH_BYTES: '0', TMPDIR: scratch }), {
      pathPrefix: [noAws, killer],
    });
    expect(run.code).not.toBe(0);
    // Long enough for an upload that survived to complete.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await keys('round')).toEqual(before);
  });

  test.each([
    ['auto', /S3 requests go through the AWS CLI: a first request was refused \(HTTP 403, SignatureDoesNotMatch\)/, true],
    [
      'curl',
      /GPU_MAINT_S3_CLIENT=curl, but curl cannot send the requests of s3:\/\/curl-bucket\/refused\/: a first request was refused \(HTTP 403, SignatureDoesNotMatch\)/,
      false,
    ],
  ])(
    'a refused first request with GPU_MAINT_S3_CLIENT=%s is said, and the AWS CLI takes over only under auto',
    async (client, said, awsTakesOver) => {
      const log = path.join(h.root, `aws-${client}.log`);
      proxy.setCredentials([{ accessKeyId: 'S3RVER', secretAccessKey: 'another-secret' }]);
      try {
        const run = await h.run('backup', env('refused', { GPU_MAINT_S3_CLIENT: client }), {
          pathPrefix: [h.fakeBin(`logging-aws-${client}`, { aws: `printf '%s\\n' "$*" >> '${log}'\nexit 255` })],
        });
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(said);
        expect(loggedCalls(log).length > 0).toBe(awsTakesOver);
      } finally {
        proxy.setCredentials([{ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }]);
      }
    },
  );
});
