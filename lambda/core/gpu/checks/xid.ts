/**
 * gpu.xid: Xid errors in the kernel log since the last check, graded by NVIDIA's recommended action
 * (lambda/core/gpu/xid-catalog.ts), and the driver's own `gpu_recovery_action` per GPU.
 */
import { addReading, type CheckOutcome, emptyOutcome } from '../../check-outcome';
import type { Finding, XidEvent } from '../../types';
import { worstSeverity } from '../../types';
import type { GpuCheckInput } from '../check-input';
import type { GpuRow } from '../nvidia-smi';
import { dedupXids, parseXidLines } from '../xid';
import { recoveryActionSeverity, xidAdvice } from '../xid-catalog';
import { gpuLabel } from './per-gpu';

const THRESHOLD = "severity by NVIDIA's recommended action per Xid";

/** The gpu.xid findings of some Xid events (gpu-check's, or the kernel-log watcher's: lambda/core/gpu/watch.ts). */
export function xidFindings(
  events: readonly XidEvent[],
  log: { source: string | null; problem: string | null },
  driverPresent: boolean,
  rows: readonly GpuRow[],
): Finding[] {
  const findings: Finding[] = [];
  const groups = new Map<string, XidEvent[]>();
  for (const e of events) {
    const key = e.gpu !== null ? `gpu:${e.gpu}` : `bus:${e.busId}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  for (const group of groups.values()) {
    const severity = worstSeverity(group.map((e) => e.severity));
    if (severity === 'ok') continue;
    const first = group[0];
    const who = first.gpu !== null ? `GPU ${first.gpu} (${first.busId})` : `GPU at ${first.busId} (not listed by nvidia-smi)`;
    const detail = group
      .filter((e) => e.severity !== 'ok')
      .map((e) => `Xid ${e.code}${(e.count ?? 1) > 1 ? ` ×${e.count}` : ''}: ${e.message.slice(0, 160)} → ${xidAdvice(e.code)}`)
      .join('; ');
    findings.push({
      check: 'gpu.xid',
      severity,
      message: `${who}: ${detail}`,
      ...(first.gpu !== null ? { gpu: first.gpu } : {}),
      reading: group.map((e) => e.code).join(','),
      threshold: THRESHOLD,
    });
  }
  for (const row of rows) {
    const severity = row.recoveryAction ? recoveryActionSeverity(row.recoveryAction) : null;
    if (severity && severity !== 'ok') {
      findings.push({
        check: 'gpu.xid',
        severity,
        message: `${gpuLabel(row.reading)}: the driver asks for recovery action "${row.recoveryAction}"`,
        gpu: row.reading.index,
        reading: row.recoveryAction,
        threshold: 'gpu_recovery_action other than None',
      });
    }
  }
  if (findings.length > 0) return findings;
  if (log.problem !== null) {
    return [
      {
        check: 'gpu.xid',
        severity: driverPresent ? 'warning' : 'ok',
        message: `kernel log not readable, Xid errors not checked (${log.problem}); run as root or in group adm / systemd-journal`,
        reading: null,
      },
    ];
  }
  const lines = events.reduce((n, e) => n + (e.count ?? 1), 0);
  return [
    {
      check: 'gpu.xid',
      severity: 'ok',
      message:
        events.length === 0
          ? `no Xid errors in the kernel log since the last check (${log.source})`
          : `${lines} informational Xid line${lines === 1 ? '' : 's'} (no action needed): ${events.map((e) => `Xid ${e.code}`).join(', ')}`,
      reading: lines,
      threshold: THRESHOLD,
    },
  ];
}

export function xidCheck(input: GpuCheckInput): CheckOutcome {
  const out = emptyOutcome();
  const indexByBusId = new Map<string, number>(input.seen);
  for (const row of input.rows) if (row.reading.busId) indexByBusId.set(row.reading.busId, row.reading.index);
  const xids = dedupXids(parseXidLines(input.kernelLog.lines), indexByBusId);
  const driverPresent = input.nvidiaSmiInstalled || input.kernelModule !== '';
  out.findings.push(...xidFindings(xids, input.kernelLog, driverPresent, input.rows));
  addReading(
    out,
    'XidEvents',
    xids.reduce((n, e) => n + (e.count ?? 1), 0),
    'Count',
  );
  addReading(out, 'XidCritical', xids.filter((e) => e.severity === 'critical').length, 'Count');
  out.details.xids = xids;
  return out;
}
