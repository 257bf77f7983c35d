/**
 * The health-check evaluator (lambda/core/health) on composed script outputs: thresholds, messages,
 * readings and details, with no bash involved.
 */
import { describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../lambda/config/schema';
import { parseResult } from '../../lambda/core/contract';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { formatBytes } from '../../lambda/core/format';
import { evaluateHealthCheck } from '../../lambda/core/health/evaluate';
import type { EvaluationContext } from '../../lambda/core/task-evaluation';
import { parseConfigForTest } from '../helpers/config';

interface SectionSpec {
  readonly stdout?: string;
  readonly stderr?: string;
  readonly exit?: number;
  readonly seconds?: number;
}

const HEALTHY: Record<string, SectionSpec> = {
  'mount-paths': { stdout: 'count=1\npath.0=/\nexists.0=1\n' },
  'df.0': { stdout: 'Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/root 1000000 400000 600000 40% /\n' },
  'df-inodes.0': { stdout: 'Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/root 1000 100 900 10% /\n' },
  meminfo: { stdout: 'MemTotal: 1000000 kB\nMemFree: 100000 kB\nMemAvailable: 500000 kB\n' },
  loadavg: { stdout: '1.00 2.00 3.00 1/100 42\n' },
  cpus: { stdout: '4\n' },
  services: { stdout: 'required=\n' },
  'journal-count': { stdout: 'lines=0\nwindow_min=60\nsample_lines=20\n' },
  journal: { stdout: '' },
  endpoints: { stdout: 'mode=list\ntargets=\n' },
  'reboot-check': { stdout: 'method=file\nfile=/var/run/reboot-required\npresent=0\n' },
};

/** A health-check result with the healthy sections, some replaced (or removed with null). */
function output(overrides: Record<string, SectionSpec | null> = {}): string {
  const sections = { ...HEALTHY, ...overrides };
  const lines = ['@@gpu-maint v1 begin task=health-check host=h1 at=2026-11-28T12:00:00Z'];
  for (const [name, spec] of Object.entries(sections)) {
    if (spec === null) continue;
    lines.push(`@@gpu-maint section ${name}`);
    if (spec.stdout) lines.push(spec.stdout.replace(/\n$/, ''));
    if (spec.stderr) lines.push(`@@gpu-maint stderr ${name}`, spec.stderr.replace(/\n$/, ''));
    lines.push(`@@gpu-maint status ${name} exit=${spec.exit ?? 0} seconds=${spec.seconds ?? 0.1}`);
  }
  lines.push('@@gpu-maint v1 end task=health-check', '');
  return lines.join('\n');
}

function evaluate(overrides: Record<string, SectionSpec | null> = {}, config: ConfigInput = {}) {
  const ctx: EvaluationContext = {
    settings: evaluationSettings(parseConfigForTest(config)),
    now: new Date('2026-11-28T12:00:00Z'),
    host: 'h1',
  };
  const parsed = parseResult(output(overrides));
  expect(parsed.errors).toEqual([]);
  return evaluateHealthCheck(parsed, ctx);
}

const findings = (e: ReturnType<typeof evaluate>, check: string) => e.findings.filter((f) => f.check === check);
const reading = (e: ReturnType<typeof evaluate>, name: string) => e.readings.find((r) => r.name === name)?.value;

function spaceDf(used: number, avail: number, mount = '/'): SectionSpec {
  return {
    stdout: `Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/root ${used + avail} ${used} ${avail} ${Math.ceil((used / (used + avail)) * 100)}% ${mount}\n`,
  };
}

describe('evaluateHealthCheck', () => {
  test('a healthy output yields one ok finding per check and every fleet reading', () => {
    const e = evaluate();
    expect(e.findings.every((f) => f.severity === 'ok')).toBe(true);
    expect(e.readings.map((r) => r.name).sort()).toEqual(
      ['DiskUsedPctMax', 'InodesUsedPctMax', 'JournalErrors', 'LoadPerCpu', 'MemoryAvailablePct', 'RebootRequired'].sort(),
    );
    expect(e.details?.mounts).toEqual([
      { mount: '/', filesystem: '/dev/root', paths: ['/'], usedPct: 40, inodesUsedPct: 10, sizeBytes: 1024000000, availBytes: 614400000 },
    ]);
  });

  test('an output with no sections at all gives warnings per check, never an exception', () => {
    const none = Object.fromEntries(Object.keys(HEALTHY).map((k) => [k, null]));
    const e = evaluate(none);
    expect(new Set(e.findings.map((f) => f.severity))).toEqual(new Set(['warning']));
    expect(e.findings.map((f) => f.check)).toEqual([
      'health.disk',
      'health.memory',
      'health.load',
      'health.service',
      'health.journal',
      'health.endpoint',
      'health.reboot-required',
    ]);
    expect(e.readings).toEqual([]);
  });

  test.each([
    [50, 50, 'ok'],
    [84, 16, 'ok'],
    [85, 15, 'warning'],
    [95, 5, 'critical'],
    [100, 0, 'critical'],
  ])('disk %i used / %i available is %s (warn 85, crit 95)', (used, avail, severity) => {
    const e = evaluate({ 'df.0': spaceDf(used * 1000, avail * 1000) });
    expect(findings(e, 'health.disk')).toEqual([expect.objectContaining({ severity, reading: used, threshold: 'warn ≥ 85, crit ≥ 95 %' })]);
    expect(reading(e, 'DiskUsedPctMax')).toBe(used);
  });

  test('a configured disk threshold replaces the default', () => {
    const e = evaluate({ 'df.0': spaceDf(50, 50) }, { thresholds: { diskUsedPct: { warning: 40, critical: 90 } } });
    expect(findings(e, 'health.disk')).toEqual([expect.objectContaining({ severity: 'warning', threshold: 'warn ≥ 40, crit ≥ 90 %' })]);
  });

  test('each breaching filesystem is its own finding; the ok line names the fullest', () => {
    const twoPaths = { 'mount-paths': { stdout: 'path.0=/\nexists.0=1\npath.1=/data\nexists.1=1\npath.2=/scratch\nexists.2=1\n' } };
    const breaching = evaluate({ ...twoPaths, 'df.1': spaceDf(96, 4, '/data'), 'df.2': spaceDf(90, 10, '/scratch') });
    expect(findings(breaching, 'health.disk').map((f) => [f.severity, f.message.split(' ')[0]])).toEqual([
      ['critical', '/data'],
      ['warning', '/scratch'],
    ]);
    const healthy = evaluate({ ...twoPaths, 'df.1': spaceDf(70, 30, '/data'), 'df.2': spaceDf(10, 90, '/scratch') });
    expect(findings(healthy, 'health.disk')).toEqual([
      expect.objectContaining({
        severity: 'ok',
        message: expect.stringMatching(/^\/data is 70% full .*, the fullest of 3 filesystems$/),
        reading: 70,
      }),
    ]);
  });

  test('df that timed out on a path is a warning hinting at a hung network filesystem', () => {
    const e = evaluate({ 'df.0': { exit: 124, seconds: 10.02 }, 'df-inodes.0': { exit: 125, stderr: 'not run' } });
    expect(findings(e, 'health.disk')).toContainEqual(
      expect.objectContaining({
        severity: 'warning',
        message: 'cannot read space of /: df did not answer within 10 s (hung network filesystem?)',
      }),
    );
  });

  test('a path whose existence check hung is a warning, and the other paths are still read', () => {
    const e = evaluate({ 'mount-paths': { stdout: 'path.0=/\nexists.0=1\npath.1=/fsx\nexists.1=hung\n' } });
    expect(findings(e, 'health.disk')).toEqual([
      expect.objectContaining({
        severity: 'warning',
        message: expect.stringMatching(/^cannot read space of \/fsx: .*hung network filesystem/),
      }),
      expect.objectContaining({ severity: 'ok', message: expect.stringMatching(/^\/ is 40% full/) }),
    ]);
    expect(reading(e, 'DiskUsedPctMax')).toBe(40);
  });

  test('a filesystem without inode counts (btrfs prints -) has a null reading, not 0', () => {
    const e = evaluate({ 'df-inodes.0': { stdout: 'Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/root 0 0 0 - /\n' } });
    expect((e.details?.mounts as Array<{ inodesUsedPct: number | null }> | undefined)?.[0]?.inodesUsedPct).toBeNull();
    expect(reading(e, 'InodesUsedPctMax')).toBeUndefined();
    expect(findings(e, 'health.inodes')).toEqual([expect.objectContaining({ severity: 'ok', message: 'no inode counts reported for /' })]);
  });

  test('when no configured path exists, nothing was checked and that is a warning', () => {
    const e = evaluate({ 'mount-paths': { stdout: 'path.0=/opt/ml/models\nexists.0=0\n' }, 'df.0': null, 'df-inodes.0': null });
    expect(findings(e, 'health.disk')).toEqual([
      expect.objectContaining({ severity: 'warning', message: 'no configured path exists, so no filesystem was checked (/opt/ml/models)' }),
    ]);
  });

  test.each([
    ['MemAvailable: 500000 kB', 'ok', 50],
    ['MemAvailable: 100000 kB', 'warning', 10],
    ['MemAvailable: 50000 kB', 'critical', 5],
    ['MemAvailable: 0 kB', 'critical', 0],
  ])('memory with %s of 1000000 kB is %s', (line, severity, pct) => {
    const e = evaluate({ meminfo: { stdout: `MemTotal: 1000000 kB\n${line}\n` } });
    expect(findings(e, 'health.memory')).toEqual([expect.objectContaining({ severity, reading: pct, threshold: 'warn ≤ 10, crit ≤ 5 %' })]);
    expect(reading(e, 'MemoryAvailablePct')).toBe(pct);
  });

  test('a kernel without MemAvailable gets an estimate from free, buffers and cache, and says so', () => {
    const e = evaluate({ meminfo: { stdout: 'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 150 kB\n' } });
    expect(findings(e, 'health.memory')).toEqual([
      expect.objectContaining({ reading: 30, message: expect.stringContaining('estimated: no MemAvailable') }),
    ]);
  });

  test.each([
    ['0.50 2.00 9.00', '4', 0.5, 'ok'],
    ['9.00 6.00 1.00', '4', 1.5, 'warning'],
    ['0.00 96.00 0.00', '32', 3, 'critical'],
  ])('load %s on %s CPUs is %f per CPU (5-min average), %s', (loads, cpus, perCpu, severity) => {
    const e = evaluate({ loadavg: { stdout: `${loads} 1/100 42\n` }, cpus: { stdout: `${cpus}\n` } });
    expect(findings(e, 'health.load')).toEqual([expect.objectContaining({ severity, reading: perCpu })]);
    expect(reading(e, 'LoadPerCpu')).toBe(perCpu);
  });

  test('an unreadable CPU count is a warning, not a division by zero', () => {
    const e = evaluate({ cpus: { stdout: '0\n' } });
    expect(findings(e, 'health.load')).toEqual([
      expect.objectContaining({ severity: 'warning', message: 'cannot read load: CPU count unreadable' }),
    ]);
    expect(reading(e, 'LoadPerCpu')).toBeUndefined();
  });
});

describe('evaluateHealthCheck: systemd units', () => {
  const unit = (load: string, active: string, sub: string, result = 'success') => ({
    stdout: `Id=x.service\nLoadState=${load}\nActiveState=${active}\nSubState=${sub}\nResult=${result}\n`,
  });

  test.each([
    ['loaded', 'active', 'running', 'success', 'ok', null],
    ['loaded', 'reloading', 'reload', 'success', 'ok', null],
    ['loaded', 'failed', 'failed', 'exit-code', 'critical', 'x.service is failed (failed), last result exit-code'],
    ['loaded', 'inactive', 'dead', 'success', 'critical', 'x.service is inactive (dead)'],
    ['not-found', 'inactive', 'dead', 'success', 'critical', 'x.service is not installed (unit not found)'],
    ['masked', 'inactive', 'dead', 'success', 'critical', 'x.service is masked'],
    ['loaded', 'activating', 'auto-restart', 'exit-code', 'warning', 'x.service is activating (auto-restart), last result exit-code'],
  ])('LoadState=%s ActiveState=%s SubState=%s Result=%s is %s', (load, active, sub, result, severity, message) => {
    const e = evaluate({ services: { stdout: 'required=x.service\n' }, 'service:x.service': unit(load, active, sub, result) });
    const [finding] = findings(e, 'health.service');
    expect(finding.severity).toBe(severity);
    if (message) expect(finding.message).toBe(message);
    expect(reading(e, 'FailedServices')).toBe(severity === 'ok' ? 0 : 1);
  });

  test('every required unit that is down is its own critical finding', () => {
    const e = evaluate({
      services: { stdout: 'required=a.service,b.service,c.service\n' },
      'service:a.service': unit('loaded', 'failed', 'failed'),
      'service:b.service': unit('loaded', 'active', 'running'),
      'service:c.service': unit('loaded', 'inactive', 'dead'),
    });
    expect(findings(e, 'health.service').map((f) => [f.severity, f.message.split(' ')[0]])).toEqual([
      ['critical', 'a.service'],
      ['critical', 'c.service'],
    ]);
    expect(reading(e, 'FailedServices')).toBe(2);
  });

  test('a systemctl that timed out leaves the unit unknown: a warning, not counted as failed', () => {
    const e = evaluate({ services: { stdout: 'required=a.service\n' }, 'service:a.service': { exit: 124, seconds: 10 } });
    expect(findings(e, 'health.service')).toEqual([
      expect.objectContaining({ severity: 'warning', message: 'cannot read the state of a.service (did not answer within 10 s)' }),
    ]);
    expect(reading(e, 'FailedServices')).toBe(0);
  });
});

describe('evaluateHealthCheck: journal, endpoints, reboot', () => {
  test("the error count comes from the script's line count, not the sample it carries", () => {
    const e = evaluate({ 'journal-count': { stdout: 'lines=812\nwindow_min=60\n' }, journal: { stdout: 'kernel: last error\n' } });
    expect(findings(e, 'health.journal')).toEqual([
      expect.objectContaining({
        severity: 'warning',
        reading: 812,
        threshold: 'warn ≥ 50 entries',
        message: expect.stringContaining('latest: kernel: last error'),
      }),
    ]);
  });

  test('journalctl that failed outright is a warning with its error, and no reading', () => {
    const e = evaluate({ journal: { exit: 1, stderr: 'Failed to open journal: Permission denied\n' } });
    expect(findings(e, 'health.journal')).toEqual([
      expect.objectContaining({
        severity: 'warning',
        message: 'cannot read the journal: journalctl exit 1: Failed to open journal: Permission denied',
      }),
    ]);
    expect(reading(e, 'JournalErrors')).toBeUndefined();
  });

  test('a journal readable only in part (not root) is counted and flagged as partial', () => {
    const e = evaluate({
      'journal-count': { stdout: 'lines=2\n' },
      journal: { stdout: 'a\nb\n', stderr: 'Hint: You are currently not seeing messages from other users and the system.\n' },
    });
    expect(findings(e, 'health.journal')).toEqual([
      expect.objectContaining({ reading: 2, message: expect.stringContaining('(partial: this user cannot read the system journal)') }),
    ]);
  });

  test.each([
    [
      { exit: 1, stderr: 'tcp-connect: connect: Connection refused\ntcp-connect: line 1: /dev/tcp/10.0.0.5/443: Connection refused\n' },
      'Connection refused',
    ],
    [
      {
        exit: 1,
        stderr:
          'tcp-connect: line 1: s3.eu-west-1.amazonaws.com: Name or service not known\ntcp-connect: line 1: /dev/tcp/s3.eu-west-1.amazonaws.com/443: Invalid argument\n',
      },
      'Name or service not known',
    ],
    [{ exit: 1, stderr: 'tcp-connect: connect: No route to host\n' }, 'No route to host'],
    [{ exit: 124, seconds: 3.01 }, 'no answer within 3 s'],
  ])('a failed connect %j reads as %j', (probe, error) => {
    const target = 's3.eu-west-1.amazonaws.com:443';
    const e = evaluate({ endpoints: { stdout: `mode=auto\nec2=1\nregion=eu-west-1\ntargets=${target}\n` }, [`endpoint:${target}`]: probe });
    expect(findings(e, 'health.endpoint')).toEqual([
      expect.objectContaining({ severity: 'warning', message: `${target} unreachable: ${error}` }),
    ]);
    expect(reading(e, 'EndpointsUnreachable')).toBe(1);
  });

  test('`auto` on EC2 without a region is a warning that the defaults were not checked', () => {
    const e = evaluate({
      endpoints: { stdout: 'mode=auto\nec2=1\ntargets=\nerror=cannot read the region from IMDS (placement/region)\n' },
    });
    expect(findings(e, 'health.endpoint')).toEqual([
      expect.objectContaining({ severity: 'warning', message: expect.stringContaining('cannot read the region') }),
    ]);
  });

  test.each([
    [{ 'reboot-check': { stdout: 'method=file\npresent=1\n' } }, 'warning', 1],
    [{ 'reboot-check': { stdout: 'method=file\npresent=0\n' } }, 'ok', 0],
    [
      {
        'reboot-check': { stdout: 'method=needs-restarting\n' },
        'needs-restarting': { exit: 1, stdout: 'Reboot is required to fully utilize these updates.\n' },
      },
      'warning',
      1,
    ],
    [
      {
        'reboot-check': { stdout: 'method=needs-restarting\n' },
        'needs-restarting': { exit: 0, stdout: 'Reboot should not be necessary.\n' },
      },
      'ok',
      0,
    ],
    [
      { 'reboot-check': { stdout: 'method=needs-restarting\n' }, 'needs-restarting': { exit: 1, stderr: 'Error: not root\n' } },
      'ok',
      undefined,
    ],
    [{ 'reboot-check': { stdout: 'method=none\n' } }, 'ok', undefined],
  ])('reboot evidence %j is %s with RebootRequired %s', (sections, severity, metric) => {
    const e = evaluate(sections);
    expect(findings(e, 'health.reboot-required')).toEqual([expect.objectContaining({ severity })]);
    expect(reading(e, 'RebootRequired')).toBe(metric);
  });
});

test.each([
  [0, '0 B'],
  [1023, '1023 B'],
  [1536, '1.5 KiB'],
  [5 * 1024 ** 3, '5.0 GiB'],
  [null, 'unknown'],
])('formatBytes(%j) is %j', (bytes, text) => {
  expect(formatBytes(bytes)).toBe(text);
});
