/**
 * Collect: from an SSM "EC2 Command Invocation Status-change Notification" to an evaluated TaskResult,
 * its metrics, its alerts and one structured log line. Pure: fetching the invocation's output,
 * metrics, alerts and the log are ports (AWS adapters in lambda/adapters/aws).
 *
 * A batch is handled in two steps so that a retry repeats as little as possible of what already went out:
 * 1. each record is evaluated on its own (`evaluateInvocation`): a bad record fails alone;
 * 2. `deliverResults` sends the metrics of all evaluated records in as few PutMetricData calls as the
 *    limits allow, then publishes each record's alerts. Records whose delivery failed are reported as
 *    failed, so SQS redelivers exactly those.
 * An invocation that did not run (Failed, TimedOut, Cancelled, Undeliverable, DeliveryTimedOut) is
 * evaluated too: a check that could not run is itself a finding.
 */
import {
  type CleanupCooldownStore,
  type CleanupDispatcher,
  type DiskPressureOutcome,
  type DiskPressurePolicy,
  triggerCleanupOnDiskPressure,
} from '../cleanup/disk-pressure';
import type { EvaluationSettings } from '../evaluation-settings';
import type { AlertSink, Clock, MetricsSink, TaskOutput } from '../ports';
import type { RemediationSettings } from '../remediation/model';
import { type ProposalStore, recordProposal } from '../remediation/run';
import type { TaskEvaluator } from '../task-evaluation';
import { evaluateTaskOutput } from '../task-evaluation';
import { isTaskName, type TaskName, type TaskResult } from '../types';
import type { InvocationRef } from './event';
import { type ResultLogRecord, resultLogRecord } from './log-record';

/** What SSM knows about one invocation (GetCommandInvocation, plus the full stdout from S3 when truncated). */
export interface InvocationOutput {
  readonly stdout: string;
  readonly stderr: string;
  /** The script's exit status; null when it never ran (SSM reports -1). */
  readonly responseCode: number | null;
  /** SSM Status, e.g. Success, Failed, TimedOut. */
  readonly status: string;
  /** SSM StatusDetails, more specific: DeliveryTimedOut, ExecutionTimedOut, Undeliverable, ... */
  readonly statusDetails?: string;
}

/** Port: fetches an invocation's output (retrying while SSM has not caught up). */
export interface InvocationOutputSource {
  fetch(ref: InvocationRef): Promise<InvocationOutput>;
}

/** A MetricsSink that buffers until flushed, so a batch of results goes out in few calls. */
export interface MetricsBatch extends MetricsSink {
  flush(): Promise<void>;
}

/** Port: the one structured log line per evaluated result. */
export interface ResultLog {
  write(record: ResultLogRecord): void;
}

export interface CollectDeps {
  readonly settings: EvaluationSettings;
  /** Document name → task, for this stack's documents. */
  readonly documents: Readonly<Record<string, TaskName>>;
  readonly evaluatorFor: (task: TaskName) => TaskEvaluator;
  /** Whether the task runs on every host every few minutes (its definition's `fleetCheck`): minimal healthy log lines. */
  readonly isFleetCheck: (task: TaskName) => boolean;
  readonly outputs: InvocationOutputSource;
  readonly metrics: MetricsBatch;
  readonly alerts: AlertSink;
  readonly log: ResultLog;
  readonly clock: Clock;
  /**
   * cleanup.onDiskPressure: dispatch cleanup to hosts whose health-check reports health.disk critical
   * (at most once per cooldown) and say so in their alert. Absent: never dispatches.
   */
  readonly diskPressure?: DiskPressureDeps;
  /** remediation.enabled: gpu-check results with remediable causes propose their host (lambda/core/remediation). */
  readonly remediation?: { readonly store: ProposalStore; readonly settings: RemediationSettings };
}

export interface DiskPressureDeps {
  readonly policy: DiskPressurePolicy;
  readonly store: CleanupCooldownStore;
  readonly dispatcher: CleanupDispatcher;
}

/** Statuses whose StatusDetails says more than the status itself. */
const SPECIFIC_DETAILS = new Set(['DeliveryTimedOut', 'ExecutionTimedOut', 'Undeliverable', 'Terminated', 'Cancelled']);

/** Maps what SSM reported to the core's TaskOutput. */
export function taskOutputFromInvocation(ref: InvocationRef, out: InvocationOutput, task: TaskName): TaskOutput {
  const exitCode = out.responseCode !== null && out.responseCode >= 0 ? out.responseCode : null;
  const status = out.status && out.status !== 'Pending' && out.status !== 'InProgress' ? out.status : ref.status;
  let invocationStatus: string | undefined;
  if (status !== 'Success') {
    invocationStatus = out.statusDetails && SPECIFIC_DETAILS.has(out.statusDetails) ? out.statusDetails : status;
    // A script that ran and exited non-zero is better described by its exit code and stderr.
    if (invocationStatus === 'Failed' && exitCode !== null && exitCode !== 0) invocationStatus = undefined;
  }
  return {
    task,
    host: ref.instanceId,
    stdout: out.stdout,
    stderr: out.stderr,
    exitCode,
    ...(invocationStatus ? { invocationStatus } : {}),
  };
}

const BEGIN_TASK = /^@@gpu-maint v\d+ begin .*\btask=([a-z0-9-]+)/m;

function taskOf(ref: InvocationRef, stdout: string, documents: Readonly<Record<string, TaskName>>): TaskName {
  const known = documents[ref.documentName];
  if (known) return known;
  // A document replaced by a stack update keeps reporting for commands already in flight.
  const fromOutput = BEGIN_TASK.exec(stdout)?.[1];
  if (fromOutput && isTaskName(fromOutput)) return fromOutput;
  throw new Error(
    `document ${JSON.stringify(ref.documentName)} (command ${ref.commandId} on ${ref.instanceId}) is not one of this stack's documents ` +
      `(${Object.keys(documents).join(', ') || 'none'}) and its output names no task`,
  );
}

export interface CollectedResult {
  readonly ref: InvocationRef;
  readonly result: TaskResult;
}

/** A result to deliver: an invocation's, or a watcher event's (which has no invocation). */
export interface DeliverableResult {
  readonly ref?: InvocationRef;
  readonly result: TaskResult;
}

/** Step 1: fetch, evaluate and log one invocation. Throws only when the output cannot be fetched. */
export async function evaluateInvocation(ref: InvocationRef, deps: CollectDeps): Promise<CollectedResult> {
  const out = await deps.outputs.fetch(ref);
  const task = taskOf(ref, out.stdout, deps.documents);
  const output = taskOutputFromInvocation(ref, out, task);
  const result = evaluateTaskOutput(output, deps.evaluatorFor(task), deps.settings, deps.clock.now());
  deps.log.write(resultLogRecord(result, ref, deps.isFleetCheck(task)));
  return { ref, result };
}

/** CloudWatch accepts datapoints up to two weeks old and two hours ahead; outside that, use now. */
export function metricTimestamp(result: TaskResult, now: Date): Date {
  const at = result.at ? new Date(result.at) : null;
  if (!at || Number.isNaN(at.getTime())) return now;
  const ageMs = now.getTime() - at.getTime();
  return ageMs > 13 * 86_400_000 || ageMs < -3_600_000 ? now : at;
}

export interface Delivery {
  /** Ids (e.g. SQS message ids) whose metrics or alerts could not be delivered. */
  readonly failedIds: readonly string[];
  readonly errors: readonly string[];
  /** Disk-pressure cleanups dispatched, held back by the cooldown or failed (for the log). */
  readonly cleanups: readonly { readonly host: string; readonly outcome: DiskPressureOutcome }[];
}

/**
 * Appends a disk-pressure note (cleanup dispatched, in cooldown, failed) to the result's critical
 * health.disk findings, so every alert channel carries it without renderer changes.
 */
export function withDiskPressureNote(result: TaskResult, outcome: DiskPressureOutcome): TaskResult {
  if (outcome.action === 'none') return result;
  return {
    ...result,
    findings: result.findings.map((f) =>
      f.check === 'health.disk' && f.severity === 'critical' ? { ...f, message: `${f.message}; ${outcome.note}` } : f,
    ),
  };
}

/**
 * Runs the disk-pressure trigger for one result. Never throws: a failed dispatch or cooldown store is
 * a note in the alert, not a failed record (a redelivery would put the batch's metrics twice).
 */
export async function diskPressureOutcome(result: TaskResult, deps: DiskPressureDeps, now: Date): Promise<DiskPressureOutcome> {
  try {
    return await triggerCleanupOnDiskPressure(result, deps.policy, { store: deps.store, dispatcher: deps.dispatcher, now });
  } catch (err) {
    const error = (err as Error)?.message ?? String(err);
    return {
      action: 'failed',
      error,
      note: `disk critical: cleanup not dispatched to ${result.host}: the cooldown store failed: ${error}`,
    };
  }
}

/**
 * Step 2: all metrics in one flush, then each result's alerts (after its disk-pressure cleanup, when
 * enabled, so the alert says what was done). A failed flush fails every record (none of their alerts
 * went out, so a redelivery duplicates nothing); a failed publish fails that record. Its redelivery puts
 * that record's metrics a second time: one duplicate datapoint is the price of never losing an alert.
 */
export async function deliverResults(
  items: readonly { readonly id: string; readonly collected: DeliverableResult }[],
  deps: Pick<CollectDeps, 'metrics' | 'alerts' | 'clock' | 'diskPressure' | 'remediation'>,
): Promise<Delivery> {
  if (items.length === 0) return { failedIds: [], errors: [], cleanups: [] };
  const now = deps.clock.now();
  try {
    for (const { collected } of items) await deps.metrics.put(collected.result.metrics, metricTimestamp(collected.result, now));
    await deps.metrics.flush();
  } catch (err) {
    return { failedIds: items.map((i) => i.id), errors: [`metrics: ${(err as Error).message}`], cleanups: [] };
  }
  const cleanups: { host: string; outcome: DiskPressureOutcome }[] = [];
  const proposalErrors: string[] = [];
  const publish = async ({ result }: DeliverableResult) => {
    let alerted = result;
    if (deps.diskPressure) {
      const outcome = await diskPressureOutcome(result, deps.diskPressure, now);
      if (outcome.action !== 'none') cleanups.push({ host: result.host, outcome });
      alerted = withDiskPressureNote(result, outcome);
    }
    await deps.alerts.publish(alerted);
    if (deps.remediation) {
      // A lost proposal is made up by the next result; it must not fail the record (its metrics went out).
      try {
        await recordProposal(result, deps.remediation.store, deps.remediation.settings);
      } catch (err) {
        proposalErrors.push(`remediation proposal for ${result.host}: ${(err as Error)?.message ?? String(err)}`);
      }
    }
  };
  const settled = await Promise.allSettled(items.map(({ collected }) => publish(collected)));
  const failedIds: string[] = [];
  const errors: string[] = [];
  settled.forEach((s, i) => {
    if (s.status === 'rejected') {
      failedIds.push(items[i].id);
      errors.push(`alerts for ${items[i].collected.result.host}: ${(s.reason as Error)?.message ?? String(s.reason)}`);
    }
  });
  return { failedIds, errors: [...errors, ...proposalErrors], cleanups };
}
