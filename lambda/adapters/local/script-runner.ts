/**
 * Runs a task script on this machine the way SSM runs it on a host: the bundled script, bash, the
 * task's parameters as GPU_MAINT_* variables, stdout = the result, stderr = logs.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../../config/schema';
import type { TaskOutput } from '../../core/ports';
import type { TaskName } from '../../core/types';
import { backupDestination } from '../../tasks/parameters';
import { taskDefinition, taskEnvironment } from '../../tasks/registry';
import { bundleTaskScript, SCRIPTS_DIR } from '../../tasks/scripts';
import { type Interrupts, killScriptTree, type StopSignal } from './interrupts';

export interface RunScriptOptions {
  /** Local state dir; the script's GPU_MAINT_STATE_DIR is `<stateDir>/host`. */
  readonly stateDir: string;
  /** Extra or overriding environment (tests put fakes first on PATH here). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Kill the script (and its process tree) after this long.
   * @default - the task's limits.executionSeconds (lambda/tasks/<task>.ts), as SSM would
   */
  readonly timeoutMs?: number;
  /**
   * Where the task scripts are bundled from.
   * @default scripts/ of this repository
   */
  readonly scriptsDir?: string;
  /** Called with each chunk of the script's stderr (progress, logs) as it arrives. */
  readonly onStderr?: (chunk: string) => void;
  /** Stop requests (Ctrl-C): forwarded to the script, which stops at a safe point. */
  readonly interrupts?: Interrupts;
  /** After a stop request, the script's whole tree is killed if it still runs after this long. @default 60 s */
  readonly stopGraceMs?: number;
}

/** What a script run gave back; `interrupted` is the stop signal it was sent, if any. */
export interface ScriptRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number | null;
  readonly interrupted?: StopSignal;
}

/**
 * Writes the bundle under `<stateDir>/scripts/<script>.<content hash>.sh` and returns its path. The name
 * changes with the content and the file appears by rename, so a run never reads a bundle that another
 * run is rewriting (bash reads its script as it goes); the same content is written once.
 */
export function writeScriptBundle(script: string, stateDir: string, scriptsDir = SCRIPTS_DIR): string {
  const dir = path.join(stateDir, 'scripts');
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new Error(
      `cannot write the ${script} script under ${dir} (local.stateDir): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const text = bundleTaskScript(script, scriptsDir);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const file = path.join(dir, `${script}.${hash}.sh`);
  if (existsSync(file)) return file;
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o700);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new Error(
      `cannot write the ${script} script under ${dir} (local.stateDir): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return file;
}

/** Writes the task's bundle (see writeScriptBundle) and returns its path. */
export function writeBundle(task: TaskName, stateDir: string, scriptsDir = SCRIPTS_DIR): string {
  return writeScriptBundle(taskDefinition(task).script, stateDir, scriptsDir);
}

/**
 * Runs a bundled script in its own process group. A stop request is forwarded to that group; a second
 * one, the grace period or the timeout kill the whole tree.
 */
export function runBundledScript(
  label: string,
  script: string,
  env: Record<string, string>,
  options: Omit<RunScriptOptions, 'stateDir' | 'env' | 'scriptsDir'>,
): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const notes: string[] = [];
    let interrupted: StopSignal | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const killAll = (why: string) => {
      notes.push(`gpu-maint: ${label} ${why}`);
      if (child.pid !== undefined) killScriptTree(child.pid);
      else child.kill('SIGKILL');
    };
    const timeoutMs = options.timeoutMs ?? 15 * 60_000;
    const timer = setTimeout(() => killAll(`killed after ${timeoutMs / 1000} s (its time limit)`), timeoutMs);
    const forward = (signal: StopSignal, count: number) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (count > 1) {
        killAll(`killed: ${signal} received again while it was stopping`);
        return;
      }
      interrupted = signal;
      try {
        process.kill(-(child.pid as number), signal);
      } catch {
        child.kill(signal);
      }
      const graceMs = options.stopGraceMs ?? 60_000;
      graceTimer = setTimeout(() => killAll(`killed: still running ${graceMs} ms after ${signal}`), graceMs);
    };
    const unsubscribe = options.interrupts?.subscribe(forward);
    // A stop request that came before the script started applies to it at once.
    if (options.interrupts?.signal) forward(options.interrupts.signal, 1);
    const done = () => {
      clearTimeout(timer);
      if (graceTimer) clearTimeout(graceTimer);
      unsubscribe?.();
    };
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => {
      stderr.push(c);
      options.onStderr?.(c.toString('utf8'));
    });
    child.on('error', (err) => {
      done();
      reject(new Error(`cannot start bash for ${label}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      done();
      const err = Buffer.concat(stderr).toString('utf8');
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: notes.length > 0 ? `${err}\n${notes.join('\n')}` : err,
        exitCode: code ?? (signal ? 128 + 9 : null),
        ...(interrupted ? { interrupted } : {}),
      });
    });
  });
}

export async function runTaskScript(task: TaskName, config: Config, options: RunScriptOptions): Promise<TaskOutput> {
  const script = writeBundle(task, options.stateDir, options.scriptsDir);
  const timeoutMs = options.timeoutMs ?? taskDefinition(task).limits.executionSeconds * 1000;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...taskEnvironment(task, config), ...options.env })) {
    if (v !== undefined) env[k] = v;
  }
  env.GPU_MAINT_STATE_DIR = options.env?.GPU_MAINT_STATE_DIR ?? path.join(options.stateDir, 'host');
  if (task === 'cleanup') {
    // Locally the whole state dir (metrics, alert state, default backups) and the backup store stay out of cleanup.
    const local = [path.resolve(options.stateDir), backupDestination(config).replace(/^file:\/\//, '')].filter((p) => p.startsWith('/'));
    env.GPU_MAINT_CLEANUP_KEEP_OUT = [...new Set([...(env.GPU_MAINT_CLEANUP_KEEP_OUT ?? '').split(',').filter(Boolean), ...local])].join(
      ',',
    );
  }
  env.LC_ALL = 'C';
  const run = await runBundledScript(task, script, env, { ...options, timeoutMs });
  return { task, ...run };
}
