/**
 * Local mode: run task scripts on this machine and feed their output to the same core the collect
 * Lambda uses, with local sinks (JSON-lines metrics, Prometheus textfile, terminal/webhook alerts).
 * With cleanup.onDiskPressure, a health-check whose disk is critical runs the cleanup task here (once
 * per cleanup.cooldownHours, cooldown in <stateDir>/cleanup-cooldown.json), as the collector would.
 */
import * as path from 'node:path';
import type { Config } from '../../config/schema';
import type { DiskPressureOutcome } from '../../core/cleanup/disk-pressure';
import { diskPressureOutcome, withDiskPressureNote } from '../../core/collect';
import { evaluateTaskOutput } from '../../core/evaluate';
import type { AlertSink, Clock, TaskOutput } from '../../core/ports';
import { evaluationSettings } from '../../core/settings';
import type { TaskName, TaskResult } from '../../core/types';
import { taskDefinition } from '../../tasks/registry';
import { cleanupCooldownFilePath, FileCleanupCooldownStore } from './cleanup-cooldown-file';
import { writeLatestResult } from './latest-results';
import { JsonLinesMetricsSink, PrometheusTextfileSink } from './metrics-files';
import { resolveStateDir } from './paths';
import { runTaskScript } from './script-runner';

export interface LocalPaths {
  readonly stateDir: string;
  readonly metricsFile: string;
  readonly textfileDir: string;
}

export function localPaths(config: Config): LocalPaths {
  const stateDir = resolveStateDir(config.local.stateDir);
  return {
    stateDir,
    metricsFile: path.join(stateDir, 'metrics.jsonl'),
    textfileDir: path.join(stateDir, 'textfile'),
  };
}

export interface LocalRunOptions {
  readonly config: Config;
  readonly clock: Clock;
  /** Receives each result after metrics are written (alert policy, terminal notifier). */
  readonly alerts?: AlertSink;
  /** Extra environment for the scripts (tests: fakes on PATH). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly onStderr?: (task: TaskName, chunk: string) => void;
  /** Receives a cleanup that a critical disk triggered (cleanup.onDiskPressure), before the health-check's alerts go out. */
  readonly onDiskPressureCleanup?: (cleanup: TaskResult) => void;
}

/** cleanup.onDiskPressure locally: runs the cleanup task here when the result's disk is critical. */
async function localDiskPressure(result: TaskResult, options: LocalRunOptions, now: Date): Promise<DiskPressureOutcome> {
  const { cleanup } = options.config;
  const policy = { enabled: cleanup.onDiskPressure, cooldownHours: cleanup.cooldownHours, dryRun: cleanup.dryRun };
  const store = new FileCleanupCooldownStore(cleanupCooldownFilePath(localPaths(options.config).stateDir));
  const dispatcher = {
    async dispatchCleanup() {
      const run = await runLocalTask('cleanup', options);
      options.onDiskPressureCleanup?.(run);
      return { id: `ran here, status ${run.status}` };
    },
  };
  // Never throws (as in the collector): an unreadable cooldown file is a note in the alert, not a lost result.
  return diskPressureOutcome(result, { policy, store, dispatcher }, now);
}

/** Evaluates one output and writes its metrics locally: the local twin of the collect Lambda. */
export async function processLocalOutput(output: TaskOutput, options: LocalRunOptions): Promise<TaskResult> {
  const { config, clock } = options;
  const now = clock.now();
  const result = evaluateTaskOutput(output, taskDefinition(output.task).evaluate, evaluationSettings(config), now);
  const paths = localPaths(config);
  await new JsonLinesMetricsSink(paths.metricsFile, config.metrics.namespace).put(result.metrics, now);
  new PrometheusTextfileSink(paths.textfileDir).write(result.task, result.metrics, now, result);
  const noted = withDiskPressureNote(result, await localDiskPressure(result, options, now));
  writeLatestResult(paths.stateDir, noted);
  await options.alerts?.publish(noted);
  return noted;
}

export async function runLocalTask(task: TaskName, options: LocalRunOptions): Promise<TaskResult> {
  const paths = localPaths(options.config);
  const output = await runTaskScript(task, options.config, {
    stateDir: paths.stateDir,
    env: options.env,
    onStderr: options.onStderr ? (chunk) => options.onStderr?.(task, chunk) : undefined,
  });
  return processLocalOutput(output, options);
}
