/**
 * Runs a task script on this machine the way SSM runs it on a host: the bundled script, bash, the
 * task's parameters as GPU_MAINT_* variables, stdout = the result, stderr = logs.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../../config/schema';
import type { TaskOutput } from '../../core/ports';
import type { TaskName } from '../../core/types';
import { taskDefinition, taskEnvironment } from '../../tasks/registry';
import { bundleTaskScript, SCRIPTS_DIR } from '../../tasks/scripts';

export interface RunScriptOptions {
  /** Local state dir; the script's GPU_MAINT_STATE_DIR is `<stateDir>/host`. */
  readonly stateDir: string;
  /** Extra or overriding environment (tests put fakes first on PATH here). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Kill the script (and its process group) after this long.
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
}

/** Writes the bundle where it can be inspected after a run, and returns its path. */
export function writeBundle(task: TaskName, stateDir: string, scriptsDir = SCRIPTS_DIR): string {
  const dir = path.join(stateDir, 'scripts');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${taskDefinition(task).script}.sh`);
  writeFileSync(file, bundleTaskScript(taskDefinition(task).script, scriptsDir), { mode: 0o700 });
  return file;
}

export function runTaskScript(task: TaskName, config: Config, options: RunScriptOptions): Promise<TaskOutput> {
  const script = writeBundle(task, options.stateDir, options.scriptsDir);
  const timeoutMs = options.timeoutMs ?? taskDefinition(task).limits.executionSeconds * 1000;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...taskEnvironment(task, config), ...options.env })) {
    if (v !== undefined) env[k] = v;
  }
  env.GPU_MAINT_STATE_DIR = options.env?.GPU_MAINT_STATE_DIR ?? path.join(options.stateDir, 'host');
  env.LC_ALL = 'C';

  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The script's process group: its probes die with it.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => {
      stderr.push(c);
      options.onStderr?.(c.toString('utf8'));
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start bash for ${task}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const err = Buffer.concat(stderr).toString('utf8');
      resolve({
        task,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: timedOut ? `${err}\ngpu-maint: ${task} killed after ${timeoutMs / 1000} s (its time limit)` : err,
        exitCode: code ?? (signal ? 128 + 9 : null),
      });
    });
  });
}
