/**
 * `gpu-maint prune [--dry-run] [--host H] [--keep-last N] [--keep-daily N] [--keep-weekly N]
 * [--keep-monthly N] [--json]`: applies backup.retention (each --keep-* flag overrides its setting) to the
 * configured destination (file:// or s3://) like the prune Lambda does: keep-last plus
 * daily/weekly/monthly, never fewer than keepLast, never the newest readable snapshot; unreferenced
 * archives after retention.graceDays.
 */
import type { Command } from 'commander';
import { backupAgeFinding, type PrunePolicy, type PruneReport, pruneStore } from '../../../lambda/core/backup/prune';
import { formatBytes } from '../../../lambda/core/format';
import { configuredBackupStore, hostKeyOption } from '../backup-store';
import { type CliIo, configFor, EXIT, ExitError, nowOf, type RegisterCommand, wholeNumberOption } from '../context';
import { plainTable } from './snapshots';

export function formatPruneReport(report: PruneReport, maxAgeHours: number): string {
  if (report.hosts.length === 0) return `no backups in ${report.location}`;
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const lines = [`${report.dryRun ? 'dry run: ' : ''}retention applied to ${report.location}`];
  if (report.policy) lines.push(policyWords(report.policy));
  for (const h of report.hosts) {
    if (h.error) {
      lines.push(`${h.hostKey}: ERROR ${h.error} (nothing deleted)`);
      continue;
    }
    const age = backupAgeFinding(h, maxAgeHours);
    lines.push(
      `${h.hostKey}: ${h.snapshots} snapshot(s), keeps ${h.kept.length}, ${verb} ${h.removedSnapshots.length} snapshot(s) and ${h.removedArchives.length} archive(s) (${formatBytes(h.bytesToFree)}); ${age.message}${age.severity === 'ok' ? '' : ` [${age.severity.toUpperCase()}]`}`,
    );
    const rows = [
      ...h.kept.map((k) => ['keep', k.id, k.reasons.join(', ')]),
      ...h.removedSnapshots.map((id) => [report.dryRun ? 'would drop' : 'dropped', id, '']),
    ];
    if (rows.length) lines.push(...plainTable(['action', 'snapshot', 'why kept'], rows, ['left', 'left', 'left']));
    const w = h.waitingArchives;
    if (w && w.count > 0) {
      lines.push(
        `  ${w.count} unreferenced archive(s) (${formatBytes(w.bytes)}) are waiting out the ${w.graceDays}-day grace period; a later prune deletes them`,
      );
    }
    for (const w of h.warnings) lines.push(`  warning: ${w}`);
  }
  return lines.join('\n');
}

/** The policy in one line, in the flags' words. */
export function policyWords(p: PrunePolicy): string {
  return `policy: keep-last ${p.keepLast}, keep-daily ${p.keepDaily}, keep-weekly ${p.keepWeekly}, keep-monthly ${p.keepMonthly}; unreferenced archives deleted after ${p.graceDays} day(s)`;
}

interface PruneOptions {
  readonly dryRun?: boolean;
  readonly host?: string;
  readonly json?: boolean;
  readonly keepLast?: string;
  readonly keepDaily?: string;
  readonly keepWeekly?: string;
  readonly keepMonthly?: string;
}

/** Each --keep-* flag given replaces its setting; the others keep their configured values. @throws UsageError naming the flag. */
export function retentionWithFlags(configured: PrunePolicy, o: PruneOptions): PrunePolicy {
  const flag = (name: string, raw: string | undefined, min: number, fallback: number) =>
    raw === undefined ? fallback : wholeNumberOption(name, raw, min);
  return {
    ...configured,
    keepLast: flag('--keep-last', o.keepLast, 1, configured.keepLast),
    keepDaily: flag('--keep-daily', o.keepDaily, 0, configured.keepDaily),
    keepWeekly: flag('--keep-weekly', o.keepWeekly, 0, configured.keepWeekly),
    keepMonthly: flag('--keep-monthly', o.keepMonthly, 0, configured.keepMonthly),
  };
}

export const registerPrune: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('prune')
    .description('apply backup.retention to the backup destination: delete old snapshots, then archives no snapshot references')
    .option('--dry-run', 'show what would be deleted, delete nothing')
    .option('--host <key>', 'only this host key')
    .option('--keep-last <n>', 'keep the newest n snapshots, at least 1 (default: backup.retention.keepLast)')
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last n days that have one (default: backup.retention.keepDaily)')
    .option(
      '--keep-weekly <n>',
      'keep the newest snapshot of each of the last n ISO weeks that have one (default: backup.retention.keepWeekly)',
    )
    .option(
      '--keep-monthly <n>',
      'keep the newest snapshot of each of the last n months that have one (default: backup.retention.keepMonthly)',
    )
    .option('--json', 'print the report as JSON')
    .action(async (options: PruneOptions, cmd: Command) => {
      const config = configFor(cmd);
      hostKeyOption(options.host);
      const policy = retentionWithFlags(config.backup.retention, options);
      const store = configuredBackupStore(config);
      const report = await pruneStore(store, policy, nowOf(io), {
        dryRun: Boolean(options.dryRun),
        ...(options.host ? { hostKeys: [options.host] } : {}),
      });
      io.out(options.json ? JSON.stringify(report, null, 2) : formatPruneReport(report, config.backup.maxAgeHours));
      const failed = report.hosts.filter((h) => h.error);
      if (failed.length > 0) throw new ExitError(`prune failed for ${failed.map((h) => h.hostKey).join(', ')}`, EXIT.taskFailed);
    });
};
