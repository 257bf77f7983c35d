/**
 * `gpu-maint prune [--dry-run] [--host H] [--json]`: applies backup.retention to the configured
 * destination (file:// or s3://) like the prune Lambda does: keep-last plus daily/weekly/monthly,
 * never fewer than keepLast, never the newest readable snapshot; unreferenced archives after
 * retention.graceDays.
 */
import type { Command } from 'commander';
import { backupAgeFinding, type PruneReport, pruneStore } from '../../../lambda/core/backup/prune';
import { HOST_KEY } from '../../../lambda/core/backup/store';
import { formatBytes } from '../../../lambda/core/format';
import { backupDestination } from '../../../lambda/tasks/parameters';
import { openBackupStore } from '../backup-store';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand, UsageError } from '../context';
import { plainTable } from './snapshots';

export function formatPruneReport(report: PruneReport, maxAgeHours: number): string {
  if (report.hosts.length === 0) return `no backups in ${report.location}`;
  const verb = report.dryRun ? 'would delete' : 'deleted';
  const lines = [`${report.dryRun ? 'dry run: ' : ''}retention applied to ${report.location}`];
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

export const registerPrune: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('prune')
    .description('apply backup.retention to the backup destination: delete old snapshots, then archives no snapshot references')
    .option('--dry-run', 'show what would be deleted, delete nothing')
    .option('--host <key>', 'only this host key')
    .option('--json', 'print the report as JSON')
    .action(async (options: { dryRun?: boolean; host?: string; json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      if (options.host !== undefined && !HOST_KEY.test(options.host)) {
        throw new UsageError(`--host ${JSON.stringify(options.host)}: expected a host key (letters, digits, . _ : @ -)`);
      }
      const store = openBackupStore(backupDestination(config), config.backup.s3EndpointUrl, config.backup.storeTimeoutSeconds);
      const report = await pruneStore(store, config.backup.retention, new Date(), {
        dryRun: Boolean(options.dryRun),
        ...(options.host ? { hostKeys: [options.host] } : {}),
      });
      io.out(options.json ? JSON.stringify(report, null, 2) : formatPruneReport(report, config.backup.maxAgeHours));
      const failed = report.hosts.filter((h) => h.error);
      if (failed.length > 0) throw new ExitError(`prune failed for ${failed.map((h) => h.hostKey).join(', ')}`, EXIT.taskFailed);
    });
};
