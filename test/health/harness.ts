/**
 * Runs the bundled health-check script under real bash on a pretend host: a temp dir with its own
 * /proc files, reboot flag path and a bin dir of fake tools (journalctl, systemctl, df, ...) put first
 * on PATH. Fakes are written per test, so they never collide with other suites' fakes.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateHealthCheck } from '../../lambda/core/health/evaluate';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import type { Finding, TaskResult } from '../../lambda/core/types';
import { parseConfigForTest } from '../helpers/config';
import { fakeHostEnv, runBash, writeFakeTool, writeTaskScript } from '../helpers/fake-host';
import { tempDir } from '../helpers/temp';

export const HEALTHY_MEMINFO =
  'MemTotal:       65536000 kB\nMemFree:         1000000 kB\nMemAvailable:   32768000 kB\nBuffers:          100000 kB\nCached:         20000000 kB\n';
export const IDLE_LOADAVG = '0.10 0.05 0.01 1/300 4242\n';

export interface FakeHost {
  readonly root: string;
  readonly bin: string;
  readonly procDir: string;
  readonly rebootFile: string;
  /** An existing directory to use as a checked path. */
  readonly dataDir: string;
  /** Where fakes append the arguments they were called with, one line per call. */
  readonly callLog: (tool: string) => string;
}

let bundlePath: string | undefined;

/** The bundled script, written once per test file: what SSM and local mode run. */
export function healthCheckBundle(): string {
  if (!bundlePath) {
    bundlePath = writeTaskScript(tempDir('gpu-maint-health-bundle-'), 'health-check');
  }
  return bundlePath;
}

export function makeHost(): FakeHost {
  const root = tempDir('gpu-maint-health-');
  const host: FakeHost = {
    root,
    bin: path.join(root, 'bin'),
    procDir: path.join(root, 'proc'),
    rebootFile: path.join(root, 'run', 'reboot-required'),
    dataDir: path.join(root, 'data'),
    callLog: (tool) => path.join(root, 'calls', `${tool}.log`),
  };
  for (const dir of [host.bin, host.procDir, path.dirname(host.rebootFile), host.dataDir, path.join(root, 'calls')]) {
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(path.join(host.procDir, 'meminfo'), HEALTHY_MEMINFO);
  writeFileSync(path.join(host.procDir, 'loadavg'), IDLE_LOADAVG);
  return host;
}

/** Writes an executable bash fake that logs its arguments and then runs `body`. */
export function fakeTool(host: FakeHost, name: string, body: string): void {
  writeFakeTool(host.bin, name, `printf '%s\\n' "$*" >>${JSON.stringify(host.callLog(name))}\n${body}`);
}

/** A fake that prints fixed stdout and stderr and exits with `exitCode`. */
export function fakeOutput(host: FakeHost, name: string, out: { stdout?: string; stderr?: string; exitCode?: number }): void {
  const stdoutFile = path.join(host.root, `${name}.stdout`);
  const stderrFile = path.join(host.root, `${name}.stderr`);
  writeFileSync(stdoutFile, out.stdout ?? '');
  writeFileSync(stderrFile, out.stderr ?? '');
  fakeTool(host, name, `cat ${JSON.stringify(stdoutFile)}\ncat ${JSON.stringify(stderrFile)} >&2\nexit ${out.exitCode ?? 0}`);
}

export function calls(host: FakeHost, tool: string): string[] {
  const file = host.callLog(tool);
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/**
 * A PATH dir with only the basic tools the script needs (no systemctl, journalctl, dpkg,
 * needs-restarting): a host without systemd, as a minimal container is.
 */
export function minimalPath(host: FakeHost): string {
  const dir = path.join(host.root, 'minimal-bin');
  mkdirSync(dir, { recursive: true });
  const tools = [
    'bash',
    'env',
    'timeout',
    'df',
    'cat',
    'grep',
    'awk',
    'sed',
    'date',
    'mktemp',
    'rm',
    'mkdir',
    'hostname',
    'uname',
    'getconf',
    'tail',
    'head',
    'cut',
    'sleep',
    'test',
  ];
  for (const tool of tools) {
    const found = (process.env.PATH ?? '')
      .split(':')
      .map((d) => path.join(d, tool))
      .find((f) => existsSync(f));
    if (found) symlinkSync(found, path.join(dir, tool));
  }
  return dir;
}

export interface RunOutcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number | null;
  readonly result: TaskResult;
}

/**
 * Runs the bundle with the host's fakes first on PATH. Asynchronous, so that servers the test runs
 * in this process (endpoints, IMDS) keep answering while bash runs.
 */
export async function runHealthCheck(host: FakeHost, env: Record<string, string | undefined> = {}, configInput = {}): Promise<RunOutcome> {
  const base: Record<string, string> = {
    ...fakeHostEnv('test-host'),
    PATH: `${host.bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: host.root,
    LC_ALL: 'C',
    GPU_MAINT_STATE_DIR: path.join(host.root, 'state'),
    GPU_MAINT_PROC_DIR: host.procDir,
    GPU_MAINT_REBOOT_REQUIRED_FILE: host.rebootFile,
    GPU_MAINT_MOUNTS: host.dataDir,
    GPU_MAINT_SERVICES: '',
    GPU_MAINT_ENDPOINTS: '',
    GPU_MAINT_ENDPOINT_TIMEOUT_S: '2',
    GPU_MAINT_JOURNAL_WINDOW_MIN: '60',
  };
  const merged: Record<string, string> = { ...base };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete merged[k];
    else merged[k] = v;
  }
  const bash =
    merged.PATH.split(':')
      .map((d) => path.join(d, 'bash'))
      .find((f) => existsSync(f)) ?? '/bin/bash';
  const { code: exitCode, stdout, stderr } = await runBash(healthCheckBundle(), merged, { bash, timeoutMs: 60_000 });
  const settings = evaluationSettings(parseConfigForTest({ fleet: { name: 'test' }, ...configInput }));
  const result = evaluateTaskOutput({ task: 'health-check', stdout, stderr, exitCode }, evaluateHealthCheck, settings, new Date());
  return { stdout, stderr, exitCode, result };
}

export function findingsOf(result: TaskResult, check: Finding['check']): Finding[] {
  return result.findings.filter((f) => f.check === check);
}

export function metricValue(result: TaskResult, name: string): number | undefined {
  return result.metrics.find((m) => m.name === name)?.value;
}
