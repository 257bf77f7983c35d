/**
 * Evaluates health-check output (scripts/health-check.sh) against the configured thresholds:
 * disk space and inodes per filesystem, memory, load per CPU, required systemd units, journal
 * errors, endpoint reachability and reboot-required. Every check category yields at least one
 * finding (an `ok` line when healthy), so the report always shows what was checked.
 */
import { type CheckOutcome, combineOutcomes, emptyOutcome } from '../check-outcome';
import { type ParsedResult, parseKeyValues, RESULT_CONTRACT, type Section } from '../contract';
import { firstLine, formatBytes } from '../format';
import { METRICS } from '../metric-names';
import type { Evaluation, EvaluationContext, TaskEvaluator } from '../task-evaluation';
import { classify, describeLevels, type Levels } from '../thresholds';
import type { Finding, Severity } from '../types';
import {
  connectError,
  countJournalErrors,
  isNoSystemdError,
  parseCpuCount,
  parseDf,
  parseLoadavg,
  parseMeminfo,
  parseSystemctlShow,
  usedPct,
} from './parse';

/** One filesystem, reported once however many configured paths live on it. */
export interface MountReading {
  readonly mount: string;
  readonly filesystem: string;
  /** The configured paths that live on this filesystem. */
  readonly paths: readonly string[];
  readonly usedPct: number | null;
  readonly inodesUsedPct: number | null;
  readonly sizeBytes: number | null;
  readonly availBytes: number | null;
}

export interface ServiceReading {
  readonly unit: string;
  readonly loadState: string | null;
  readonly activeState: string | null;
  readonly subState: string | null;
  readonly result: string | null;
}

export interface EndpointReading {
  readonly endpoint: string;
  readonly reachable: boolean;
  /** Why the connect failed; null when reachable. */
  readonly error: string | null;
  readonly seconds: number | null;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Why a probe gave no usable data, for messages: `timed out after 10 s`, `exit 1: <stderr>`. */
function probeFailure(section: Section): string {
  if (section.timedOut) return `did not answer within ${section.seconds !== null ? Math.round(section.seconds) : '?'} s`;
  const err = firstLine(section.stderr);
  return `exit ${section.exitCode ?? 'unknown'}${err ? `: ${err}` : ''}`;
}

function numberedKeys(values: Record<string, string>, prefix: string): number[] {
  return Object.keys(values)
    .map((k) => (k.startsWith(prefix) ? Number(k.slice(prefix.length)) : NaN))
    .filter((n) => Number.isInteger(n))
    .sort((a, b) => a - b);
}

function evaluateMounts(parsed: ParsedResult, ctx: EvaluationContext): CheckOutcome {
  const out = emptyOutcome();
  const { diskUsedPct, inodesUsedPct } = ctx.settings.thresholds;
  const pathsSection = parsed.sections.get('mount-paths');
  if (!pathsSection) {
    out.findings.push({ check: 'health.disk', severity: 'warning', message: 'no disk data in the output (section mount-paths missing)' });
    return out;
  }
  const kv = parseKeyValues(pathsSection.stdout);
  const missing: string[] = [];
  const byMount = new Map<string, { row: MountReading; paths: string[] }>();

  for (const i of numberedKeys(kv, 'path.')) {
    const path = kv[`path.${i}`];
    if (kv[`exists.${i}`] === 'hung') {
      out.findings.push({
        check: 'health.disk',
        severity: 'warning',
        message: `cannot read space of ${path}: even checking that it exists did not answer in time (hung network filesystem?)`,
      });
      continue;
    }
    if (kv[`exists.${i}`] !== '1') {
      missing.push(path);
      continue;
    }
    const space = parsed.sections.get(`df.${i}`);
    if (space?.exitCode !== 0) {
      out.findings.push({
        check: 'health.disk',
        severity: 'warning',
        message: `cannot read space of ${path}: df ${space ? probeFailure(space) : 'did not run'}${space?.timedOut ? ' (hung network filesystem?)' : ''}`,
      });
      continue;
    }
    const [row] = parseDf(space.stdout, 'space');
    if (!row) {
      out.findings.push({ check: 'health.disk', severity: 'warning', message: `cannot read space of ${path}: unrecognised df output` });
      continue;
    }
    const inodeSection = parsed.sections.get(`df-inodes.${i}`);
    const inodes = inodeSection?.exitCode === 0 ? parseDf(inodeSection.stdout, 'inodes')[0] : undefined;
    const existing = byMount.get(row.mount);
    if (existing) {
      existing.paths.push(path);
      continue;
    }
    const paths = [path];
    byMount.set(row.mount, {
      paths,
      row: {
        mount: row.mount,
        filesystem: row.filesystem,
        paths,
        usedPct: nullableRound(usedPct(row)),
        inodesUsedPct: inodes ? nullableRound(usedPct(inodes)) : null,
        sizeBytes: row.total,
        availBytes: row.available,
      },
    });
  }

  const mounts = [...byMount.values()].map((m) => m.row);
  out.details.mounts = mounts;
  if (missing.length) out.details.mountPathsMissing = missing;
  const missingNote = missing.length ? `; not present, skipped: ${missing.join(', ')}` : '';

  out.findings.push(...mountFindings(mounts, 'health.disk', diskUsedPct, missingNote));
  out.findings.push(...mountFindings(mounts, 'health.inodes', inodesUsedPct, ''));

  const diskMax = maxOf(mounts.map((m) => m.usedPct));
  const inodeMax = maxOf(mounts.map((m) => m.inodesUsedPct));
  if (diskMax !== null) out.readings.push({ name: METRICS.DiskUsedPctMax, value: diskMax, unit: 'Percent' });
  if (inodeMax !== null) out.readings.push({ name: METRICS.InodesUsedPctMax, value: inodeMax, unit: 'Percent' });
  if (mounts.length === 0 && !out.findings.some((f) => f.check === 'health.disk' && f.severity !== 'ok')) {
    out.findings.push({
      check: 'health.disk',
      severity: 'warning',
      message: `no configured path exists, so no filesystem was checked (${missing.join(', ') || 'none configured'})`,
    });
  }
  return out;
}

function nullableRound(value: number | null): number | null {
  return value === null ? null : round(value);
}

function maxOf(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? Math.max(...known) : null;
}

function mountFindings(mounts: readonly MountReading[], check: 'health.disk' | 'health.inodes', levels: Levels, note: string): Finding[] {
  const pct = (m: MountReading) => (check === 'health.disk' ? m.usedPct : m.inodesUsedPct);
  const threshold = describeLevels(levels, 'above', '%');
  const describe = (m: MountReading) =>
    check === 'health.disk'
      ? `${m.mount} is ${pct(m)}% full (${formatBytes(m.availBytes)} free of ${formatBytes(m.sizeBytes)})`
      : `${m.mount} has used ${pct(m)}% of its inodes`;
  const measured = mounts.filter((m) => pct(m) !== null);
  const breaches = measured
    .map((m) => ({ m, severity: classify(pct(m), levels, 'above') }))
    .filter((b) => b.severity !== 'ok')
    .map<Finding>(({ m, severity }) => ({ check, severity, message: describe(m), reading: pct(m), threshold }));
  // Skipped paths are noted on the ok line; next to a breach they are noise (details keep them).
  if (breaches.length) return breaches;
  if (measured.length === 0) {
    return mounts.length
      ? [
          {
            check,
            severity: 'ok',
            message: `${check === 'health.disk' ? 'no space figures' : 'no inode counts'} reported for ${mounts.map((m) => m.mount).join(', ')}${note}`,
          },
        ]
      : [];
  }
  const worst = measured.reduce((a, b) => ((pct(b) ?? 0) > (pct(a) ?? 0) ? b : a));
  const fullest = measured.length > 1 ? `, the fullest of ${measured.length} filesystems` : '';
  return [{ check, severity: 'ok', message: `${describe(worst)}${fullest}${note}`, reading: pct(worst), threshold }];
}

function evaluateMemory(parsed: ParsedResult, ctx: EvaluationContext): CheckOutcome {
  const out = emptyOutcome();
  const section = parsed.sections.get('meminfo');
  const info = section ? parseMeminfo(section.stdout) : null;
  if (!info || info.totalBytes === null || info.availableBytes === null || info.totalBytes <= 0) {
    out.findings.push({
      check: 'health.memory',
      severity: 'warning',
      message: `cannot read memory: ${section ? (section.exitCode === 0 ? 'no MemTotal/MemAvailable in /proc/meminfo' : probeFailure(section)) : 'section meminfo missing'}`,
    });
    return out;
  }
  const levels = ctx.settings.thresholds.memoryAvailablePct;
  const availablePct = round((info.availableBytes / info.totalBytes) * 100);
  out.findings.push({
    check: 'health.memory',
    severity: classify(availablePct, levels, 'below'),
    message: `${availablePct}% of memory available (${formatBytes(info.availableBytes)} of ${formatBytes(info.totalBytes)}${info.estimated ? ', estimated: no MemAvailable' : ''})`,
    reading: availablePct,
    threshold: describeLevels(levels, 'below', '%'),
  });
  out.readings.push({ name: METRICS.MemoryAvailablePct, value: availablePct, unit: 'Percent' });
  out.details.memory = { totalBytes: info.totalBytes, availableBytes: info.availableBytes, availablePct, estimated: info.estimated };
  return out;
}

function evaluateLoad(parsed: ParsedResult, ctx: EvaluationContext): CheckOutcome {
  const out = emptyOutcome();
  const loadSection = parsed.sections.get('loadavg');
  const cpuSection = parsed.sections.get('cpus');
  const load = loadSection?.exitCode === 0 ? parseLoadavg(loadSection.stdout) : null;
  const cpus = cpuSection?.exitCode === 0 ? parseCpuCount(cpuSection.stdout) : null;
  if (!load || !cpus) {
    const why = !load
      ? loadSection
        ? `loadavg ${loadSection.exitCode === 0 ? 'unreadable' : probeFailure(loadSection)}`
        : 'section loadavg missing'
      : cpuSection
        ? `CPU count ${cpuSection.exitCode === 0 ? 'unreadable' : probeFailure(cpuSection)}`
        : 'section cpus missing';
    out.findings.push({ check: 'health.load', severity: 'warning', message: `cannot read load: ${why}` });
    return out;
  }
  const levels = ctx.settings.thresholds.loadPerCpu;
  const perCpu = round(load.load5 / cpus, 2);
  out.findings.push({
    check: 'health.load',
    severity: classify(perCpu, levels, 'above'),
    message: `load ${perCpu} per CPU (5-min load ${load.load5} on ${cpus} CPUs)`,
    reading: perCpu,
    threshold: describeLevels(levels, 'above', 'per CPU'),
  });
  out.readings.push({ name: METRICS.LoadPerCpu, value: perCpu, unit: 'None' });
  out.details.load = { ...load, cpus, perCpu };
  return out;
}

/** active (and reloading) is healthy; a unit on its way up or down is a warning; anything else is down. */
function unitSeverity(unit: ServiceReading): Severity {
  if (unit.loadState === 'not-found' || unit.loadState === 'masked') return 'critical';
  switch (unit.activeState) {
    case 'active':
    case 'reloading':
    case 'refreshing':
      return 'ok';
    case 'activating':
    case 'deactivating':
    case 'maintenance':
      return 'warning';
    default:
      return 'critical';
  }
}

function describeUnit(unit: ServiceReading): string {
  if (unit.loadState === 'not-found') return `${unit.unit} is not installed (unit not found)`;
  if (unit.loadState === 'masked') return `${unit.unit} is masked`;
  const state = `${unit.activeState ?? 'unknown'}${unit.subState ? ` (${unit.subState})` : ''}`;
  const result = unit.result && unit.result !== 'success' ? `, last result ${unit.result}` : '';
  return `${unit.unit} is ${state}${result}`;
}

function evaluateServices(parsed: ParsedResult): CheckOutcome {
  const out = emptyOutcome();
  const list = parsed.sections.get('services');
  if (!list) {
    out.findings.push({
      check: 'health.service',
      severity: 'warning',
      message: 'no service data in the output (section services missing)',
    });
    return out;
  }
  const required = (parseKeyValues(list.stdout).required ?? '').split(',').filter((u) => u !== '');
  if (required.length === 0) {
    out.findings.push({ check: 'health.service', severity: 'ok', message: 'no required units configured (healthCheck.services)' });
    return out;
  }
  const noSystemctl = parsed.sections.get('systemd');
  if (noSystemctl) {
    out.findings.push({
      check: 'health.service',
      severity: 'warning',
      message: `cannot check ${required.join(', ')}: ${firstLine(noSystemctl.stderr) || 'no systemd on this host'}`,
    });
    out.details.services = { systemd: false, required };
    return out;
  }

  const units: ServiceReading[] = [];
  const unknown: string[] = [];
  const unreachableSystemd: string[] = [];
  for (const name of required) {
    const section = parsed.sections.get(`service:${name}`);
    if (section?.exitCode !== 0) {
      if (section && isNoSystemdError(section.stderr)) unreachableSystemd.push(name);
      else unknown.push(`${name} (${section ? probeFailure(section) : 'not checked'})`);
      continue;
    }
    const state = parseSystemctlShow(section.stdout);
    units.push({ unit: name, loadState: state.loadState, activeState: state.activeState, subState: state.subState, result: state.result });
  }
  if (unreachableSystemd.length > 0 && units.length === 0) {
    out.findings.push({
      check: 'health.service',
      severity: 'warning',
      message: `cannot check ${required.join(', ')}: systemd is not running on this host (systemctl cannot reach it)`,
    });
    out.details.services = { systemd: false, required };
    return out;
  }
  unknown.push(...unreachableSystemd.map((name) => `${name} (systemctl cannot reach systemd)`));

  let failed = 0;
  for (const unit of units) {
    const severity = unitSeverity(unit);
    if (severity === 'ok') continue;
    failed += 1;
    out.findings.push({ check: 'health.service', severity, message: describeUnit(unit), reading: unit.activeState ?? unit.loadState });
  }
  for (const u of unknown) {
    out.findings.push({ check: 'health.service', severity: 'warning', message: `cannot read the state of ${u}` });
  }
  if (failed === 0 && unknown.length === 0) {
    const names = units.map((u) => u.unit).join(', ');
    out.findings.push({
      check: 'health.service',
      severity: 'ok',
      message: `${units.length === 1 ? '1 required unit' : `all ${units.length} required units`} active: ${names}`,
    });
  }
  out.readings.push({ name: METRICS.FailedServices, value: failed, unit: 'Count' });
  out.details.services = units.map((u) => ({ ...u, severity: unitSeverity(u) }));
  return out;
}

function evaluateJournal(parsed: ParsedResult, ctx: EvaluationContext): CheckOutcome {
  const out = emptyOutcome();
  const section = parsed.sections.get('journal');
  if (!section) {
    out.findings.push({ check: 'health.journal', severity: 'warning', message: 'no journal data in the output (section journal missing)' });
    return out;
  }
  if (section.exitCode === RESULT_CONTRACT.exit.notFound) {
    out.findings.push({
      check: 'health.journal',
      severity: 'ok',
      message: `journal not checked: ${firstLine(section.stderr) || 'journalctl not found'}`,
    });
    return out;
  }
  const kv = parseKeyValues(parsed.sections.get('journal-count')?.stdout ?? '');
  const totalLines = /^\d+$/.test(kv.lines ?? '') ? Number(kv.lines) : null;
  const windowMinutes = /^\d+$/.test(kv.window_min ?? '') ? Number(kv.window_min) : null;
  const count = countJournalErrors(section.stdout, section.stderr, totalLines);
  const window = windowMinutes !== null ? `in the last ${windowMinutes} min` : 'in the window';

  if (count.noJournal && count.errors === 0) {
    out.findings.push({
      check: 'health.journal',
      severity: 'ok',
      message: `no journal errors ${window}: no journal files on this host`,
      reading: 0,
    });
    out.readings.push({ name: METRICS.JournalErrors, value: 0, unit: 'Count' });
    out.details.journal = { errors: 0, windowMinutes, sample: [], noJournal: true };
    return out;
  }
  if (section.exitCode !== 0) {
    out.findings.push({
      check: 'health.journal',
      severity: 'warning',
      message: `cannot read the journal: journalctl ${probeFailure(section)}`,
    });
    return out;
  }
  const levels = ctx.settings.thresholds.journalErrors;
  const partial = count.partial ? ' (partial: this user cannot read the system journal)' : '';
  const last = count.sample.at(-1);
  out.findings.push({
    check: 'health.journal',
    severity: classify(count.errors, levels, 'above'),
    message: `${count.errors} journal ${count.errors === 1 ? 'entry' : 'entries'} of priority err or worse ${window}${partial}${last ? `; latest: ${last.slice(0, 160)}` : ''}`,
    reading: count.errors,
    threshold: describeLevels(levels, 'above', 'entries'),
  });
  out.readings.push({ name: METRICS.JournalErrors, value: count.errors, unit: 'Count' });
  out.details.journal = { errors: count.errors, windowMinutes, sample: count.sample, partial: count.partial };
  return out;
}

function evaluateEndpoints(parsed: ParsedResult): CheckOutcome {
  const out = emptyOutcome();
  const section = parsed.sections.get('endpoints');
  if (!section) {
    out.findings.push({
      check: 'health.endpoint',
      severity: 'warning',
      message: 'no endpoint data in the output (section endpoints missing)',
    });
    return out;
  }
  const kv = parseKeyValues(section.stdout);
  const targets = (kv.targets ?? '').split(',').filter((t) => t !== '');
  if (targets.length === 0) {
    if (kv.mode === 'auto' && kv.error) {
      out.findings.push({ check: 'health.endpoint', severity: 'warning', message: `default endpoints not checked: ${kv.error}` });
    } else {
      const why = kv.mode === 'auto' ? 'not on EC2, and `auto` adds endpoints only there' : 'none configured';
      out.findings.push({ check: 'health.endpoint', severity: 'ok', message: `no endpoints to check: ${why} (healthCheck.endpoints)` });
    }
    return out;
  }
  const endpoints: EndpointReading[] = targets.map((endpoint) => {
    const probe = parsed.sections.get(`endpoint:${endpoint}`);
    const host = endpoint.slice(0, endpoint.lastIndexOf(':'));
    if (!probe) return { endpoint, reachable: false, error: 'not probed', seconds: null };
    if (probe.exitCode === 0) return { endpoint, reachable: true, error: null, seconds: probe.seconds };
    const error = probe.timedOut ? `no answer within ${Math.round(probe.seconds ?? 0)} s` : connectError(probe.stderr, host);
    return { endpoint, reachable: false, error, seconds: probe.seconds };
  });
  const unreachable = endpoints.filter((e) => !e.reachable);
  for (const e of unreachable) {
    out.findings.push({
      check: 'health.endpoint',
      severity: 'warning',
      message: `${e.endpoint} unreachable: ${e.error}`,
      reading: e.endpoint,
    });
  }
  if (unreachable.length === 0) {
    out.findings.push({
      check: 'health.endpoint',
      severity: 'ok',
      message: `${endpoints.length === 1 ? '1 endpoint' : `all ${endpoints.length} endpoints`} reachable: ${targets.join(', ')}`,
    });
  }
  out.readings.push({ name: METRICS.EndpointsUnreachable, value: unreachable.length, unit: 'Count' });
  out.details.endpoints = endpoints;
  return out;
}

function evaluateRebootRequired(parsed: ParsedResult): CheckOutcome {
  const out = emptyOutcome();
  const section = parsed.sections.get('reboot-check');
  if (!section) {
    out.findings.push({
      check: 'health.reboot-required',
      severity: 'warning',
      message: 'no reboot data in the output (section reboot-check missing)',
    });
    return out;
  }
  const kv = parseKeyValues(section.stdout);
  let required: boolean | null = null;
  let packages: string[] = [];
  let unknownWhy = '';
  if (kv.method === 'file') {
    required = kv.present === '1';
    packages = [
      ...new Set(
        (parsed.sections.get('reboot-required-pkgs')?.stdout ?? '')
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean),
      ),
    ];
  } else if (kv.method === 'needs-restarting') {
    const probe = parsed.sections.get('needs-restarting');
    // needs-restarting -r: exit 1 means a reboot is needed, 0 none; anything else is an error.
    if (probe?.exitCode === 1 && /reboot is required/i.test(probe.stdout)) required = true;
    else if (probe?.exitCode === 0) required = false;
    else unknownWhy = `needs-restarting -r ${probe ? probeFailure(probe) : 'did not run'}`;
  } else {
    unknownWhy = 'no /var/run/reboot-required (Debian/Ubuntu) or needs-restarting (RHEL family) on this host';
  }

  if (required === null) {
    out.findings.push({
      check: 'health.reboot-required',
      severity: 'ok',
      message: `cannot tell whether a reboot is required: ${unknownWhy}`,
    });
    out.details.rebootRequired = { required: null, method: kv.method ?? null };
    return out;
  }
  const shown = packages.slice(0, 5).join(', ');
  const more = packages.length > 5 ? ` and ${packages.length - 5} more` : '';
  out.findings.push({
    check: 'health.reboot-required',
    severity: required ? 'warning' : 'ok',
    message: required ? `reboot required${packages.length ? ` by ${shown}${more}` : ''}` : 'no reboot required',
    reading: required ? 1 : 0,
  });
  out.readings.push({ name: METRICS.RebootRequired, value: required ? 1 : 0, unit: 'Count' });
  out.details.rebootRequired = { required, method: kv.method, packages };
  return out;
}

export const evaluateHealthCheck: TaskEvaluator = (parsed: ParsedResult, ctx: EvaluationContext): Evaluation => {
  const outcomes = [
    evaluateMounts(parsed, ctx),
    evaluateMemory(parsed, ctx),
    evaluateLoad(parsed, ctx),
    evaluateServices(parsed),
    evaluateJournal(parsed, ctx),
    evaluateEndpoints(parsed),
    evaluateRebootRequired(parsed),
  ];
  return combineOutcomes(outcomes);
};
