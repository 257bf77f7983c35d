/**
 * From a script's raw output to a TaskResult: parse the contract, run the task's evaluator, add the
 * task-level findings (could not run, truncated, malformed) and build metrics. Never throws on bad
 * output: a result that cannot be read is itself a finding.
 */

import { type ParsedResult, parseResult } from './contract';
import { countsAsReported } from './coverage';
import type { EvaluationSettings } from './evaluation-settings';
import { buildMetrics, type GpuMetricReading, type Reading, taskMetrics } from './metrics';
import type { TaskOutput } from './ports';
import { type Finding, type TaskName, type TaskResult, type TaskStatus, worstSeverity } from './types';

export interface EvaluationContext {
  readonly settings: EvaluationSettings;
  readonly now: Date;
  readonly host: string;
}

export interface Evaluation {
  readonly findings: readonly Finding[];
  readonly readings: readonly Reading[];
  readonly gpuReadings?: readonly GpuMetricReading[];
  /** Structured task-specific output merged into the result (gpus, xids, snapshot, cleanup, ...). */
  readonly details?: Readonly<Record<string, unknown>>;
}

export type TaskEvaluator = (parsed: ParsedResult, ctx: EvaluationContext) => Evaluation;

function tail(text: string | undefined, maxChars = 400): string {
  const t = (text ?? '').trim();
  return t.length > maxChars ? `…${t.slice(-maxChars)}` : t;
}

export function evaluateTaskOutput(output: TaskOutput, evaluator: TaskEvaluator, settings: EvaluationSettings, now: Date): TaskResult {
  const parsed = parseResult(output.stdout);
  const host = output.host ?? parsed.host ?? 'unknown-host';
  const task: TaskName = output.task;
  const findings: Finding[] = [];
  let evaluation: Evaluation | undefined;
  let failed = false;

  if (parsed.task !== null && parsed.task !== task) {
    findings.push({
      check: 'task.output',
      severity: 'warning',
      message: `expected output of ${task} but the script reported task ${parsed.task}`,
    });
  }
  const ranToCompletion = parsed.version !== null && parsed.complete && parsed.errors.length === 0;

  if (output.interrupted) {
    // Someone stopped it on purpose: a warning that says how far it got, not a host that cannot run tasks.
    failed = true;
    findings.push({
      check: 'task.failed',
      severity: 'warning',
      message: `${task} interrupted by ${output.interrupted} on ${host}: ${
        parsed.complete ? 'stopped at a safe point; what it did before is listed below' : 'stopped before it could report what it did'
      }`,
      reading: output.interrupted,
    });
  } else if (output.invocationStatus && output.invocationStatus !== 'Success') {
    failed = true;
    findings.push({
      check: 'task.failed',
      severity: 'critical',
      message: `${task} did not complete on ${host}: SSM status ${output.invocationStatus}${output.stderr ? ` (${tail(output.stderr, 200)})` : ''}`,
      reading: output.invocationStatus,
    });
  } else if (output.exitCode !== null && output.exitCode !== 0) {
    failed = true;
    findings.push({
      check: 'task.failed',
      severity: 'critical',
      message: `${task} could not run on ${host}: exit ${output.exitCode}${output.stderr ? `: ${tail(output.stderr, 300)}` : ''}`,
      reading: output.exitCode,
    });
  }

  if (!ranToCompletion && !output.interrupted && !(failed && output.stdout.trim() === '')) {
    failed = true;
    findings.push({
      check: 'task.output',
      severity: 'warning',
      message: `${task} output from ${host} is unusable: ${parsed.errors.join('; ')}`,
    });
  }

  if (ranToCompletion) {
    try {
      evaluation = evaluator(parsed, { settings, now, host });
      findings.push(...evaluation.findings);
    } catch (err) {
      failed = true;
      findings.push({
        check: 'task.output',
        severity: 'warning',
        message: `${task} output from ${host} could not be evaluated: ${(err as Error).message}`,
      });
    }
  }

  const status: TaskStatus = failed ? 'failed' : worstSeverity(findings.map((f) => f.severity));
  const scope = { fleet: settings.fleet, host, task, detail: settings.metricDetail };
  const metrics = [
    ...taskMetrics(scope, {
      failed,
      reported: countsAsReported(output.invocationStatus),
      critical: findings.filter((f) => f.severity === 'critical').length,
      warning: findings.filter((f) => f.severity === 'warning').length,
    }),
    ...(evaluation ? buildMetrics(scope, evaluation.readings, evaluation.gpuReadings) : []),
  ];
  return {
    task,
    host,
    status,
    ...(parsed.at ? { at: parsed.at } : {}),
    findings,
    metrics,
    ...(evaluation?.details ?? {}),
  };
}
