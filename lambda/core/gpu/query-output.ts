/**
 * Whether nvidia-smi's answer can be trusted at all, before any threshold is compared: a query that exits 0
 * with nothing, garbage, a table cut short, nothing but `[N/A]`, or far more rows than a host has GPUs is a
 * finding, and so is a GPU that lacks a reading its same-model siblings on the host give (its sensor, or the
 * GPU itself, is failing). Every check that could not run because of it is named.
 */
import type { Section } from '../contract';
import type { Finding, GpuReading } from '../types';
import type { GpuQuery } from './nvidia-smi';

/** More than this many characters of query output is not a GPU table: it is not parsed. */
export const MAX_QUERY_CHARS = 1024 * 1024;
/** More GPU rows than any host has (gpuCheck.expectedGpuCount allows up to 64). */
export const MAX_GPU_ROWS = 64;

/** The per-GPU checks that need the query table. */
export const TABLE_CHECKS = 'temperature, memory, ECC, row remapping, retired pages, throttling, PCIe, power';

/** The numeric readings compared between same-model GPUs. */
const SIBLING_READINGS: ReadonlyArray<readonly [keyof GpuReading, string]> = [
  ['temperatureC', 'temperature.gpu'],
  ['utilizationPct', 'utilization.gpu'],
  ['memoryUsedMiB', 'memory.used'],
  ['memoryTotalMiB', 'memory.total'],
  ['powerDrawW', 'power.draw'],
  ['powerLimitW', 'power.limit'],
  ['eccUncorrectedVolatile', 'ecc.errors.uncorrected.volatile.total'],
  ['pcieLinkGenCurrent', 'pcie.link.gen.current'],
  ['pcieLinkWidthCurrent', 'pcie.link.width.current'],
];

export interface QueryOutcome {
  /** The table to evaluate: empty when the output could not be trusted. */
  readonly query: GpuQuery | null;
  readonly findings: readonly Finding[];
}

/** The query section's output, parsed with bounds; null query when it was not run or did not exit 0. */
export function readQueryOutput(section: Section | undefined, parse: (text: string) => GpuQuery): QueryOutcome {
  if (section?.exitCode !== 0) return { query: section ? parse(section.stdout.slice(0, MAX_QUERY_CHARS)) : null, findings: [] };
  const problem = (message: string): QueryOutcome => ({
    query: null,
    findings: [{ check: 'gpu.driver', severity: 'warning', message: `${message}: not checked this run: ${TABLE_CHECKS}`, reading: null }],
  });
  const cut = /output cut at (\d+) bytes/.exec(section.stderr);
  if (section.stdout.length > MAX_QUERY_CHARS || cut) {
    return problem(
      `nvidia-smi --query-gpu printed ${cut ? `more than ${cut[1]} bytes` : `${section.stdout.length} characters`}, far more than a GPU table: output not trusted`,
    );
  }
  if (section.stdout.trim() === '') return problem('nvidia-smi --query-gpu exited 0 but printed nothing');
  const query = parse(section.stdout);
  if (query.fields.length === 0) {
    const sample = query.otherLines[0]?.slice(0, 80) ?? '';
    return problem(
      `nvidia-smi --query-gpu exited 0 but printed no GPU table (${query.otherLines.length} unreadable line(s), e.g. ${JSON.stringify(sample)})`,
    );
  }
  if (query.rows.length > MAX_GPU_ROWS) {
    return problem(
      `nvidia-smi --query-gpu listed ${query.rows.length} GPUs, more than the ${MAX_GPU_ROWS} a host can have: output not trusted`,
    );
  }
  const findings: Finding[] = [];
  if (query.rows.length === 0) {
    findings.push({
      check: 'gpu.driver',
      severity: 'warning',
      message: `nvidia-smi --query-gpu printed a header but no GPU rows${query.otherLines.length ? ` (${query.otherLines.length} line(s) cut short or malformed)` : ''}: not checked this run: ${TABLE_CHECKS}`,
      reading: null,
    });
  } else if (query.otherLines.length > 0) {
    findings.push({
      check: 'gpu.driver',
      severity: 'warning',
      message: `nvidia-smi --query-gpu output has ${query.otherLines.length} line(s) cut short or malformed (e.g. ${JSON.stringify(query.otherLines[0].slice(0, 80))}): those GPUs were not checked`,
      reading: query.otherLines.length,
    });
  }
  const readable = query.rows.filter((r) => SIBLING_READINGS.some(([key]) => typeof r.reading[key] === 'number'));
  if (query.rows.length > 0 && readable.length === 0) {
    findings.push({
      check: 'gpu.driver',
      severity: 'warning',
      message: `nvidia-smi gave no readings ([N/A] or unreadable) for any of ${query.rows.length} GPU(s): not checked this run: ${TABLE_CHECKS}`,
      reading: 0,
    });
  }
  findings.push(...siblingFindings(query.rows.map((r) => r.reading)));
  return { query, findings };
}

/**
 * A reading that same-model GPUs on this host give but this GPU does not (`[N/A]`, unreadable): a warning on
 * that GPU. Only fields at least one sibling reads are compared, so a model without the sensor says nothing.
 */
export function siblingFindings(gpus: readonly GpuReading[]): Finding[] {
  const findings: Finding[] = [];
  const byModel = new Map<string, GpuReading[]>();
  for (const g of gpus) {
    const list = byModel.get(g.name ?? '') ?? [];
    list.push(g);
    byModel.set(g.name ?? '', list);
  }
  for (const [model, group] of byModel) {
    if (group.length < 2) continue;
    for (const g of group) {
      // MIG mode hides utilization by design: not a failing sensor.
      const missing = SIBLING_READINGS.filter(([key]) => !(key === 'utilizationPct' && g.migMode === 'Enabled'))
        .filter(([key]) => typeof g[key] !== 'number' && group.some((other) => other !== g && typeof other[key] === 'number'))
        .map(([, field]) => field);
      if (missing.length === 0) continue;
      const readers = group.filter((o) => o !== g).length;
      findings.push({
        check: 'gpu.unresponsive',
        severity: 'warning',
        message: `GPU ${g.index}${model ? ` (${model})` : ''} gives no ${missing.join(', ')} while its ${readers} same-model sibling(s) do: its sensor or the GPU itself may be failing`,
        gpu: g.index,
        reading: missing.join(','),
      });
    }
  }
  return findings;
}
