/**
 * `gpu-maint check [snapshot | --all] [--host H] [--json]`: reads every archive of a snapshot (default:
 * the latest; --all: every snapshot, each archive once) from the backup destination and verifies it against the manifest (size, sha256, entries) and
 * with zstd and tar, without restoring anything, like `restic check --read-data`. Exits 1 naming every
 * damaged unit.
 */
import type { Command } from 'commander';
import { assertArchiveTools, ToolArchiveReader } from '../../../lambda/adapters/local/archive-reader';
import { formatProgress } from '../../../lambda/adapters/local/progress';
import {
  type CheckReport,
  checkSnapshot,
  checkSnapshotListing,
  unreadableSnapshotReport,
  type VerdictCache,
} from '../../../lambda/core/backup/check';
import { openSnapshot, type ResolvedSnapshot } from '../../../lambda/core/backup/contents';
import { compareSnapshotIds, ManifestError, manifestTotals } from '../../../lambda/core/backup/manifest';
import type { BackupStore } from '../../../lambda/core/backup/store';
import { formatBytes, plural } from '../../../lambda/core/format';
import { chooseHostKey, configuredBackupStore, hostKeyOption, snapshotRefArgument } from '../backup-store';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand, UsageError } from '../context';
import { plainTable } from './snapshots';

/** The check report for people: a row per unit, then each problem, then the verdict. */
export function formatCheckReport(report: CheckReport, location: string): string {
  const lines = [`snapshot ${report.snapshot} of ${report.hostKey} in ${location}`];
  const rows = report.units.map((u) => [u.unitId, u.path, formatBytes(u.bytesRead), u.status === 'ok' ? 'ok' : u.status.toUpperCase()]);
  if (rows.length > 0) lines.push(...plainTable(['unit', 'path', 'read', 'result'], rows, ['left', 'left', 'right', 'left']));
  for (const u of report.units) for (const p of u.problems) lines.push(`  ${u.unitId}: ${p}`);
  const bad = report.units.filter((u) => u.status !== 'ok');
  const read = report.readData
    ? `${plural(report.archives, 'archive')} (${formatBytes(report.bytesRead)}) read`
    : `${plural(report.archives, 'archive')} listed, none read (--no-read-data)`;
  const verified = report.readData
    ? 'every sha256, size and entry count matches the manifest, and zstd and tar read every archive whole'
    : 'every archive exists with the size the manifest says';
  lines.push(
    bad.length === 0
      ? `no errors: ${read}; ${verified}`
      : `${bad.length} of ${plural(report.units.length, 'unit')} damaged: ${bad.map((u) => `${u.unitId} (${u.status})`).join(', ')}; ${read}`,
  );
  return lines.join('\n');
}

/** `check --all`: a row per snapshot, then each problem once, then the verdict. */
export function formatCheckAll(reports: readonly CheckReport[], hostKey: string, location: string): string {
  const lines = [`${plural(reports.length, 'snapshot')} of ${hostKey} in ${location}`];
  const rows = reports.map((r) => {
    const bad = r.units.filter((u) => u.status !== 'ok');
    return [
      r.snapshot,
      String(r.units.length),
      formatBytes(r.bytesRead),
      r.error ? 'UNREADABLE manifest' : bad.length === 0 ? 'ok' : `DAMAGED: ${bad.map((u) => `${u.unitId} (${u.status})`).join(', ')}`,
    ];
  });
  if (rows.length > 0) lines.push(...plainTable(['snapshot', 'units', 'read', 'result'], rows, ['left', 'right', 'right', 'left']));
  const seen = new Set<string>();
  for (const r of reports) {
    if (r.error) lines.push(`  ${r.snapshot}: ${r.error}`);
    for (const u of r.units) {
      for (const p of u.problems) {
        if (seen.has(p)) continue;
        seen.add(p);
        lines.push(`  ${u.unitId}: ${p}`);
      }
    }
  }
  const damaged = reports.filter((r) => !r.ok);
  const archives = reports.reduce((n, r) => n + r.archives, 0);
  const bytes = reports.reduce((n, r) => n + r.bytesRead, 0);
  const read = reports.some((r) => r.readData)
    ? `${formatBytes(bytes)} read for ${plural(archives, 'archive')} (each shared archive read once)`
    : `${plural(archives, 'archive')} listed, none read (--no-read-data)`;
  lines.push(
    damaged.length === 0
      ? `no errors: ${plural(reports.length, 'snapshot')}; ${read}`
      : `${damaged.length} of ${plural(reports.length, 'snapshot')} damaged: ${damaged.map((r) => r.snapshot).join(', ')}; ${read}`,
  );
  return lines.join('\n');
}

interface CheckOptions {
  readonly all?: boolean;
  /** False with --no-read-data. */
  readonly readData: boolean;
  readonly host?: string;
  readonly json?: boolean;
}

export const registerCheck: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('check')
    .description('read every archive of a snapshot and verify it (sha256, size, entries, zstd and tar) without restoring')
    .argument('[snapshot]', 'snapshot id, the start of one, or "latest" (the snapshot written last) [default: latest]')
    .option('--all', 'every snapshot of the host (an archive shared by several is read once)')
    .option('--no-read-data', 'only check that every archive exists with the size the manifest says (lists the store; reads no archive)')
    .option(
      '--host <key>',
      "whose snapshot: a host key as `gpu-maint snapshots list` shows it (default: the store's only host, or this host)",
    )
    .option('--json', 'print the report as JSON')
    .action(async (ref: string | undefined, options: CheckOptions, cmd: Command) => {
      const config = configFor(cmd);
      if (ref !== undefined && options.all)
        throw new UsageError(`snapshot ${JSON.stringify(ref)} and --all: expected one of them, not both`);
      snapshotRefArgument('snapshot', ref ?? 'latest');
      const requested = hostKeyOption(options.host);
      if (options.readData) assertArchiveTools();
      const store = configuredBackupStore(config);
      const hostKey = await chooseHostKey(store, requested);
      const refs = options.all ? (await store.listSnapshotIds(hostKey)).sort(compareSnapshotIds) : [ref ?? 'latest'];
      if (refs.length === 0) throw new ExitError(`host ${hostKey} has no snapshots in ${store.location}`, EXIT.taskFailed);
      // One updating line on a terminal's stderr; never in --json or a pipe.
      const status = options.json ? undefined : io.status;
      const verdicts: VerdictCache = new Map();
      const stored = options.readData ? null : await store.listArchives(hostKey);
      const reports: CheckReport[] = [];
      for (const [i, r] of refs.entries()) {
        let snapshot: ResolvedSnapshot;
        try {
          snapshot = await openSnapshot(store, hostKey, r);
        } catch (err) {
          // One unreadable manifest must not hide the state of the others.
          if (!options.all || !(err instanceof ManifestError)) throw err;
          reports.push(unreadableSnapshotReport(hostKey, r, err.message));
          continue;
        }
        const task = refs.length > 1 ? `check ${i + 1}/${refs.length} snapshots ·` : 'check';
        reports.push(stored ? checkSnapshotListing(snapshot, stored) : await checkWithProgress(snapshot, store, task, verdicts, status));
      }
      status?.('');
      if (options.json) {
        io.out(
          JSON.stringify(
            options.all ? { location: store.location, hostKey, snapshots: reports } : { location: store.location, ...reports[0] },
            null,
            2,
          ),
        );
      } else {
        io.out(options.all ? formatCheckAll(reports, hostKey, store.location) : formatCheckReport(reports[0], store.location));
      }
      const failed = reports.filter((r) => !r.ok);
      if (failed.length > 0) {
        const bad = [...new Set(failed.flatMap((r) => r.units.filter((u) => u.status !== 'ok').map((u) => u.unitId)))];
        const which = options.all
          ? `${failed.length} of ${plural(reports.length, 'snapshot')} damaged (${failed.map((r) => r.snapshot).join(', ')})${bad.length > 0 ? `, units ${bad.join(', ')}` : ''}`
          : `${bad.length} of ${plural(reports[0].units.length, 'unit')} of snapshot ${reports[0].snapshot} damaged (${bad.join(', ')})`;
        throw new ExitError(
          `check failed: ${which}; restore cannot recover them from ${options.all ? 'those snapshots' : 'this snapshot'}`,
          EXIT.taskFailed,
        );
      }
    });
};

/** Checks one snapshot, drawing one progress line (units and bytes done, rate, ETA) when `status` is given. */
async function checkWithProgress(
  snapshot: ResolvedSnapshot,
  store: BackupStore,
  task: string,
  verdicts: VerdictCache,
  status: ((line: string) => void) | undefined,
): Promise<CheckReport> {
  const total = manifestTotals(snapshot.manifest);
  const started = Date.now();
  let unitsDone = 0;
  let bytesBefore = 0;
  let lastDraw = 0;
  const draw = (unit: string, bytesDone: number) =>
    status?.(
      formatProgress({ task, unit, unitsDone, unitsTotal: total.units, bytesDone, bytesTotal: total.bytes }, (Date.now() - started) / 1000),
    );
  const reader = new ToolArchiveReader(store, {
    onBytes: (archive, bytes) => {
      if (!status || Date.now() - lastDraw < 200) return;
      lastDraw = Date.now();
      draw(snapshot.manifest.units.find((u) => u.key === archive.key)?.id ?? archive.key, bytesBefore + bytes);
    },
  });
  return checkSnapshot(
    snapshot,
    reader,
    (done) => {
      unitsDone++;
      bytesBefore += done.bytesRead;
      draw(done.unitId, bytesBefore);
    },
    verdicts,
  );
}
