/**
 * The fault suite's harness: the real CLI (`node bin/gpu-maint.cjs`) as a separate process, against a temp
 * state dir and config, with the fake host tools (test/fakes/bin) and per-test fakes first on PATH. A fault
 * is injected by the test: a signal sent once a marker file appears or an output line matches, a fake tool
 * that hangs or lies, a second concurrent run. Every temp dir is removed in `dispose`.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fakeHostEnv, writeFakeTool } from '../helpers/fake-host';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs');
const FAKES_BIN = path.join(REPO_ROOT, 'test', 'fakes', 'bin');

export interface FaultHost {
  /** Temp root holding everything below. */
  readonly root: string;
  /** local.stateDir of the config. */
  readonly stateDir: string;
  /** Per-test fake tools, first on PATH (before test/fakes/bin). */
  readonly bin: string;
  /** Scratch for test data (trees to clean or back up, fake tool inputs). */
  readonly data: string;
  /** The config file the CLI gets with --config. */
  readonly configFile: string;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** Sends signals once a condition holds: a file exists or the CLI's output (stdout + stderr) matches. */
  readonly signals?: readonly SignalAt[];
  /** Kills the CLI's whole process tree after this long (a hung CLI fails the test, not the suite). @default 80 s */
  readonly killAfterMs?: number;
}

export interface SignalAt {
  readonly signal: NodeJS.Signals;
  /** Path whose appearance triggers the signal. */
  readonly whenFile?: string;
  /** Pattern on the CLI's combined output that triggers the signal. */
  readonly whenOutput?: RegExp;
  /** Extra wait after the condition holds. @default 0 */
  readonly delayMs?: number;
}

const hosts: FaultHost[] = [];

/** A temp host with a state dir and a config file (the test's settings merged over quiet defaults). */
export function makeFaultHost(config: Record<string, unknown> = {}): FaultHost {
  const root = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-fault-'));
  const host: FaultHost = {
    root,
    stateDir: path.join(root, 'state'),
    bin: path.join(root, 'bin'),
    data: path.join(root, 'data'),
    configFile: path.join(root, 'config.json'),
  };
  for (const dir of [host.bin, host.data, path.join(root, 'tmp')]) mkdirSync(dir, { recursive: true });
  writeConfig(host, config);
  hosts.push(host);
  return host;
}

/** Writes the host's config: local.stateDir set, cleanup of docker and caches off, then `config`. */
export function writeConfig(host: FaultHost, config: Record<string, unknown>): void {
  const cleanup = (config.cleanup ?? {}) as Record<string, unknown>;
  const local = (config.local ?? {}) as Record<string, unknown>;
  const merged = {
    ...config,
    local: { stateDir: host.stateDir, ...local },
    cleanup: {
      experiments: { paths: [] },
      checkpoints: { paths: [] },
      docker: { enabled: false },
      caches: { pip: false, conda: false, apt: false, huggingface: false },
      ...cleanup,
    },
  };
  writeFileSync(host.configFile, JSON.stringify(merged, null, 1));
}

/** Removes every host made since the last call (afterEach/afterAll). */
export function disposeFaultHosts(): void {
  for (const host of hosts.splice(0)) {
    // A read-only test dir must become writable again to be removed.
    spawnSync('chmod', ['-R', 'u+w', host.root], { stdio: 'ignore' });
    rmSync(host.root, { recursive: true, force: true });
  }
}

/** Writes an executable bash tool into the host's bin dir. */
export function fakeTool(host: FaultHost, name: string, body: string): string {
  return writeFakeTool(host.bin, name, body);
}

export { age, put } from '../helpers/fake-host';

/** The environment every run gets: fakes first on PATH, no IMDS, a fixed host id. */
export function baseEnv(host: FaultHost): Record<string, string> {
  return {
    ...fakeHostEnv('fault-host'),
    PATH: `${host.bin}:${FAKES_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: host.root,
    // Scratch dirs of a script the test kills stay inside the host, which the test removes.
    TMPDIR: path.join(host.root, 'tmp'),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    // A fake nvidia-smi with no capture configured; tests that need GPUs set FAKE_NVSMI_*.
    FAKE_NVSMI_MODE: 'no-driver',
  };
}

/** Starts the CLI; resolves when it exits (or is killed after killAfterMs). */
export function startCli(
  host: FaultHost,
  args: readonly string[],
  options: RunOptions = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const env = { ...baseEnv(host), ...options.env };
  // Its own process group, so a runaway CLI and its scripts can be killed together.
  const child = spawn(process.execPath, [CLI, '--config', host.configFile, ...args], {
    cwd: host.root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  let exited = false;
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      exited = true;
      resolve({ code, signal, stdout, stderr });
    });
  });
  const killer = setTimeout(() => killTree(child.pid), options.killAfterMs ?? 80_000);
  done.then(() => clearTimeout(killer));
  void (async () => {
    for (const s of options.signals ?? []) {
      while (!exited) {
        if (s.whenFile && existsSync(s.whenFile)) break;
        if (s.whenOutput?.test(stdout + stderr)) break;
        if (!s.whenFile && !s.whenOutput) break;
        await sleep(50);
      }
      if (exited) return;
      if (s.delayMs) await sleep(s.delayMs);
      if (!exited) child.kill(s.signal);
    }
  })();
  return { child, done };
}

/** Runs the CLI to completion. */
export function runCliProcess(host: FaultHost, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return startCli(host, args, options).done;
}

/** SIGKILLs a process group (the CLI's) and ignores a group that is already gone. */
export function killTree(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** True while a process with this pid runs (a zombie waiting for its reaper has stopped: not alive). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
