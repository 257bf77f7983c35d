/**
 * scripts/lib/s3-http.sh under real bash and real curl against s3rver on 127.0.0.1, behind a proxy that
 * checks each request's SigV4 signature with the AWS SDK's signer (test/helpers/sigv4-proxy.ts): keys S3
 * must URI-encode, listings over several pages, single and multipart uploads, uploads never committed,
 * a batch with failures, instance-profile credentials and their renewal, and the settings that keep the
 * AWS CLI.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listObjectKeys, S3Server, s3rverClient } from '../helpers/fake-host';
import { REPO_ROOT } from '../helpers/fixtures';
import { type ImdsServer, startImdsServer } from '../helpers/imds-server';
import { closeServer, listenOnLoopback } from '../helpers/loopback-server';
import { type SigV4Proxy, startSigV4Proxy } from '../helpers/sigv4-proxy';
import { tempDir } from '../helpers/temp';

const BUCKET = 'lib-bucket';
const KEYS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE+KEY' };
/** A key with every kind of character S3 wants encoded in a path: `:` and `@` (aws-userid host keys), space, `+`, `&`. */
const ODD_KEY = 'fleet/backups/AROAEXAMPLE:i-0abc@x/units/a b+c&d.tar.zst';

let root: string;
let server: S3Server;
let proxy: SigV4Proxy;
let s3: S3Client;

interface LibRun {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/**
 * Runs bash with common.sh and s3-http.sh sourced, s3h_init and s3h_probe done against the proxy, then `body`.
 * Asynchronous: the proxy and the fake IMDS answer from this process.
 */
function runLib(body: string, env: Record<string, string> = {}, input?: Buffer): Promise<LibRun> {
  const script = [
    'set -euo pipefail',
    `source '${REPO_ROOT}/scripts/lib/common.sh'`,
    `source '${REPO_ROOT}/scripts/lib/s3-http.sh'`,
    'S3H_SCRATCH="$(mktemp -d)"',
    `{ s3h_init '${BUCKET}' "\${ENDPOINT}" "\${READ_TIMEOUT:-10}" "\${S3H_SCRATCH}/s3" && s3h_probe 60 fleet/; } || { printf 'WHY=%s\\n' "\${S3H_WHY}"; rm -rf -- "\${S3H_SCRATCH}"; exit 3; }`,
    'on_exit remove_scratch',
    'remove_scratch() { rm -rf -- "${S3H_SCRATCH}"; }',
    body,
  ].join('\n');
  const child = spawn('bash', ['-c', script], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: root,
      TMPDIR: root,
      LC_ALL: 'C',
      GPU_MAINT_IMDS: 'off',
      AWS_ACCESS_KEY_ID: KEYS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      ENDPOINT: proxy.endpoint,
      ...env,
    },
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.on('error', () => {});
  child.stdin.end(input ?? Buffer.alloc(0));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    }),
  );
}

const text = (b: Buffer) => b.toString('utf8');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
async function objectBytes(key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

beforeAll(async () => {
  root = tempDir('gpu-maint-s3-http-');
  server = new S3Server(path.join(root, 's3data'), BUCKET);
  await server.start();
  proxy = await startSigV4Proxy(server.url, [KEYS]);
  s3 = s3rverClient(server.url);
});

afterAll(async () => {
  await proxy?.close();
  await server?.stop();
  s3?.destroy();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('s3-http.sh', () => {
  test('an object whose key holds characters S3 encodes is put, listed and read back, each request signed as the AWS SDK signs it', async () => {
    const file = path.join(root, 'odd.bin');
    const bytes = randomBytes(3000);
    fs.writeFileSync(file, bytes);
    const from = proxy.requests.length;
    const run = await runLib(
      `s3h_put_file '${file}' '${ODD_KEY}' 60 application/octet-stream\ns3h_list 'fleet/backups/AROAEXAMPLE:i-0abc@x/' 60\ns3h_get '${ODD_KEY}' 60 | sha256sum`,
    );
    expect(run.status, text(run.stderr)).toBe(0);
    expect(text(run.stdout)).toBe(`3000\t${ODD_KEY}\n${sha256(bytes)}  -\n`);
    const sent = proxy.requests.slice(from);
    // The first two are the signature check: an empty listing and a read of a key that does not exist.
    expect(sent.map((r) => r.line.split(' ')[0])).toEqual(['GET', 'GET', 'PUT', 'GET', 'GET']);
    expect(sent[1].line).toBe(`GET /${BUCKET}/fleet/.signature-check`);
    expect(sent.every((r) => r.valid)).toBe(true);
    expect(sent[2].line).toContain('AROAEXAMPLE%3Ai-0abc%40x/units/a%20b%2Bc%26d.tar.zst');
  });

  test('every header curl signs includes the payload declaration and the date', async () => {
    const run = await runLib(`s3h_list 'fleet/' 60 >/dev/null`);
    expect(run.status, text(run.stdout) + text(run.stderr)).toBe(0);
    const last = proxy.requests[proxy.requests.length - 1];
    expect(last.valid).toBe(true);
    expect(last.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-content-sha256', 'x-amz-date']));
  });

  test('a listing over several pages returns every key once', async () => {
    const keys = ['fleet/pages/a', 'fleet/pages/b&c', 'fleet/pages/d', 'fleet/pages/e', 'fleet/pages/f'];
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Key }));
    const from = proxy.requests.length;
    const run = await runLib(`S3H_LIST_MAX_KEYS=2\ns3h_list 'fleet/pages/' 60`);
    expect(run.status, text(run.stderr)).toBe(0);
    expect(text(run.stdout)).toBe(keys.map((k) => `${k.length}\t${k}\n`).join(''));
    // Three pages; every continuation token signed with the rest of its query.
    expect(proxy.requests.slice(from).filter((r) => r.line.includes('list-type=2&max-keys=2'))).toHaveLength(3);
    expect(proxy.requests.slice(from).every((r) => r.valid)).toBe(true);
  });

  test.each([
    ['single PUT', 5 * 1024 * 1024, 1],
    ['multipart upload, fewer parts than run at once', 40 * 1024 * 1024, 3],
    ['multipart upload, more parts than run at once', 6 * 16 * 1024 * 1024 + 5, 7],
  ])('a committed stream is stored whole (%s)', async (_kind, size, parts) => {
    const bytes = randomBytes(size);
    const key = `fleet/stream/${size}.bin`;
    const work = path.join(root, `work-${size}`);
    const commit = path.join(root, `commit-${size}`);
    fs.writeFileSync(commit, '');
    const from = proxy.requests.length;
    const run = await runLib(`s3h_put_stream '${key}' ${size} '${work}' '${commit}' 120`, {}, bytes);
    expect(run.status, text(run.stderr)).toBe(0);
    expect(sha256(await objectBytes(key))).toBe(sha256(bytes));
    expect(proxy.requests.slice(from).filter((r) => r.line.startsWith('PUT '))).toHaveLength(parts);
    expect(proxy.requests.slice(from).every((r) => r.valid)).toBe(true);
    expect(fs.existsSync(work)).toBe(false);
  });

  test.each([
    ['single PUT', 1024 * 1024],
    ['multipart upload', 40 * 1024 * 1024],
  ])('a stream that ends without its commit file stores nothing (%s)', async (_kind, size) => {
    const key = `fleet/uncommitted/${size}.bin`;
    const work = path.join(root, `uncommitted-${size}`);
    const from = proxy.requests.length;
    const run = await runLib(`s3h_put_stream '${key}' ${size} '${work}' '${path.join(root, 'never-made')}' 120`, {}, randomBytes(size));
    expect(run.status).toBe(1);
    expect(await listObjectKeys(s3, BUCKET, 'fleet/uncommitted/')).toEqual([]);
    const lines = proxy.requests.slice(from).map((r) => r.line.split('?')[1] ?? '');
    // A multipart upload is aborted, never completed.
    expect(lines.filter((q) => q.startsWith('uploadId=') && !q.includes('partNumber'))).toHaveLength(size > 16 * 1024 * 1024 ? 1 : 0);
    expect(proxy.requests.slice(from).filter((r) => r.line.startsWith('POST ') && r.line.includes('uploadId='))).toEqual([]);
    expect(fs.existsSync(work)).toBe(false);
  });

  test('a part that cannot be stored aborts the multipart upload, and nothing is stored', async () => {
    const bin = path.join(root, 'failing-part-bin');
    fs.mkdirSync(bin, { recursive: true });
    // The second part's PUT is answered 500 every time (curl's retries included).
    fs.writeFileSync(
      path.join(bin, 'curl'),
      '#!/bin/bash\nif [[ " $* " == *"partNumber=2&"* ]]; then printf \'<Error><Code>InternalError</Code></Error>\' >"${@: -4:1}"; printf 500; exit 0; fi\nexec /usr/bin/curl "$@"\n',
      { mode: 0o755 },
    );
    const size = 4 * 16 * 1024 * 1024 + 1;
    const commit = path.join(root, 'commit-failing');
    fs.writeFileSync(commit, '');
    const from = proxy.requests.length;
    const run = await runLib(
      `s3h_put_stream fleet/failing/part.bin ${size} '${path.join(root, 'work-failing')}' '${commit}' 120`,
      { PATH: `${bin}:${process.env.PATH}` },
      randomBytes(size),
    );
    expect(run.status).toBe(1);
    expect(text(run.stderr)).toMatch(
      /error: upload of part 2 of s3:\/\/lib-bucket\/fleet\/failing\/part\.bin failed \(HTTP 500, InternalError\)/,
    );
    expect(await listObjectKeys(s3, BUCKET, 'fleet/failing/')).toEqual([]);
    const sent = proxy.requests.slice(from).map((r) => r.line);
    expect(sent.filter((l) => l.startsWith('DELETE ') && l.includes('uploadId='))).toHaveLength(1);
    expect(sent.filter((l) => l.startsWith('POST ') && l.includes('uploadId='))).toEqual([]);
  });

  test('a batch names the objects it could not store and fails', async () => {
    const dir = path.join(root, 'batch');
    for (const name of ['a.tar.zst', 'b/c.tar.zst']) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), name);
    }
    const run = await runLib(`S3H_BUCKET_URL="\${ENDPOINT}/no-such-bucket"\ns3h_put_tree '${dir}' fleet/batch/ 60`);
    expect(run.status).toBe(1);
    expect(text(run.stderr)).toMatch(/error: 2 upload\(s\) below s3:\/\/lib-bucket\/fleet\/batch\/ failed: .*c\.tar\.zst \(HTTP 404\)/);
  });

  test('a batch stores every file of a folder under its relative path, with one curl process', async () => {
    const dir = path.join(root, 'batch-ok');
    const names = ['one.tar.zst', 'sub/two.tar.zst', 'sub/deeper/three.tar.zst'];
    for (const name of names) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), name);
    }
    const run = await runLib(`s3h_put_tree '${dir}' fleet/batch-ok/ 60`);
    expect(run.status, text(run.stderr)).toBe(0);
    expect(await listObjectKeys(s3, BUCKET, 'fleet/batch-ok/')).toEqual(names.map((n) => `fleet/batch-ok/${n}`).sort());
  });

  test('a refused signature fails s3h_init and says why', async () => {
    proxy.setCredentials([{ ...KEYS, secretAccessKey: 'another-secret' }]);
    try {
      const run = await runLib('echo unreachable');
      expect(run.status).toBe(3);
      expect(text(run.stdout)).toBe('WHY=a first request was refused (HTTP 403, SignatureDoesNotMatch)\n');
    } finally {
      proxy.setCredentials([KEYS]);
    }
  });

  test.each([
    ['AWS_PROFILE', { AWS_PROFILE: 'ops' }, 'AWS_PROFILE is set'],
    ['AWS_ENDPOINT_URL_S3', { AWS_ENDPOINT_URL_S3: 'https://example.test' }, 'AWS_ENDPOINT_URL_S3 is set'],
    ['AWS_USE_FIPS_ENDPOINT', { AWS_USE_FIPS_ENDPOINT: 'true' }, 'AWS_USE_FIPS_ENDPOINT is set'],
    [
      'a key id without its secret',
      { AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: '' },
      'AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY',
    ],
    [
      'no credentials and no instance metadata',
      { AWS_ACCESS_KEY_ID: '', AWS_EC2_METADATA_DISABLED: 'true' },
      'no credentials in the environment and AWS_EC2_METADATA_DISABLED',
    ],
    ['an unknown region', { AWS_DEFAULT_REGION: 'moon', ENDPOINT: '' }, "region 'moon' is unknown"],
  ])('%s keeps the AWS CLI', async (_name, env, why) => {
    const run = await runLib('echo unreachable', env);
    expect(run.status).toBe(3);
    expect(text(run.stdout)).toBe(`WHY=${why}\n`);
  });

  test('a credentials file naming a profile keeps the AWS CLI', async () => {
    const file = path.join(root, 'credentials');
    fs.writeFileSync(file, '[default]\naws_access_key_id = AKIA\naws_secret_access_key = x\n');
    const run = await runLib('echo unreachable', { AWS_ACCESS_KEY_ID: '', AWS_SHARED_CREDENTIALS_FILE: file });
    expect(run.status).toBe(3);
    expect(text(run.stdout)).toBe(`WHY=${file} names credentials\n`);
  });

  describe('reads that fail on the way', () => {
    /** An S3 stand-in (no signature check): an empty bucket, one object that stalls mid-body, one answered 503 once. */
    const body = randomBytes(100_000);
    const gets: string[] = [];
    let server: http.Server;
    let endpoint = '';
    beforeAll(async () => {
      let busy = 0;
      server = http.createServer((req, res) => {
        const url = req.url ?? '';
        gets.push(url);
        if (url.startsWith(`/${BUCKET}/?`)) {
          res
            .writeHead(200, { 'content-type': 'application/xml' })
            .end('<ListBucketResult><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>');
        } else if (url === `/${BUCKET}/fleet/cut`) {
          res.writeHead(200, { 'content-length': String(body.length) });
          // Then nothing: the read timeout (1 s here) ends the transfer, an error curl's --retry retries.
          res.write(body.subarray(0, 30_000));
        } else if (url.startsWith(`/${BUCKET}/fleet/stall/`)) {
          // Takes the upload and never answers.
          req.resume();
        } else if (url === `/${BUCKET}/fleet/busy` && busy++ === 0) {
          res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code></Error>');
        } else if (url === `/${BUCKET}/fleet/busy`) {
          res.writeHead(200, { 'content-length': String(body.length) }).end(body);
        } else {
          res.writeHead(404, { 'content-type': 'application/xml' }).end('<Error><Code>NoSuchKey</Code></Error>');
        }
      });
      endpoint = await listenOnLoopback(server);
    });
    afterAll(async () => {
      await closeServer(server);
    });

    test('a read that stalls mid-body fails and is not tried again into the same stream', async () => {
      const run = await runLib(`s3h_get fleet/cut 60`, { ENDPOINT: endpoint, READ_TIMEOUT: '1' });
      expect(run.status).not.toBe(0);
      expect(run.stdout.length).toBeLessThanOrEqual(30_000);
      expect(gets.filter((g) => g === `/${BUCKET}/fleet/cut`)).toHaveLength(1);
    });

    test('a batch stopped with TERM while it is sent leaves no curl behind', async () => {
      const dir = path.join(root, 'batch-stopped');
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'a "quoted" \\ name.tar.zst'), randomBytes(1000));
      const run = await runLib(
        [
          's3h_put_tree "' + dir + '" fleet/stall/ 60 & sender=$!',
          // Until curl has sent the upload (its connection is held by the stand-in), then stop the sender.
          'for _ in $(seq 100); do pgrep -f "fleet/stall/" >/dev/null && break; sleep 0.05; done',
          'sleep 0.3; kill -TERM "${sender}"; wait "${sender}" || echo "sender ended $?"',
          'sleep 0.2; pgrep -f "curl.*-K ${S3H_DIR}/tree" || echo "no curl left"',
        ].join('\n'),
        { ENDPOINT: endpoint },
      );
      expect(text(run.stdout)).toBe('sender ended 143\nno curl left\n');
      expect(gets.some((g) => g.startsWith(`/${BUCKET}/fleet/stall/a%20%22quoted%22%20%5C%20name.tar.zst`))).toBe(true);
    });

    test('a read refused before its first byte is tried again and copies the object once', async () => {
      const run = await runLib(`s3h_get fleet/busy 60`, { ENDPOINT: endpoint });
      expect(run.status, text(run.stderr)).toBe(0);
      expect(sha256(run.stdout)).toBe(sha256(body));
      expect(gets.filter((g) => g === `/${BUCKET}/fleet/busy`)).toHaveLength(2);
    });
  });

  describe('with the instance profile', () => {
    let imds: ImdsServer;
    const profile = (id: string, expiration: string) =>
      JSON.stringify(
        {
          Code: 'Success',
          Type: 'AWS-HMAC',
          AccessKeyId: id,
          SecretAccessKey: `${id}/secret+x`,
          Token: `token-of-${id}`,
          Expiration: expiration,
        },
        null,
        2,
      );
    const metadata: Record<string, string> = {
      'placement/region': 'us-east-1',
      'iam/security-credentials/': 'gpu-host-role',
      'iam/security-credentials/gpu-host-role': profile('ASIAFIRST', '2099-01-01T00:00:00Z'),
    };
    const imdsEnv = () => ({
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_DEFAULT_REGION: '',
      GPU_MAINT_IMDS: 'auto',
      GPU_MAINT_IMDS_ENDPOINT: imds.endpoint,
    });

    beforeAll(async () => {
      imds = await startImdsServer({ metadata });
    });
    afterAll(async () => {
      await imds?.close();
    });

    test('its credentials and session token sign the requests, and the region comes from the instance', async () => {
      proxy.setCredentials([{ accessKeyId: 'ASIAFIRST', secretAccessKey: 'ASIAFIRST/secret+x', sessionToken: 'token-of-ASIAFIRST' }]);
      try {
        const run = await runLib(`s3h_list 'fleet/pages/' 60 | wc -l`, imdsEnv());
        expect(run.status, text(run.stderr)).toBe(0);
        expect(text(run.stdout).trim()).toBe('5');
        const last = proxy.requests[proxy.requests.length - 1];
        expect(last.valid).toBe(true);
        expect(last.signedHeaders).toContain('x-amz-security-token');
        expect(imds.requests).toContain('GET /latest/meta-data/placement/region');
      } finally {
        proxy.setCredentials([KEYS]);
      }
    });

    test('credentials due for renewal are fetched again before the next request', async () => {
      const first = { accessKeyId: 'ASIAFIRST', secretAccessKey: 'ASIAFIRST/secret+x', sessionToken: 'token-of-ASIAFIRST' };
      const second = { accessKeyId: 'ASIASECOND', secretAccessKey: 'ASIASECOND/secret+x', sessionToken: 'token-of-ASIASECOND' };
      // The instance has the first credentials at the start of the run, the second ones after.
      let fetched = 0;
      Object.defineProperty(metadata, 'iam/security-credentials/gpu-host-role', {
        configurable: true,
        enumerable: true,
        get: () => profile(fetched++ === 0 ? 'ASIAFIRST' : 'ASIASECOND', '2099-01-01T00:00:00Z'),
      });
      proxy.setCredentials([first, second]);
      const from = proxy.requests.length;
      try {
        const run = await runLib(
          ['S3H_RENEW_AT=1', "s3h_list 'fleet/pages/' 60 | wc -l", 'sed -n "s/^user = \\"\\([A-Z]*\\):.*/\\1/p" "${S3H_CONFIG}"'].join(
            '\n',
          ),
          imdsEnv(),
        );
        expect(run.status, text(run.stderr)).toBe(0);
        expect(text(run.stdout)).toBe('5\nASIASECOND\n');
        expect(fetched).toBe(2);
        // The first credentials sign the two first requests, the renewed ones the listing.
        expect(proxy.requests.slice(from).map((r) => r.keyId)).toEqual(['ASIAFIRST', 'ASIAFIRST', 'ASIASECOND']);
      } finally {
        proxy.setCredentials([KEYS]);
      }
    });
  });
});
