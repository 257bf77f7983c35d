/**
 * Local mode: run task scripts on this machine and feed their output to the same core the collect
 * Lambda uses, with local sinks (JSON-lines metrics, Prometheus textfile, terminal/webhook alerts).
 * With cleanup.onDiskPressure, a health-check whose disk is critical runs the cleanup task here (once
 * per cleanup.cooldownHours, cooldown in <stateDir>/cleanup-cooldown.json), as the collector would.
 * With remediation.enabled, a gpu-check proposes and the remediation planner runs right after it
 * (./remediation-local.ts).
 */
import * as path from 'node:path';
import type { Config } from '../../config/schema';
import { type DiskPressureDeps, deliverResults, type InvocationRef } from '../../core/collect';
import { evaluationSettings } from '../../core/evaluation-settings';
import type { AlertSink, Clock, TaskOutput } from '../../core/ports';
import { evaluateTaskOutput } from '../../core/task-evaluation';
import type { TaskName, TaskResult } from '../../core/types';
import { taskDefinition } from '../../tasks/registry';
import { cleanupCooldownFilePath, FileCleanupCooldownStore } from './cleanup-cooldown-file';
import type { Interrupts } from './interrupts';
import { writeLatestResult } from './latest-results';
import { JsonLinesMetricsSink, LocalMetricsBatch, PrometheusTextfileSink } from './metrics-files';
import { localStateDir } from './paths';
import { localProposalStore, runLocalRemediation } from './remediation-local';
import { runTaskScript } from './script-runner';
import { TerminalNotifier } from './terminal-notifier';

export interface LocalPaths {
  readonly stateDir: string;
  readonly metricsFile: string;
  readonly textfileDir: string;
}

export function localPaths(config: Config): LocalPaths {
  const stateDir = localStateDir(config);
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
  /** Stop requests (Ctrl-C) forwarded to the running script; no further script starts after one. */
  readonly interrupts?: Interrupts;
  /** Where remediation decisions are printed (remediation.enabled). @default stderr */
  readonly remediationOutput?: (line: string) => void;
}

/** cleanup.onDiskPressure locally: the cleanup task runs here, once per cooldown (cooldown in a file). */
function localDiskPressureDeps(options: LocalRunOptions): DiskPressureDeps {
  const { cleanup } = options.config;
  return {
    policy: { enabled: cleanup.onDiskPressure, cooldownHours: cleanup.cooldownHours, dryRun: cleanup.dryRun },
    store: new FileCleanupCooldownStore(cleanupCooldownFilePath(localPaths(options.config).stateDir)),
    dispatcher: {
      async dispatchCleanup() {
        const run = await runLocalTask('cleanup', options);
        options.onDiskPressureCleanup?.(run);
        return { id: `ran here, status ${run.status}` };
      },
    },
  };
}

/**
 * Evaluates one output and delivers it through the collect Lambda's own pipeline (deliverResults):
 * metrics first, then the disk-pressure trigger, then alerts; only the adapters are local.
 */
export async function processLocalOutput(output: TaskOutput, options: LocalRunOptions): Promise<TaskResult> {
  const { config, clock } = options;
  const result = evaluateTaskOutput(output, taskDefinition(output.task).evaluate, evaluationSettings(config), clock.now());
  const paths = localPaths(config);
  const metrics = new LocalMetricsBatch(
    result.task,
    new JsonLinesMetricsSink(paths.metricsFile, config.metrics.namespace),
    new PrometheusTextfileSink(paths.textfileDir),
    result,
  );
  // A run someone stopped on purpose neither triggers a cleanup nor notifies: it says what it did, in the report.
  const interrupted = Boolean(output.interrupted || options.interrupts?.signal);
  let delivered: TaskResult = result;
  const alerts: AlertSink = {
    async publish(alerted) {
      delivered = alerted;
      writeLatestResult(paths.stateDir, alerted);
      if (!interrupted) await options.alerts?.publish(alerted);
    },
  };
  const remediation = interrupted ? undefined : localProposalStore(config);
  // There is no SSM invocation locally; the reference only names the run in the pipeline's types.
  const ref: InvocationRef = { commandId: 'local', instanceId: result.host, documentName: output.task, status: 'Success' };
  const delivery = await deliverResults([{ id: output.task, collected: { ref, result } }], {
    metrics,
    alerts,
    clock,
    diskPressure: interrupted ? undefined : localDiskPressureDeps(options),
    ...(remediation ? { remediation } : {}),
  });
  if (delivery.errors.length > 0) throw new Error(`${output.task}: ${delivery.errors.join('; ')}`);
  // The planner runs after each gpu-check here, as the AWS schedule runs it after the collector.
  if (remediation && result.task === 'gpu-check') {
    const write = options.remediationOutput ?? ((line: string) => process.stderr.write(`${line}\n`));
    await runLocalRemediation(config, clock, new TerminalNotifier(write, { webhookUrl: config.local.webhookUrl }));
  }
  return delivered;
}

export async function runLocalTask(task: TaskName, options: LocalRunOptions): Promise<TaskResult> {
  const paths = localPaths(options.config);
  const output = await runTaskScript(task, options.config, {
    stateDir: paths.stateDir,
    env: options.env,
    onStderr: options.onStderr ? (chunk) => options.onStderr?.(task, chunk) : undefined,
    interrupts: options.interrupts,
  });
  return processLocalOutput(output, options);
}
