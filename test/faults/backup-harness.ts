/**
 * Shared pieces of the backup and restore fault cases: a temp world (state dir, config file, a source
 * tree, a file:// or s3:// destination), the real CLI started as a process (`node bin/gpu-maint.cjs`),
 * s3rver on 127.0.0.1, a TCP server that accepts and never answers, and fakes on PATH (a `date` that
 * runs ahead). Every case removes what it made (`dispose`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect } from 'vitest';
import { awsCliBinDir, fakeBinDir, fakeHostEnv, listFiles, S3RVER_AWS_CLI_ENV, S3Server } from '../helpers/fake-host';
import { REPO_ROOT } from '../helpers/fixtures';

export const CLI = path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs');
export const HOST = 'fault-host';
export const BUCKET = 'fault-bucket';

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Directories put first on PATH (fakes). */
  readonly pathPrefix?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Called with the stderr seen so far each time more arrives. */
  readonly onStderr?: (text: string, child: ChildProcess) => void;
  /** `ulimit -f` (KiB) for the CLI and everything it starts: a file grown past it fails (a full disk). */
  readonly fileSizeLimitKiB?: number;
  /** Run as this unprivileged uid (setpriv when the tests run as root; the world is handed to it). */
  readonly asUid?: number;
}

/**
 * True when cases can run the CLI as an unprivileged user: not root, or root with setpriv and a checkout
 * that user can reach (a clone under a 0700 home is not, and the CLI's node_modules must be readable).
 */
export const CAN_DROP_PRIVILEGES =
  process.getuid?.() !== 0 ||
  (fs.existsSync('/usr/bin/setpriv') &&
    spawnSync('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', path.join(REPO_ROOT, 'package.json')])
      .status === 0);

/** A server on 127.0.0.1 that accepts connections and never sends a byte (a hung S3 endpoint). */
export async function silentServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const srv: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const address = srv.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

export type StoreKind = 'file' | 's3';

/**
 * One case's world: `root/` holds `state/`, `src/` (the backup source), `config.json` and, for file://,
 * `dest/`. The CLI runs with host id HOST and no instance metadata.
 */
export class FaultWorld {
  readonly root: string;
  readonly src: string;
  readonly state: string;
  readonly dest: string;
  readonly tmp: string;
  private readonly awsDir: string;
  private config: Record<string, unknown>;
  s3: S3Server | null = null;

  constructor(
    readonly kind: StoreKind = 'file',
    backup: Record<string, unknown> = {},
  ) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-bfault-'));
    this.src = path.join(this.root, 'src');
    this.state = path.join(this.root, 'state');
    this.dest = path.join(this.root, 'dest');
    this.tmp = path.join(this.root, 'tmp');
    fs.mkdirSync(this.src);
    fs.mkdirSync(this.tmp);
    this.awsDir = awsCliBinDir(this.root);
    this.config = {
      local: { stateDir: this.state },
      backup: { sources: [this.src], exclude: ['*.tmp'], ...(kind === 'file' ? { destination: `file://${this.dest}` } : {}), ...backup },
    };
    this.writeConfig();
  }

  /** Starts s3rver and points the config at it (s3 worlds). */
  async start(): Promise<this> {
    if (this.kind === 's3') {
      this.s3 = new S3Server(path.join(this.root, 's3data'), BUCKET);
      await this.s3.start();
      this.setBackup({ destination: `s3://${BUCKET}/fleet`, s3EndpointUrl: this.s3.url });
    }
    return this;
  }

  setBackup(values: Record<string, unknown>): void {
    this.config.backup = { ...(this.config.backup as Record<string, unknown>), ...values };
    this.writeConfig();
  }

  private writeConfig(): void {
    fs.writeFileSync(path.join(this.root, 'config.json'), JSON.stringify(this.config, null, 2));
  }

  /** Writes a file below the source (parents made), optionally with a fixed mtime. */
  write(rel: string, data: string | Buffer, mtime?: Date): string {
    const file = path.join(this.src, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, data);
    if (mtime) fs.utimesSync(file, mtime, mtime);
    return file;
  }

  /** The host's folder in the store: `backups/<host>/` (a file path for file://, a key prefix for s3://). */
  hostPrefix(): string {
    return this.kind === 'file' ? path.join(this.dest, 'backups', HOST) : `fleet/backups/${HOST}/`;
  }

  /** Files or keys in the host's folder, relative to it (`snapshots/<id>.json`, `units/...`). */
  stored(): string[] {
    if (this.kind === 'file') return listFiles(this.hostPrefix());
    return (this.s3 as S3Server).keys(this.hostPrefix()).map((k) => k.slice(this.hostPrefix().length));
  }

  snapshots(): string[] {
    return this.stored()
      .filter((k) => k.startsWith('snapshots/'))
      .map((k) => k.slice('snapshots/'.length, -'.json'.length));
  }

  archives(): string[] {
    return this.stored().filter((k) => k.startsWith('units/'));
  }

  /** The local file holding a stored object (file:// or s3rver's data file), to corrupt it. */
  storedFile(rel: string): string {
    return this.kind === 'file' ? path.join(this.hostPrefix(), rel) : (this.s3 as S3Server).objectPath(`${this.hostPrefix()}${rel}`);
  }

  /** A directory of executables shadowing real tools, for `pathPrefix`. */
  fakeBin(name: string, tools: Record<string, string>): string {
    return fakeBinDir(this.root, name, tools);
  }

  /**
   * A `zstd` that, when it compresses (or with `decompress`, when it decompresses), writes the pids of
   * the script that started it and of itself to `<root>/<name>.pids` and waits for `<root>/<name>.go`
   * (or `holdSeconds`), then runs the real zstd: a point to kill a run at or to start a second one.
   */
  pausingZstd(name: string, options: { decompress?: boolean; holdSeconds?: number } = {}): string {
    const pids = path.join(this.root, `${name}.pids`);
    const go = path.join(this.root, `${name}.go`);
    const wanted = options.decompress ? '==' : '!=';
    return this.fakeBin(name, {
      zstd: [
        'd=0; for a in "$@"; do [[ "${a}" == -d ]] && d=1; done',
        `if [[ "$d" ${wanted} 1 && ! -e '${pids}' ]]; then`,
        // The script: zstd's parent, or the parent of the timeout that runs zstd.
        '  script=$PPID',
        '  [[ "$(cat "/proc/$PPID/comm" 2>/dev/null)" == timeout ]] && read -r _ _ _ script _ <"/proc/$PPID/stat"',
        `  echo "$script $$" > '${pids}.tmp' && mv '${pids}.tmp' '${pids}'`,
        `  for ((i = 0; i < ${(options.holdSeconds ?? 120) * 10}; i++)); do [[ -e '${go}' ]] && break; sleep 0.1; done`,
        'fi',
        'exec /usr/bin/zstd "$@"',
      ].join('\n'),
    });
  }

  /** The pids a pausingZstd recorded (script, zstd), or null before it got there. */
  pausedPids(name: string): number[] | null {
    const file = path.join(this.root, `${name}.pids`);
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split(' ').map(Number) : null;
  }

  /** Lets a pausingZstd go on. */
  release(name: string): void {
    fs.writeFileSync(path.join(this.root, `${name}.go`), '');
  }

  /** A `date` that runs `seconds` ahead of the real clock (behind when negative); `date -d X` is left alone. */
  clockShift(seconds: number): string {
    return this.fakeBin(`date${seconds}`, {
      date: [
        'for a in "$@"; do case "${a}" in -d | --date | -d* | --date=*) exec /usr/bin/date "$@" ;; esac; done',
        `exec /usr/bin/date -d "@$(($(/usr/bin/date +%s) + ${seconds}))" "$@"`,
      ].join('\n'),
    });
  }

  env(options: RunOptions = {}): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    return {
      ...env,
      ...fakeHostEnv(HOST),
      PATH: [...(options.pathPrefix ?? []), this.awsDir, process.env.PATH ?? '/usr/bin:/bin'].join(':'),
      LC_ALL: 'C',
      // The CLI's and the scripts' temp files (mktemp) stay in the world and go with it.
      TMPDIR: this.tmp,
      ...S3RVER_AWS_CLI_ENV,
      // The CLI's SDK client reads AWS_REGION; the AWS CLI in the scripts reads AWS_DEFAULT_REGION.
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...options.env,
    };
  }

  /** Starts `gpu-maint --config <world config> ...args` as a process. */
  spawn(args: readonly string[], options: RunOptions = {}): { child: ChildProcess; done: Promise<CliResult> } {
    const argv = [CLI, '--config', path.join(this.root, 'config.json'), ...args];
    let [cmd, cmdArgs]: [string, string[]] =
      options.fileSizeLimitKiB === undefined
        ? [process.execPath, argv]
        : ['bash', ['-c', `ulimit -f ${options.fileSizeLimitKiB} && exec "$0" "$@"`, process.execPath, ...argv]];
    if (options.asUid !== undefined && process.getuid?.() === 0) {
      chownTree(this.root, options.asUid);
      allowTraversal(path.dirname(this.root));
      [cmd, cmdArgs] = ['/usr/bin/setpriv', [`--reuid=${options.asUid}`, `--regid=${options.asUid}`, '--clear-groups', cmd, ...cmdArgs]];
    }
    const child = spawn(cmd, cmdArgs, {
      env: this.env(options),
      cwd: this.root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString('utf8');
      options.onStderr?.(err, child);
    });
    const done = new Promise<CliResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: err }));
    });
    return { child, done };
  }

  cli(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
    return this.spawn(args, options).done;
  }

  /** `run backup --json`, parsed. */
  async backup(options: RunOptions = {}): Promise<CliResult & { result: BackupJson }> {
    const run = await this.cli(['run', 'backup', '--json'], options);
    return { ...run, result: parseJson(run) as BackupJson };
  }

  /** `run restore-test --json`, parsed. */
  async restoreTest(options: RunOptions = {}): Promise<CliResult & { result: BackupJson }> {
    const run = await this.cli(['run', 'restore-test', '--json'], options);
    return { ...run, result: parseJson(run) as BackupJson };
  }

  /** `restore --snapshot <id> --to <dir> --json`, parsed. */
  async restore(snapshot: string, to: string, extra: readonly string[] = [], options: RunOptions = {}) {
    const run = await this.cli(['restore', '--snapshot', snapshot, '--to', to, '--json', ...extra], options);
    return { ...run, result: parseJson(run) as Record<string, string> & { units?: string[] } };
  }

  async dispose(): Promise<void> {
    await this.s3?.stop();
    // A read-only dir a case made must not stop the removal.
    for (const dir of [this.src, this.dest]) makeWritable(dir);
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

export interface BackupJson {
  readonly findings: { check: string; severity: string; message: string }[];
  readonly [key: string]: unknown;
}

function parseJson(run: CliResult): unknown {
  try {
    return JSON.parse(run.stdout);
  } catch {
    return null;
  }
}

/**
 * Lets other users pass through (search, not list) every directory above the world: the suite's
 * per-run and per-file temp dirs are created 0700 for root, and the unprivileged CLI must reach its world.
 */
function allowTraversal(dir: string): void {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    const mode = fs.statSync(d).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(d, (mode & 0o7777) | 0o001);
  }
}

/** Hands a tree to a uid (symlinks themselves, never their targets). */
function chownTree(dir: string, uid: number): void {
  fs.lchownSync(dir, uid, uid);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    fs.lchownSync(full, uid, uid);
    if (e.isDirectory()) chownTree(full, uid);
  }
}

function makeWritable(dir: string): void {
  if (!fs.existsSync(dir)) return;
  const walk = (d: string) => {
    try {
      fs.chmodSync(d, 0o755);
    } catch {
      return;
    }
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory() && !e.isSymbolicLink()) walk(full);
      else if (e.isFile()) fs.chmodSync(full, 0o644);
    }
  };
  walk(dir);
}

/** The finding with this check name (first). */
export function finding(result: BackupJson | null, check: string) {
  return result?.findings.find((f) => f.check === check);
}

/** Polls until `predicate` holds (a background process reached a point); fails after `limitMs`. */
export async function until(predicate: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The `world` maker of a fault test file: every world it starts is disposed after its case (by an
 * afterEach this registers; call it at the top of the file).
 */
export function faultWorlds(): (...args: ConstructorParameters<typeof FaultWorld>) => Promise<FaultWorld> {
  let worlds: FaultWorld[] = [];
  afterEach(async () => {
    for (const w of worlds) await w.dispose();
    worlds = [];
  });
  return async (...args) => {
    const w = await new FaultWorld(...args).start();
    worlds.push(w);
    return w;
  };
}

/** restore-test of the newest snapshot exits 0 and finds it good. */
export async function restoreTestPasses(w: FaultWorld): Promise<void> {
  const test = await w.restoreTest();
  expect(test.code, test.stderr).toBe(0);
  expect(finding(test.result, 'backup.restore-test')?.severity, JSON.stringify(test.result?.findings)).toBe('ok');
}

/** Per-case limit: each case starts the CLI several times, on a shared and busy machine. */
export const SLOW = 300_000;
