/**
 * `gpu-maint check [snapshot] [--host H] [--json]`: reads every archive of a snapshot (default: the
 * latest) from the backup destination and verifies it against the manifest (size, sha256, entries) and
 * with zstd and tar, without restoring anything, like `restic check --read-data`. Exits 1 naming every
 * damaged unit.
 */
import type { Command } from 'commander';
import { ToolArchiveReader } from '../../../lambda/adapters/local/archive-reader';
import { formatProgress } from '../../../lambda/adapters/local/progress';
import { type CheckReport, checkSnapshot } from '../../../lambda/core/backup/check';
import { openSnapshot } from '../../../lambda/core/backup/contents';
import { manifestTotals } from '../../../lambda/core/backup/manifest';
import { formatBytes, plural } from '../../../lambda/core/format';
import { chooseHostKey, configuredBackupStore, hostKeyOption, snapshotRefArgument } from '../backup-store';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand } from '../context';
import { plainTable } from './snapshots';

/** The check report for people: a row per unit, then each problem, then the verdict. */
export function formatCheckReport(report: CheckReport, location: string): string {
  const lines = [`snapshot ${report.snapshot} of ${report.hostKey} in ${location}`];
  const rows = report.units.map((u) => [u.unitId, u.path, formatBytes(u.bytesRead), u.status === 'ok' ? 'ok' : u.status.toUpperCase()]);
  if (rows.length > 0) lines.push(...plainTable(['unit', 'path', 'read', 'result'], rows, ['left', 'left', 'right', 'left']));
  for (const u of report.units) for (const p of u.problems) lines.push(`  ${u.unitId}: ${p}`);
  const bad = report.units.filter((u) => u.status !== 'ok');
  const read = `${plural(report.archives, 'archive')} (${formatBytes(report.bytesRead)}) read`;
  lines.push(
    bad.length === 0
      ? `no errors: ${read}; every sha256, size and entry count matches the manifest, and zstd and tar read every archive whole`
      : `${bad.length} of ${plural(report.units.length, 'unit')} damaged: ${bad.map((u) => `${u.unitId} (${u.status})`).join(', ')}; ${read}`,
  );
  return lines.join('\n');
}

export const registerCheck: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('check')
    .description('read every archive of a snapshot and verify it (sha256, size, entries, zstd and tar) without restoring')
    .argument('[snapshot]', 'snapshot id, the start of one, or "latest" (the snapshot written last)', 'latest')
    .option(
      '--host <key>',
      "whose snapshot: a host key as `gpu-maint snapshots list` shows it (default: the store's only host, or this host)",
    )
    .option('--json', 'print the report as JSON')
    .action(async (ref: string, options: { host?: string; json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      snapshotRefArgument('snapshot', ref);
      const requested = hostKeyOption(options.host);
      const store = configuredBackupStore(config);
      const snapshot = await openSnapshot(store, await chooseHostKey(store, requested), ref);
      const total = manifestTotals(snapshot.manifest);
      const started = Date.now();
      let unitsDone = 0;
      let bytesBefore = 0;
      let lastDraw = 0;
      // One updating line on a terminal's stderr; never in --json or a pipe.
      const status = options.json ? undefined : io.status;
      const draw = (unit: string, bytesDone: number) =>
        status?.(
          formatProgress(
            { task: 'check', unit, unitsDone, unitsTotal: total.units, bytesDone, bytesTotal: total.bytes },
            (Date.now() - started) / 1000,
          ),
        );
      const reader = new ToolArchiveReader(store, {
        onBytes: (archive, bytes) => {
          if (!status || Date.now() - lastDraw < 200) return;
          lastDraw = Date.now();
          draw(snapshot.manifest.units.find((u) => u.key === archive.key)?.id ?? archive.key, bytesBefore + bytes);
        },
      });
      const report = await checkSnapshot(snapshot, reader, (done) => {
        unitsDone++;
        bytesBefore += done.bytesRead;
        draw(done.unitId, bytesBefore);
      });
      status?.('');
      io.out(options.json ? JSON.stringify({ location: store.location, ...report }, null, 2) : formatCheckReport(report, store.location));
      if (!report.ok) {
        const bad = report.units.filter((u) => u.status !== 'ok');
        throw new ExitError(
          `check failed: ${bad.length} of ${plural(report.units.length, 'unit')} of snapshot ${report.snapshot} damaged (${bad.map((u) => u.unitId).join(', ')}); restore cannot recover them from this snapshot`,
          EXIT.taskFailed,
        );
      }
    });
};
