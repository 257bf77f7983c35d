/**
 * Ports: every effect the core has goes through one of these. AWS adapters (lambda/adapters/aws) and
 * local adapters (lambda/adapters/local) implement them; the core imports no AWS SDK.
 */
import type { MetricDatum, TaskName, TaskResult } from './types';

/** What a task script produced on one host: SSM's invocation, or a local run. */
export interface TaskOutput {
  readonly task: TaskName;
  /** Host id as the transport knows it (SSM instance id); the script's own begin line is the fallback. */
  readonly host?: string;
  readonly stdout: string;
  readonly stderr?: string;
  /** Script exit status; null when unknown (e.g. the command never ran). */
  readonly exitCode: number | null;
  /**
   * Terminal SSM status when the script did not run to completion on its own terms
   * (Failed, TimedOut, Cancelled, Undeliverable, DeliveryTimedOut); absent locally.
   */
  readonly invocationStatus?: string;
  /** Locally: the stop signal (Ctrl-C: SIGINT; SIGTERM; SIGHUP) the script was sent before it ended. */
  readonly interrupted?: string;
}

export interface MetricsSink {
  put(metrics: readonly MetricDatum[], at: Date): Promise<void>;
}

export interface AlertSink {
  publish(result: TaskResult): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
