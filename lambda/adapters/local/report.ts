/**
 * The terminal report of local mode: one line per check with ✓ ! ✗, the reading and the threshold.
 */
import type { Finding, Severity, TaskResult } from '../../core/types';

const MARK: Record<Severity, string> = { ok: '✓', warning: '!', critical: '✗' };

export function formatFinding(f: Finding, checkWidth: number): string {
  const where = f.gpu !== undefined ? ` [GPU ${f.gpu}]` : '';
  const threshold = f.threshold ? `  (${f.threshold})` : '';
  return `  ${MARK[f.severity]} ${f.check.padEnd(checkWidth)} ${f.message}${where}${threshold}`;
}

export function formatReport(result: TaskResult): string {
  const width = Math.max(12, ...result.findings.map((f) => f.check.length));
  const header = `${result.task} on ${result.host}: ${result.status.toUpperCase()}`;
  const lines = result.findings.length ? result.findings.map((f) => formatFinding(f, width)) : ['  (no findings)'];
  return [header, ...lines].join('\n');
}

/** Counts per severity, e.g. `2 critical, 1 warning, 9 ok`. */
export function summarize(results: readonly TaskResult[]): string {
  const count = { critical: 0, warning: 0, ok: 0 } as Record<Severity, number>;
  for (const r of results) for (const f of r.findings) count[f.severity] += 1;
  const failed = results.filter((r) => r.status === 'failed').map((r) => r.task);
  const parts = [`${count.critical} critical`, `${count.warning} warning`, `${count.ok} ok`];
  return `${results.length} task(s): ${parts.join(', ')}${failed.length ? `; could not run: ${failed.join(', ')}` : ''}`;
}
