/**
 * `gpu-maint alerts simulate --input FILE.jsonl [--json]`: replays recorded evaluations through the alert
 * policy on a virtual clock and prints what would be sent, plus incidents and notifications per incident.
 * Policy changes are tried with the global `--set`, e.g. `--set alerts.repeatIntervalHours.critical=2`.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { alertLabel } from '../../../lambda/core/alerts/model';
import { alertSettings } from '../../../lambda/core/alerts/settings';
import { parseScenario, type SimulationResult, simulate } from '../../../lambda/core/alerts/simulate';
import { systemClock } from '../../../lambda/core/ports';
import { remediationSettings } from '../../../lambda/core/remediation/model';
import { type SimulatedRemediation, simulateRemediation } from '../../../lambda/core/remediation/simulate';
import { isTaskName, type TaskResult } from '../../../lambda/core/types';
import { type CliIo, configFor, type RegisterCommand, UsageError } from '../context';
import { localAlertSink } from '../local-alerts';

interface SimulateOptions {
  readonly input: string;
  readonly json?: boolean;
  readonly remediation?: boolean;
}

function formatRemediation(r: readonly SimulatedRemediation[]): string {
  const lines = ['', 'remediation (replayed as if remediation were on and live):'];
  for (const e of r) lines.push(`  ${e.at}  ${e.host.padEnd(20)} ${e.kind.padEnd(9)} ${e.message}`);
  if (r.length === 0) lines.push('  no remediation decisions');
  return lines.join('\n');
}

function formatSimulation(r: SimulationResult): string {
  const lines: string[] = [];
  for (const n of r.notifications) {
    lines.push(`${n.at}  ${n.subject}`);
    for (const c of n.checks) lines.push(`    ${c.change.padEnd(9)} ${c.severity.padEnd(8)} ${alertLabel(c)}`);
  }
  if (r.notifications.length === 0) lines.push('no notifications');
  lines.push('', 'incidents:');
  for (const i of r.incidents) {
    lines.push(
      `  ${i.host} ${alertLabel(i)} ${i.maxSeverity} ${i.start} → ${i.end ?? 'still firing'}: ${i.notifications} notification(s)${i.changes.length ? ` (${i.changes.join(', ')})` : ''}`,
    );
  }
  if (r.incidents.length === 0) lines.push('  none');
  const s = r.summary;
  const per = s.notificationsPerIncident;
  lines.push(
    '',
    `summary: ${s.evaluations} evaluations on ${s.hosts} host(s); ${s.incidents} incident(s); ${s.notifications} notification(s); per incident min ${per.min}, max ${per.max}, mean ${per.mean}; ${s.unnotifiedIncidents} never notified; ${s.flappingIncidents} flapping; ${s.openAtEnd} still firing at the end`,
  );
  return lines.join('\n');
}

/**
 * The result a failed systemd unit of ours stands for: task.failed, critical, for the unit's task
 * (`gpu-maint-<job>.service`; backup-prune counts as backup).
 */
export function unitFailedResult(unit: string, host: string, at: Date): TaskResult {
  const m = /^gpu-maint-([a-z0-9-]+)\.service$/.exec(unit);
  const job = m?.[1];
  const task = job === 'backup-prune' ? 'backup' : job;
  if (!task || !isTaskName(task)) {
    throw new UsageError(`${JSON.stringify(unit)}: expected a gpu-maint task unit such as gpu-maint-backup.service`);
  }
  return {
    task,
    host,
    status: 'failed',
    at: at.toISOString(),
    findings: [
      {
        check: 'task.failed',
        severity: 'critical',
        message: `systemd unit ${unit} failed: the task could not run; see journalctl -u ${unit}`,
        reading: unit,
      },
    ],
    metrics: [],
  };
}

export const registerAlerts: RegisterCommand = (program: Command, io: CliIo) => {
  const alerts = program.command('alerts').description('alert policy tools');
  alerts
    .command('unit-failed')
    .description("report a failed gpu-maint systemd unit through local alerting (the units' OnFailure= handler)")
    .argument('<unit>', 'the failed unit, e.g. gpu-maint-backup.service')
    .action(async (unit: string, _options: unknown, cmd: Command) => {
      const config = configFor(cmd);
      const result = unitFailedResult(unit, hostname(), systemClock.now());
      await localAlertSink(config, io, { json: false }).publish(result);
    });
  alerts
    .command('simulate')
    .description('replay recorded evaluations (JSON lines) through the alert policy and print the notifications it would send')
    .requiredOption(
      '--input <file>',
      'JSON lines: {"at","host","task","findings":[{"check","severity","gpu"?,"message"}]} per evaluation; "-" reads standard input',
    )
    .option('--json', 'print {notifications, incidents, summary} as JSON')
    .option('--remediation', 'also replay the remediation policy (remediation.*) and print what it would have done')
    .action(async (options: SimulateOptions, cmd: Command) => {
      const config = configFor(cmd);
      let settings: ReturnType<typeof alertSettings>;
      try {
        settings = alertSettings(config);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      let text: string;
      try {
        text = readFileSync(options.input === '-' ? 0 : options.input, 'utf8');
      } catch (err) {
        throw new UsageError(`--input ${options.input}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      let events: ReturnType<typeof parseScenario>;
      try {
        events = parseScenario(text, options.input === '-' ? 'stdin' : options.input);
      } catch (err) {
        throw new UsageError(`--input ${(err as Error).message}`);
      }
      const result = await simulate(events, settings);
      const remediation = options.remediation ? await simulateRemediation(events, remediationSettings(config)) : undefined;
      if (options.json) io.out(JSON.stringify(remediation ? { ...result, remediation } : result, null, 2));
      else io.out(formatSimulation(result) + (remediation ? formatRemediation(remediation) : ''));
    });
};
