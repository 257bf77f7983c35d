/**
 * Pieces of the fake hosts that the script and CLI harnesses build (test/backup, test/cleanup,
 * test/health, test/faults): the base environment, the bundled task script run with bash, executables shadowing real tools, files of a given size and age, the AWS
 * CLI v2 on PATH, and s3rver (an S3-protocol server from npm) on 127.0.0.1 with the dummy credentials
 * it accepts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { paginateListObjectsV2, S3Client } from '@aws-sdk/client-s3';
import { bundleTaskScript } from '../../lambda/tasks/scripts';
import { inheritedClockEnv } from './clock-env';
import { REPO_ROOT } from './fixtures';

const DAY_MS = 86_400_000;

/**
 * What every process on a fake host gets, below the harness's own settings: the test run's clock
 * (libfaketime under `npm run test:future`), no instance metadata, a fixed host id.
 */
export function fakeHostEnv(hostId: string): Record<string, string> {
  return { ...inheritedClockEnv(), GPU_MAINT_IMDS: 'off', GPU_MAINT_HOST_ID: hostId };
}

/** Writes the bundled script of a task (the bytes SSM and local mode run) to `dir/<task>.sh`; returns its path. */
export function writeTaskScript(dir: string, task: Parameters<typeof bundleTaskScript>[0]): string {
  const file = path.join(dir, `${task}.sh`);
  fs.writeFileSync(file, bundleTaskScript(task), { mode: 0o700 });
  return file;
}

export interface BashRun {
  /** Null when a signal ended it (the timeout included). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface BashRunOptions {
  /** @default 'bash' found on the PATH of this process */
  readonly bash?: string;
  /** SIGTERM after this long. @default no limit */
  readonly timeoutMs?: number;
  /** Sees the stderr so far each time more arrives (to act while the script works). */
  readonly onStderr?: (text: string) => void;
}

/**
 * Runs `bash file` with exactly `env`. Asynchronous, so that servers the test runs in this process
 * (s3rver's clients, IMDS, endpoints) keep answering while bash runs.
 */
export function runBash(file: string, env: Record<string, string>, options: BashRunOptions = {}): Promise<BashRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.bash ?? 'bash', [file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), options.timeoutMs);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString('utf8');
      options.onStderr?.(err);
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: err });
    });
  });
}

/** Writes an executable bash script `dir/name` running `body` (made or replaced); returns its path. */
export function writeFakeTool(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/usr/bin/env bash\n${body}\n`);
  fs.chmodSync(file, 0o755);
  return file;
}

/** A directory `root/fake-<name>` of executables shadowing real tools, to put first on PATH. */
export function fakeBinDir(root: string, name: string, tools: Record<string, string>): string {
  const dir = path.join(root, `fake-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const [tool, body] of Object.entries(tools)) writeFakeTool(dir, tool, body);
  return dir;
}

/** `root/aws-bin` holding /usr/bin/aws (awscli v2), to put before the inherited PATH: a pyenv's `aws` may be v1. */
export function awsCliBinDir(root: string): string {
  const dir = path.join(root, 'aws-bin');
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, 'aws'))) fs.symlinkSync('/usr/bin/aws', path.join(dir, 'aws'));
  return dir;
}

/** Sets a path's mtime (and atime) to `days` before now. */
export function age(file: string, days: number): void {
  const when = new Date(Date.now() - days * DAY_MS);
  fs.utimesSync(file, when, when);
}

/** Writes a file of `bytes` bytes, `days` old, creating its directories. */
export function put(file: string, bytes: number, days = 0): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.alloc(bytes, 0x61));
  age(file, days);
  return file;
}

/** Files below a directory, relative paths, sorted (for "nothing else was written" checks). */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.push(path.relative(dir, full));
    }
  };
  walk(dir);
  return out.sort();
}

/** A TCP port that is free now, on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The AWS CLI settings of a process that talks to s3rver: the dummy credentials s3rver accepts, and
 * nothing read from the machine (no instance metadata, no config or credentials file).
 */
export const S3RVER_AWS_CLI_ENV: Readonly<Record<string, string>> = {
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONFIG_FILE: '/dev/null',
  AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
};

/** An SDK client for s3rver at `endpoint` (path-style, dummy credentials). */
export function s3rverClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
}

/** Every key below a prefix of a bucket, sorted (all listing pages). */
export async function listObjectKeys(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix })) {
    out.push(...(page.Contents ?? []).map((o) => o.Key as string));
  }
  return out.sort();
}

/**
 * s3rver on 127.0.0.1 with one bucket, in its own process. The port is chosen on the first start and
 * kept, so that a server stopped mid-run comes back at the same endpoint.
 */
export class S3Server {
  private child: ChildProcess | null = null;
  port = 0;

  constructor(
    private readonly dataDir: string,
    readonly bucket: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const child = spawn(
      process.execPath,
      [
        // s3rver's continuation tokens are DES-encrypted, a cipher OpenSSL 3 keeps in its legacy provider:
        // without it the second page of a listing is a 500.
        '--openssl-legacy-provider',
        path.join(REPO_ROOT, 'node_modules/s3rver/bin/s3rver.js'),
        '-d',
        this.dataDir,
        '-a',
        '127.0.0.1',
        '-p',
        String(this.port),
        '--configure-bucket',
        this.bucket,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${log}`)), 20_000);
      const onData = (c: Buffer) => {
        log += c.toString();
        if (log.includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.on('exit', (code) => reject(new Error(`s3rver exited ${code}: ${log}`)));
    });
    // Keep draining its request log so that it never blocks on a full pipe.
    child.stdout?.resume();
    child.stderr?.resume();
    this.child = child;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  /** Object keys below a prefix, from s3rver's data folder (`<bucket>/<key>._S3rver_object`). */
  keys(prefix: string): string[] {
    return listFiles(path.join(this.dataDir, this.bucket))
      .filter((f) => f.endsWith('._S3rver_object'))
      .map((f) => f.slice(0, -'._S3rver_object'.length))
      .filter((k) => k.startsWith(prefix))
      .sort();
  }

  /** The stored bytes of an object. */
  objectPath(key: string): string {
    return path.join(this.dataDir, this.bucket, `${key}._S3rver_object`);
  }
}
