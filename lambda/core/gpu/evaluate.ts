/**
 * Evaluates gpu-check output (scripts/gpu-check.sh) into findings, metric readings and details.
 *
 * Every check has a stable name (gpu.driver, gpu.unresponsive, gpu.count, gpu.temperature, gpu.memory,
 * gpu.xid, gpu.ecc, gpu.row-remap, gpu.retired-pages, gpu.throttle, gpu.pcie, gpu.power). A check that
 * finds nothing wrong gives one ok finding for the host (its reading is the worst value among the
 * GPUs); otherwise it gives one finding per affected GPU. A value the driver does not report is never
 * a breach; a value it failed to read (`[Unknown Error]`) is a warning on that GPU. docs/gpu-check.md
 * describes each rule.
 */
import { type ParsedResult, parseKeyValues, RESULT_CONTRACT, type Section } from '../contract';
import type { Evaluation, EvaluationContext, TaskEvaluator } from '../evaluate';
import type { MetricName } from '../metric-names';
import type { GpuMetricReading, Reading } from '../metrics';
import { classify, describeLevels, type Levels } from '../thresholds';
import type { CheckName, Finding, GpuReading, Severity, XidEvent } from '../types';
import { worstSeverity } from '../types';
import { resolveExpectedGpuCount } from './instance-gpus';
import { detectNvidiaSmiFailures, type GpuRow, type NvidiaSmiFailure, parseGpuList, parseGpuQueryRows } from './nvidia-smi';
import { readQueryOutput } from './query-output';
import { dedupXids, normaliseBusId, parseXidLines } from './xid';
import { recoveryActionSeverity, xidAdvice } from './xid-catalog';

/** Section names printed by scripts/gpu-check.sh. */
export const GPU_CHECK_SECTIONS = {
  identity: 'identity',
  driver: 'driver',
  help: 'nvidia-smi-help',
  query: 'nvidia-smi-query',
  queryRetry: 'nvidia-smi-query-retry',
  list: 'nvidia-smi-list',
  seen: 'gpus-seen-this-boot',
  journal: 'kernel-xid-journal',
  dmesg: 'kernel-xid-dmesg',
  budget: 'budget',
} as const;

/** Exit status the script records for a probe it did not run. */
export const NOT_RUN_EXIT = RESULT_CONTRACT.exit.notRun;

/** Clock event reasons that mean the GPU is being slowed by a fault or by heat, not by policy. */
export const HARMFUL_THROTTLE_REASONS: readonly string[] = [
  'hw_slowdown',
  'hw_thermal_slowdown',
  'hw_power_brake_slowdown',
  'sw_thermal_slowdown',
];

/** Query fields each check reads: a failed read of one of them is a warning under that check. */
const CHECK_FIELDS: ReadonlyArray<readonly [CheckName, readonly string[]]> = [
  ['gpu.temperature', ['temperature.gpu', 'temperature.memory']],
  ['gpu.memory', ['memory.used', 'memory.total']],
  ['gpu.ecc', ['ecc.errors.uncorrected.volatile.total']],
  ['gpu.row-remap', ['remapped_rows.pending', 'remapped_rows.failure']],
  [
    'gpu.retired-pages',
    [
      'retired_pages.pending',
      'retired_pages.single_bit_ecc.count',
      'retired_pages.double_bit.count',
      'retired_pages.sbe',
      'retired_pages.dbe',
    ],
  ],
  ['gpu.throttle', ['clocks_event_reasons.active', 'clocks_throttle_reasons.active']],
  ['gpu.pcie', ['pcie.link.width.current', 'pcie.link.width.max']],
  ['gpu.power', ['power.draw', 'enforced.power.limit', 'power.limit']],
];

const DRIVER_FAILURES = new Set(['driver-communication', 'version-mismatch', 'nvml-init', 'library-missing']);

const DRIVER_ADVICE: Readonly<Record<string, string>> = {
  'driver-communication': 'the kernel module is not loaded or the driver is wedged: reboot, or reinstall the driver',
  'version-mismatch': 'the driver was upgraded without a reboot: reboot (or reload the nvidia kernel modules)',
  'nvml-init': 'NVML could not start: check the driver installation and device permissions',
  'library-missing': 'libnvidia-ml.so is missing: reinstall the driver',
};

function num(text: string | undefined): number | null {
  if (text === undefined || text.trim() === '') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function kv(parsed: ParsedResult, name: string): Record<string, string> {
  const s = parsed.sections.get(name);
  return s ? parseKeyValues(s.stdout) : {};
}

function notRun(section: Section | undefined): boolean {
  return section !== undefined && section.exitCode === NOT_RUN_EXIT && /^not run/m.test(section.stderr);
}

function gpuLabel(gpu: GpuReading): string {
  return `GPU ${gpu.index}`;
}

interface GpuCheckContext {
  readonly rows: readonly GpuRow[];
  readonly findings: Finding[];
}

/** Adds the per-GPU findings of one check, or one ok finding when no GPU is affected. */
function perGpuCheck(
  ctx: GpuCheckContext,
  check: CheckName,
  evaluateGpu: (row: GpuRow) => { severity: Severity; message: string; reading?: number | string | null } | null,
  ok: { message: string; reading?: number | string | null },
  threshold: string,
): void {
  const before = ctx.findings.length;
  const fields = CHECK_FIELDS.find(([c]) => c === check)?.[1] ?? [];
  for (const row of ctx.rows) {
    const result = evaluateGpu(row);
    const unreadable = fields.filter((f) => row.unreadable[f] !== undefined);
    if (result && result.severity !== 'ok') {
      ctx.findings.push({
        check,
        severity: result.severity,
        message: result.message,
        gpu: row.reading.index,
        reading: result.reading ?? null,
        threshold,
      });
    } else if (unreadable.length > 0) {
      ctx.findings.push({
        check,
        severity: 'warning',
        message: `${gpuLabel(row.reading)}: ${unreadable.join(', ')} unreadable (${row.unreadable[unreadable[0]]}); the GPU may be failing`,
        gpu: row.reading.index,
        reading: null,
        threshold,
      });
    }
  }
  if (ctx.findings.length === before) {
    ctx.findings.push({ check, severity: 'ok', message: ok.message, reading: ok.reading ?? null, threshold });
  }
}

/** The GPU with the largest value of a reading, or null when no GPU has one. */
function maxBy<T>(items: readonly T[], value: (item: T) => number | null): { item: T; value: number } | null {
  let best: { item: T; value: number } | null = null;
  for (const item of items) {
    const v = value(item);
    if (v !== null && (best === null || v > best.value)) best = { item, value: v };
  }
  return best;
}

function memoryUsedPct(gpu: GpuReading): number | null {
  if (gpu.memoryUsedMiB === null || gpu.memoryTotalMiB === null || gpu.memoryTotalMiB <= 0) return null;
  return round1((gpu.memoryUsedMiB / gpu.memoryTotalMiB) * 100);
}

function powerPctOfLimit(gpu: GpuReading): number | null {
  if (gpu.powerDrawW === null || gpu.powerLimitW === null || gpu.powerLimitW <= 0) return null;
  return round1((gpu.powerDrawW / gpu.powerLimitW) * 100);
}

function retiredPagesTotal(row: GpuRow): number | null {
  if (row.retiredPagesSingleBit === null && row.retiredPagesDoubleBit === null) return null;
  return (row.retiredPagesSingleBit ?? 0) + (row.retiredPagesDoubleBit ?? 0);
}

function temperatureChecks(ctx: GpuCheckContext, core: Levels, memory: Levels): void {
  const coreText = describeLevels(core, 'above', '°C');
  const threshold = `core ${coreText}; memory ${describeLevels(memory, 'above', '°C')}`;
  const hottest = maxBy(ctx.rows, (r) => r.reading.temperatureC);
  perGpuCheck(
    ctx,
    'gpu.temperature',
    (row) => {
      const coreSeverity = classify(row.reading.temperatureC, core);
      const memSeverity = classify(row.temperatureMemoryC, memory);
      const severity = worstSeverity([coreSeverity, memSeverity]);
      if (severity === 'ok') return null;
      const parts: string[] = [];
      if (coreSeverity !== 'ok') parts.push(`at ${row.reading.temperatureC} °C`);
      if (memSeverity !== 'ok') parts.push(`memory at ${row.temperatureMemoryC} °C`);
      return {
        severity,
        message: `${gpuLabel(row.reading)} ${parts.join(', ')}: check cooling and airflow`,
        reading: coreSeverity !== 'ok' ? row.reading.temperatureC : row.temperatureMemoryC,
      };
    },
    hottest
      ? {
          message: `${ctx.rows.length} GPU${ctx.rows.length === 1 ? '' : 's'} within temperature limits (hottest: GPU ${hottest.item.reading.index} at ${hottest.value} °C)`,
          reading: hottest.value,
        }
      : { message: 'no GPU reports a temperature', reading: null },
    threshold,
  );
}

function memoryCheck(ctx: GpuCheckContext, levels: Levels): void {
  const fullest = maxBy(ctx.rows, (r) => memoryUsedPct(r.reading));
  perGpuCheck(
    ctx,
    'gpu.memory',
    (row) => {
      const pct = memoryUsedPct(row.reading);
      const severity = classify(pct, levels);
      if (severity === 'ok') return null;
      return {
        severity,
        message: `${gpuLabel(row.reading)} memory ${pct}% used (${row.reading.memoryUsedMiB} of ${row.reading.memoryTotalMiB} MiB)`,
        reading: pct,
      };
    },
    fullest
      ? {
          message: `GPU memory use within limits (fullest: GPU ${fullest.item.reading.index} at ${fullest.value}%)`,
          reading: fullest.value,
        }
      : { message: 'no GPU reports its memory use', reading: null },
    describeLevels(levels, 'above', '%'),
  );
}

function eccCheck(ctx: GpuCheckContext, levels: Levels): void {
  const reported = ctx.rows.filter((r) => r.reading.eccUncorrectedVolatile !== null);
  const sum = reported.reduce((acc, r) => acc + (r.reading.eccUncorrectedVolatile ?? 0), 0);
  perGpuCheck(
    ctx,
    'gpu.ecc',
    (row) => {
      const count = row.reading.eccUncorrectedVolatile;
      const severity = classify(count, levels);
      if (severity === 'ok') return null;
      return {
        severity,
        message: `${gpuLabel(row.reading)} has ${count} uncorrectable ECC error${count === 1 ? '' : 's'} since the driver loaded: drain and reset the GPU; replace it if they recur`,
        reading: count,
      };
    },
    reported.length > 0
      ? {
          message: `no uncorrectable ECC errors since the driver loaded (${reported.length} GPU${reported.length === 1 ? ' reports' : 's report'} ECC)`,
          reading: sum,
        }
      : { message: 'ECC not reported (ECC off or not supported by these GPUs)', reading: null },
    describeLevels(levels, 'above', 'errors'),
  );
}

function rowRemapCheck(ctx: GpuCheckContext): void {
  const reported = ctx.rows.filter((r) => r.reading.remappedRowsPending !== null || r.reading.remappedRowsFailure !== null);
  perGpuCheck(
    ctx,
    'gpu.row-remap',
    (row) => {
      if (row.reading.remappedRowsFailure) {
        return {
          severity: 'critical',
          message: `${gpuLabel(row.reading)}: row remapping failed (no spare rows left): replace the GPU`,
          reading: 'failure',
        };
      }
      if (row.reading.remappedRowsPending) {
        return {
          severity: 'warning',
          message: `${gpuLabel(row.reading)}: row remapping pending: reset the GPU at the next drain to apply it`,
          reading: 'pending',
        };
      }
      return null;
    },
    reported.length > 0
      ? { message: 'no pending or failed row remapping', reading: 'none' }
      : { message: 'row remapping not reported (MIG mode, or GPUs without row remapping)', reading: null },
    'warn on pending, crit on failure',
  );
}

function retiredPagesCheck(ctx: GpuCheckContext, levels: Levels): void {
  const most = maxBy(ctx.rows, retiredPagesTotal);
  perGpuCheck(
    ctx,
    'gpu.retired-pages',
    (row) => {
      const total = retiredPagesTotal(row);
      let severity = classify(total, levels);
      const parts: string[] = [];
      if (severity !== 'ok') parts.push(`${total} retired pages (NVIDIA advises replacement at 60)`);
      if (row.reading.retiredPagesPending) {
        severity = worstSeverity([severity, 'warning']);
        parts.push('page retirement pending: reset the GPU or reboot to retire them');
      }
      if (severity === 'ok') return null;
      return { severity, message: `${gpuLabel(row.reading)}: ${parts.join('; ')}`, reading: total };
    },
    most
      ? { message: `retired pages within limits (most: GPU ${most.item.reading.index} with ${most.value})`, reading: most.value }
      : { message: 'page retirement not reported (GPUs that use row remapping, or without ECC)', reading: null },
    `${describeLevels(levels, 'above', 'pages')}; warn on pending`,
  );
}

function throttleCheck(ctx: GpuCheckContext): void {
  const active = new Set(ctx.rows.flatMap((r) => r.reading.throttleReasonsActive ?? []));
  const reported = ctx.rows.some((r) => r.reading.throttleReasonsActive !== null);
  perGpuCheck(
    ctx,
    'gpu.throttle',
    (row) => {
      const harmful = (row.reading.throttleReasonsActive ?? []).filter((r) => HARMFUL_THROTTLE_REASONS.includes(r));
      if (harmful.length === 0) return null;
      const thermal = harmful.some((r) => r.includes('thermal'));
      return {
        severity: 'warning',
        message: `${gpuLabel(row.reading)} clocks slowed by ${harmful.join(', ')}: ${thermal ? 'check cooling' : 'check power delivery'}`,
        reading: harmful.join(','),
      };
    },
    reported
      ? {
          message: `no hardware or thermal slowdown${active.size ? ` (active: ${[...active].join(', ')})` : ''}`,
          reading: [...active].join(','),
        }
      : { message: 'clock event reasons not reported', reading: null },
    `warn on ${HARMFUL_THROTTLE_REASONS.join(', ')}`,
  );
}

function pcieCheck(ctx: GpuCheckContext): void {
  const narrowest = maxBy(ctx.rows, (r) => (r.reading.pcieLinkWidthCurrent === null ? null : -r.reading.pcieLinkWidthCurrent));
  perGpuCheck(
    ctx,
    'gpu.pcie',
    (row) => {
      const width = row.reading.pcieLinkWidthCurrent;
      const max = row.pcieLinkWidthMax;
      if (width === null || max === null || width >= max) return null;
      const gen =
        row.reading.pcieLinkGenCurrent !== null && row.pcieLinkGenMax !== null
          ? ` (gen ${row.reading.pcieLinkGenCurrent} of ${row.pcieLinkGenMax})`
          : '';
      return {
        severity: 'warning',
        message: `${gpuLabel(row.reading)} PCIe link at x${width} of x${max}${gen}: reseat or replace (host-to-GPU bandwidth reduced)`,
        reading: width,
      };
    },
    narrowest
      ? { message: 'every PCIe link at its full width', reading: -narrowest.value }
      : { message: 'PCIe link width not reported', reading: null },
    'warn when the link width is below its maximum',
  );
}

function powerCheck(ctx: GpuCheckContext, levels: Levels): void {
  const highest = maxBy(ctx.rows, (r) => powerPctOfLimit(r.reading));
  perGpuCheck(
    ctx,
    'gpu.power',
    (row) => {
      const pct = powerPctOfLimit(row.reading);
      const severity = classify(pct, levels);
      if (severity === 'ok') return null;
      return {
        severity,
        message: `${gpuLabel(row.reading)} draws ${row.reading.powerDrawW} W, ${pct}% of its ${row.reading.powerLimitW} W limit: power capping is not holding`,
        reading: pct,
      };
    },
    highest
      ? {
          message: `power draw within limits (highest: GPU ${highest.item.reading.index} at ${highest.value}% of its limit)`,
          reading: highest.value,
        }
      : { message: 'no GPU reports power draw against a limit', reading: null },
    describeLevels(levels, 'above', '% of the power limit'),
  );
}

/** Which kernel log the Xid lines came from, and why none could be read. */
function kernelLog(parsed: ParsedResult): { lines: string; source: string | null; problem: string | null } {
  const journal = parsed.sections.get(GPU_CHECK_SECTIONS.journal);
  const dmesg = parsed.sections.get(GPU_CHECK_SECTIONS.dmesg);
  const journalUsable = journal && journal.exitCode === 0 && !/No journal files were found|not seeing messages/.test(journal.stderr);
  if (journalUsable) return { lines: journal.stdout, source: 'journal', problem: null };
  if (dmesg && dmesg.exitCode === 0) return { lines: dmesg.stdout, source: 'dmesg', problem: null };
  const why = [journal, dmesg]
    .filter((s): s is Section => s !== undefined)
    .map((s) => `${s.name}: ${s.timedOut ? 'timed out' : (s.stderr.trim().split('\n')[0] ?? '') || `exit ${s.exitCode}`}`);
  return { lines: '', source: null, problem: why.length ? why.join('; ') : 'no kernel log section in the output' };
}

/** The gpu.xid findings of some Xid events (gpu-check's, or the kernel-log watcher's: lambda/core/gpu/watch.ts). */
export function xidCheck(
  findings: Finding[],
  events: readonly XidEvent[],
  log: { source: string | null; problem: string | null },
  driverPresent: boolean,
  rows: readonly GpuRow[],
): void {
  const before = findings.length;
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
      threshold: "severity by NVIDIA's recommended action per Xid",
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
  if (findings.length > before) return;
  if (log.problem !== null) {
    findings.push({
      check: 'gpu.xid',
      severity: driverPresent ? 'warning' : 'ok',
      message: `kernel log not readable, Xid errors not checked (${log.problem}); run as root or in group adm / systemd-journal`,
      reading: null,
    });
    return;
  }
  const lines = events.reduce((n, e) => n + (e.count ?? 1), 0);
  findings.push({
    check: 'gpu.xid',
    severity: 'ok',
    message:
      events.length === 0
        ? `no Xid errors in the kernel log since the last check (${log.source})`
        : `${lines} informational Xid line${lines === 1 ? '' : 's'} (no action needed): ${events.map((e) => `Xid ${e.code}`).join(', ')}`,
    reading: lines,
    threshold: "severity by NVIDIA's recommended action per Xid",
  });
}

/** Reads the `gpus-seen-this-boot` section: bus id → last index. */
function seenThisBoot(parsed: ParsedResult): Map<string, number> {
  const seen = new Map<string, number>();
  for (const line of (parsed.sections.get(GPU_CHECK_SECTIONS.seen)?.stdout ?? '').split('\n')) {
    const [bus, index] = line.trim().split(/\s+/);
    const busId = bus ? normaliseBusId(bus) : null;
    if (busId && /^\d+$/.test(index ?? '')) seen.set(busId, Number(index));
  }
  return seen;
}

export const evaluateGpuCheck: TaskEvaluator = (parsed: ParsedResult, ctx: EvaluationContext): Evaluation => {
  const { thresholds, gpuCheck } = ctx.settings;
  const findings: Finding[] = [];
  const identity = kv(parsed, GPU_CHECK_SECTIONS.identity);
  const driver = kv(parsed, GPU_CHECK_SECTIONS.driver);
  const instanceType = gpuCheck.instanceType !== 'auto' ? gpuCheck.instanceType : identity.instance_type || null;
  const expected = resolveExpectedGpuCount(gpuCheck.expectedGpuCount, instanceType);
  const uptimeS = num(identity.uptime_s);
  const inBootGrace = uptimeS !== null && uptimeS < gpuCheck.bootGraceMinutes * 60;
  const pciGpus = num(driver.pci_gpus);
  const nvidiaSmiInstalled = driver.nvidia_smi !== undefined ? driver.nvidia_smi !== '' : parsed.sections.has(GPU_CHECK_SECTIONS.query);

  const help = parsed.sections.get(GPU_CHECK_SECTIONS.help);
  const firstQuery = parsed.sections.get(GPU_CHECK_SECTIONS.query);
  const retry = parsed.sections.get(GPU_CHECK_SECTIONS.queryRetry);
  const query = retry ?? firstQuery;
  const list = parsed.sections.get(GPU_CHECK_SECTIONS.list);
  const nvsmiSections = [help, firstQuery, retry, list].filter((s): s is Section => s !== undefined);

  const queryOutcome = query && !notRun(query) ? readQueryOutput(query, parseGpuQueryRows) : { query: null, findings: [] };
  const queryParsed = queryOutcome.query;
  const queryDistrusted = queryOutcome.findings.some((f) => f.check === 'gpu.driver');
  const rows = queryParsed?.rows ?? [];
  const gpus = rows.map((r) => r.reading);
  const listParsed = list && !notRun(list) && list.exitCode === 0 ? parseGpuList(list.stdout) : null;
  const failures: NvidiaSmiFailure[] = [];
  for (const s of [query, list]) if (s) failures.push(...detectNvidiaSmiFailures(`${s.stdout}\n${s.stderr}`));
  const firstQueryFailures = firstQuery ? detectNvidiaSmiFailures(`${firstQuery.stdout}\n${firstQuery.stderr}`) : [];
  const noDevices = failures.some((f) => f.kind === 'no-devices');

  // ---- gpu.driver
  const driverVersion = rows.find((r) => r.driverVersion)?.driverVersion ?? (driver.kernel_module || null);
  const gpusExpected = expected !== null && expected > 0;
  if (!nvidiaSmiInstalled) {
    const onBus = pciGpus !== null && pciGpus > 0;
    const reasons: string[] = [];
    if (onBus) reasons.push(`${pciGpus} NVIDIA GPU${pciGpus === 1 ? ' is' : 's are'} on the PCI bus`);
    if (gpusExpected) reasons.push(`${instanceType ?? 'this host'} should have ${expected} GPU${expected === 1 ? '' : 's'}`);
    findings.push({
      check: 'gpu.driver',
      severity: onBus || gpusExpected ? 'critical' : 'warning',
      message: `nvidia-smi not found: no NVIDIA driver installed${reasons.length ? `, but ${reasons.join(' and ')}` : ''}`,
      reading: null,
    });
  } else {
    const fatal = failures.find((f) => DRIVER_FAILURES.has(f.kind));
    const rejected = firstQueryFailures.find((f) => f.kind === 'invalid-field');
    if (fatal) {
      findings.push({
        check: 'gpu.driver',
        severity: 'critical',
        message: `${fatal.message} (${DRIVER_ADVICE[fatal.kind]})`,
        reading: null,
      });
    } else if (rejected) {
      const recovered = retry !== undefined && rows.length > 0;
      findings.push({
        check: 'gpu.driver',
        severity: 'warning',
        message: recovered
          ? `nvidia-smi rejected field "${rejected.subject}" although --help-query-gpu lists it (driver ${driverVersion ?? 'unknown'}); the GPUs were read without it`
          : `nvidia-smi rejected field "${rejected.subject}" as not valid to query (driver too old for it): GPU readings unavailable this run`,
        reading: rejected.subject ?? null,
      });
    } else if (!queryDistrusted) {
      findings.push({
        check: 'gpu.driver',
        severity: 'ok',
        message: driverVersion ? `NVIDIA driver ${driverVersion}` : 'nvidia-smi installed',
        reading: driverVersion,
      });
    }
    findings.push(...queryOutcome.findings);
  }

  // ---- gpu.unresponsive
  let unresponsive = false;
  if (nvidiaSmiInstalled) {
    // This check's own findings: ok is decided by them, not by counting what other checks added.
    const own: Finding[] = [];
    const timedOut = nvsmiSections.find((s) => s.timedOut);
    if (timedOut) {
      unresponsive = true;
      own.push({
        check: 'gpu.unresponsive',
        severity: 'critical',
        message: `nvidia-smi did not answer within ${timedOut.seconds ?? '?'} s (${timedOut.name}): the driver may be wedged; drain the node, then reset the GPUs or reboot`,
        reading: timedOut.seconds,
      });
    } else {
      const skipped = nvsmiSections.filter((s) => notRun(s) && /time budget/.test(s.stderr));
      if (skipped.length > 0) {
        own.push({
          check: 'gpu.unresponsive',
          severity: 'warning',
          message: `nvidia-smi is slow: ${skipped.map((s) => s.name).join(', ')} not run within the check's time budget`,
          reading: Math.max(0, ...nvsmiSections.map((s) => s.seconds ?? 0)),
        });
      }
    }
    for (const row of rows) {
      const lost = Object.entries(row.lost);
      if (lost.length > 0) {
        unresponsive = true;
        own.push({
          check: 'gpu.unresponsive',
          severity: 'critical',
          message: `${gpuLabel(row.reading)} reports ${lost[0][1]}: drain the node and reset the GPU or reboot`,
          gpu: row.reading.index,
          reading: lost[0][1],
        });
      }
    }
    const seen = seenThisBoot(parsed);
    const inaccessible = new Set([
      ...(listParsed?.inaccessibleBusIds ?? parseGpuList(list?.stdout ?? '').inaccessibleBusIds),
      ...failures.filter((f) => f.kind === 'gpu-inaccessible').map((f) => f.subject ?? ''),
    ]);
    inaccessible.delete('');
    for (const busId of inaccessible) {
      unresponsive = true;
      const index = seen.get(busId);
      own.push({
        check: 'gpu.unresponsive',
        severity: 'critical',
        message: `nvidia-smi cannot open the GPU at ${busId}${index !== undefined ? ` (GPU ${index} earlier this boot)` : ''}: drain the node and reboot`,
        ...(index !== undefined ? { gpu: index } : {}),
        reading: busId,
      });
    }
    if (own.length === 0) {
      const slowest = Math.max(0, ...nvsmiSections.map((s) => s.seconds ?? 0));
      own.push({
        check: 'gpu.unresponsive',
        severity: 'ok',
        message: `nvidia-smi answered (slowest call ${slowest} s)`,
        reading: slowest,
      });
    }
    findings.push(...own);
  }

  // ---- gpu.count
  const seen = seenThisBoot(parsed);
  const currentBusIds = new Set(gpus.map((g) => g.busId).filter((b): b is string => b !== null));
  const haveTable = queryParsed !== null && queryParsed.fields.length > 0;
  // nvidia-smi with no GPUs says "No devices were found" (exit 6): an empty answer with exit 0 counts nothing.
  const visible =
    haveTable && rows.length > 0 ? rows.length : noDevices ? 0 : listParsed && listParsed.gpus.length > 0 ? listParsed.gpus.length : null;
  let missing = 0;
  if (nvidiaSmiInstalled && visible !== null) {
    const gone = haveTable ? [...seen.entries()].filter(([busId]) => !currentBusIds.has(busId)) : [];
    const goneText = gone.map(([busId, index]) => `GPU ${index} (${busId})`).join(', ');
    const shortBy = expected !== null ? expected - visible : 0;
    missing = Math.max(shortBy, gone.length, 0);
    const expectation =
      expected !== null
        ? `${expected} expected${gpuCheck.expectedGpuCount === 'auto' && instanceType ? ` for ${instanceType}` : ''}`
        : null;
    const threshold =
      expected !== null
        ? `crit below ${expected} (warning within ${gpuCheck.bootGraceMinutes} min of boot)`
        : 'crit when a GPU seen this boot is gone';
    if (shortBy > 0 || gone.length > 0) {
      // Right after boot NVML can briefly list fewer GPUs; a GPU already seen this boot has no such excuse.
      const severity: Severity = gone.length === 0 && inBootGrace ? 'warning' : 'critical';
      const parts = [`${visible} GPU${visible === 1 ? '' : 's'} visible${expectation ? `, ${expectation}` : ''}`];
      if (gone.length > 0) parts.push(`gone since earlier this boot: ${goneText}`);
      if (severity === 'warning') parts.push(`up ${Math.round((uptimeS ?? 0) / 60)} min: recheck before acting`);
      else
        parts.push(
          noDevices
            ? 'nvidia-smi found no devices'
            : 'a GPU fell off the bus or failed to initialise: drain the node and reboot; replace the instance if it persists',
        );
      findings.push({
        check: 'gpu.count',
        severity,
        message: parts.join('; '),
        ...(gone.length === 1 ? { gpu: gone[0][1] } : {}),
        reading: visible,
        threshold,
      });
    } else if (expected !== null && visible > expected) {
      findings.push({
        check: 'gpu.count',
        severity: 'warning',
        message: `${visible} GPUs visible, more than the ${expectation}: check gpuCheck.expectedGpuCount`,
        reading: visible,
        threshold,
      });
    } else if (noDevices) {
      const onBus = pciGpus !== null && pciGpus > 0;
      findings.push({
        check: 'gpu.count',
        severity: onBus ? 'critical' : 'warning',
        message: onBus
          ? `nvidia-smi found no devices, but ${pciGpus} NVIDIA GPU${pciGpus === 1 ? ' is' : 's are'} on the PCI bus: the driver failed to initialise them; reboot`
          : 'nvidia-smi found no devices: the NVIDIA driver is installed on a host without GPUs',
        reading: 0,
        threshold,
      });
    } else {
      findings.push({
        check: 'gpu.count',
        severity: 'ok',
        message:
          expected !== null
            ? `${visible} of ${expected} GPU${expected === 1 ? '' : 's'} visible`
            : `${visible} GPU${visible === 1 ? '' : 's'} visible (no expected count: set gpuCheck.expectedGpuCount or run on a known instance type)`,
        reading: visible,
        threshold,
      });
    }
  }

  // ---- per-GPU checks
  if (rows.length > 0) {
    const gctx: GpuCheckContext = { rows, findings };
    temperatureChecks(gctx, thresholds.gpuTemperatureC, thresholds.gpuMemoryTemperatureC);
    memoryCheck(gctx, thresholds.gpuMemoryUsedPct);
    eccCheck(gctx, thresholds.eccUncorrectedVolatile);
    rowRemapCheck(gctx);
    retiredPagesCheck(gctx, thresholds.retiredPagesTotal);
    throttleCheck(gctx);
    pcieCheck(gctx);
    powerCheck(gctx, thresholds.gpuPowerDrawPctOfLimit);
  }

  // ---- gpu.xid
  const log = kernelLog(parsed);
  const indexByBusId = new Map<string, number>(seen);
  for (const g of gpus) if (g.busId) indexByBusId.set(g.busId, g.index);
  const xids = dedupXids(parseXidLines(log.lines), indexByBusId);
  const driverPresent = nvidiaSmiInstalled || (driver.kernel_module ?? '') !== '';
  xidCheck(findings, xids, log, driverPresent, rows);

  // ---- readings
  const readings: Reading[] = [];
  const add = (name: MetricName, value: number | null, unit: Reading['unit']) => {
    if (value !== null && Number.isFinite(value)) readings.push({ name, value, unit });
  };
  const unhealthy = new Set(findings.filter((f) => f.severity !== 'ok' && f.gpu !== undefined).map((f) => f.gpu));
  add('GpusReported', visible ?? 0, 'Count');
  add('GpusMissing', nvidiaSmiInstalled ? missing : (expected ?? 0), 'Count');
  add('GpusUnhealthy', unhealthy.size + missing, 'Count');
  add('GpuUnresponsive', unresponsive ? 1 : 0, 'Count');
  add('GpuTemperatureMax', maxBy(gpus, (g) => g.temperatureC)?.value ?? null, 'None');
  add('GpuMemoryUsedPctMax', maxBy(gpus, memoryUsedPct)?.value ?? null, 'Percent');
  const utilizations = gpus.map((g) => g.utilizationPct).filter((u): u is number => u !== null);
  add('GpuUtilizationAvg', utilizations.length ? round1(utilizations.reduce((a, b) => a + b, 0) / utilizations.length) : null, 'Percent');
  const draws = gpus.map((g) => g.powerDrawW).filter((p): p is number => p !== null);
  add('GpuPowerDrawW', draws.length ? round1(draws.reduce((a, b) => a + b, 0)) : null, 'None');
  const ecc = gpus.map((g) => g.eccUncorrectedVolatile).filter((e): e is number => e !== null);
  add('EccUncorrectedVolatileSum', ecc.length ? ecc.reduce((a, b) => a + b, 0) : null, 'Count');
  add(
    'XidEvents',
    xids.reduce((n, e) => n + (e.count ?? 1), 0),
    'Count',
  );
  add('XidCritical', xids.filter((e) => e.severity === 'critical').length, 'Count');

  const gpuReadings: GpuMetricReading[] = [];
  for (const g of gpus) {
    const per = (name: MetricName, value: number | null, unit: Reading['unit']) => {
      if (value !== null) gpuReadings.push({ name, value, unit, gpu: g.index });
    };
    per('GpuTemperature', g.temperatureC, 'None');
    per('GpuUtilization', g.utilizationPct, 'Percent');
    per('GpuMemoryUsedPct', memoryUsedPct(g), 'Percent');
    per('GpuPowerDraw', g.powerDrawW, 'None');
  }

  return {
    findings,
    readings,
    gpuReadings,
    details: { gpus, xids, instanceType, expectedGpuCount: expected },
  };
};
