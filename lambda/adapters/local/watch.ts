/**
 * Local mode's kernel-log watcher: runs the bundled scripts/gpu-watch.sh and feeds each event it prints
 * through the core (lambda/core/gpu/watch.ts) to the alert sink, so that an Xid is notified within
 * seconds, and notified once: the alert is gpu-check's (same check, GPU index and state file).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { gpusSeenFromState, parseWatchEvent, type WatchEvent, watchEventResult } from '../../core/gpu/watch';
import type { AlertSink } from '../../core/ports';
import type { TaskResult } from '../../core/types';
import { bundleTaskScript, SCRIPTS_DIR } from '../../tasks/scripts';

export interface LocalWatchOptions {
  /** Local state dir; the watcher's GPU_MAINT_STATE_DIR is `<stateDir>/host`, as gpu-check's. */
  readonly stateDir: string;
  readonly alerts: AlertSink;
  /** Extra environment for the watcher (tests: fakes on PATH, GPU_MAINT_WATCH_DEBOUNCE_S). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Called with each event once it has been evaluated and its alerts published. */
  readonly onEvent?: (event: WatchEvent, result: TaskResult | null) => void;
  /** Called with the watcher's log lines and with events that could not be read. */
  readonly onLog?: (line: string) => void;
  readonly scriptsDir?: string;
}

export interface LocalWatch {
  /** Stops the watcher (its process group) and resolves when it and every pending evaluation have ended. */
  stop(): Promise<void>;
  /** Resolves with the watcher's exit code when it ends by itself or is stopped. */
  readonly done: Promise<number | null>;
}

/** The GPUs gpu-check saw this boot, to give the watcher's alerts gpu-check's GPU indexes. */
function gpusSeen(hostStateDir: string): Map<string, number> {
  try {
    return gpusSeenFromState(readFileSync(path.join(hostStateDir, 'gpu-check.gpus-seen'), 'utf8'));
  } catch {
    return new Map();
  }
}

export function startLocalWatch(options: LocalWatchOptions): LocalWatch {
  const dir = path.join(options.stateDir, 'scripts');
  mkdirSync(dir, { recursive: true });
  const script = path.join(dir, 'gpu-watch.sh');
  writeFileSync(script, bundleTaskScript('gpu-watch', options.scriptsDir ?? SCRIPTS_DIR), { mode: 0o700 });
  const hostStateDir = options.env?.GPU_MAINT_STATE_DIR ?? path.join(options.stateDir, 'host');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...options.env })) if (v !== undefined) env[k] = v;
  env.GPU_MAINT_STATE_DIR = hostStateDir;
  env.LC_ALL = 'C';
  const child = spawn('bash', [script], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const log = options.onLog ?? (() => {});
  createInterface({ input: child.stderr }).on('line', log);

  // Events are evaluated one after the other: the alert state is read and written per event.
  let queue: Promise<void> = Promise.resolve();
  createInterface({ input: child.stdout }).on('line', (line) => {
    queue = queue.then(async () => {
      let event: WatchEvent;
      try {
        event = parseWatchEvent(line);
      } catch (err) {
        log(`gpu-maint: watch: ${(err as Error).message}`);
        return;
      }
      try {
        const result = watchEventResult(event, gpusSeen(hostStateDir));
        if (result && result.findings.length > 0) await options.alerts.publish(result);
        options.onEvent?.(event, result);
      } catch (err) {
        // The next event is still evaluated; the scheduled gpu-check reports this line too.
        log(`gpu-maint: watch: event ${event.key} not evaluated: ${(err as Error).message}`);
      }
    });
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', (err) => {
      log(`gpu-maint: watch: cannot start bash: ${err.message}`);
      resolve(null);
    });
  });
  const done = exited.then(async (code) => {
    await queue;
    return code;
  });
  return {
    done,
    async stop() {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      await done;
    },
  };
}
