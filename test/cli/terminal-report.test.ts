/**
 * The terminal report of local mode rendered at 80 and 120 columns, with and without colour: marks,
 * GPU grouping, wrapping under the message column, thresholds on their own line, no raw kernel
 * fields, the cleanup candidate list.
 */
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, test } from 'vitest';
import { colorEnabled, displayWidth, formatReport, readableMessage, summarize } from '../../lambda/adapters/local/report';
import type { CleanupDetails } from '../../lambda/core/cleanup/evaluate';
import type { Finding, TaskResult } from '../../lambda/core/types';

const XID: Finding = {
  check: 'gpu.xid',
  severity: 'critical',
  message:
    "GPU 5 (00000000:AB:00.0): Xid 79 ×4: pid='<unknown>', name=<unknown>, GPU has fallen off the bus. → drain the node and reset the GPU; if it does not come back, reboot; replace the GPU if it recurs",
  gpu: 5,
  reading: '79',
  threshold: "severity by NVIDIA's recommended action per Xid",
};

const GPU_CHECK: TaskResult = {
  task: 'gpu-check',
  host: 'gpu-1',
  status: 'critical',
  at: '2026-11-28T12:00:00Z',
  gpus: [
    { index: 3, name: 'NVIDIA H100 80GB HBM3', busId: '00000000:2B:00.0' },
    { index: 5, name: 'NVIDIA H100 80GB HBM3', busId: '00000000:AB:00.0' },
  ] as unknown as TaskResult['gpus'],
  findings: [
    { check: 'gpu.driver', severity: 'ok', message: 'NVIDIA driver 550.54.15', reading: '550.54.15' },
    {
      check: 'gpu.temperature',
      severity: 'ok',
      message: '8 GPUs within temperature limits (hottest: GPU 2 at 61 °C)',
      threshold: 'warn ≥ 83, crit ≥ 90 °C',
    },
    XID,
    {
      check: 'gpu.throttle',
      severity: 'warning',
      message: 'GPU 3 clocks slowed by hw_thermal_slowdown: check cooling',
      gpu: 3,
      threshold: 'hw_slowdown, hw_thermal_slowdown, sw_thermal_slowdown or hw_power_brake active',
    },
  ],
  metrics: [],
};

const ESC = '\u001b[';

describe.each([80, 120])('the gpu-check report at %i columns', (width) => {
  const plain = formatReport(GPU_CHECK, { color: false, width });
  const coloured = formatReport(GPU_CHECK, { color: true, width });

  test('no line is wider than the terminal, with or without colour', () => {
    for (const line of [...plain.split('\n'), ...coloured.split('\n')]) expect(displayWidth(line)).toBeLessThanOrEqual(width);
  });

  test('without colour there are no escape codes; with colour the text is the same', () => {
    expect(plain).not.toContain(ESC);
    expect(coloured).toContain(ESC);
    expect(stripVTControlCharacters(coloured)).toBe(plain);
  });

  test('marks are green, yellow and red with colour', () => {
    expect(coloured).toContain(`${ESC}32m✓`);
    expect(coloured).toContain(`${ESC}33m${ESC}1m!`);
    expect(coloured).toContain(`${ESC}31m${ESC}1m✗`);
  });

  test('findings of a GPU are grouped under its heading, host checks first', () => {
    const lines = plain.split('\n');
    const heading3 = lines.indexOf('  GPU 3 · NVIDIA H100 80GB HBM3 · 00000000:2B:00.0');
    const heading5 = lines.indexOf('  GPU 5 · NVIDIA H100 80GB HBM3 · 00000000:AB:00.0');
    expect(lines.findIndex((l) => l.includes('gpu.driver'))).toBeLessThan(heading3);
    expect(heading3).toBeGreaterThan(0);
    expect(heading5).toBeGreaterThan(heading3);
    expect(lines[heading3 + 1]).toMatch(/^ {4}! gpu\.throttle +clocks slowed by hw_thermal_slowdown/);
    expect(lines[heading5 + 1]).toMatch(/^ {4}✗ gpu\.xid +Xid 79 ×4: GPU has fallen off the bus\./);
  });

  test('a long message wraps under the message column and the threshold has its own dim line', () => {
    const lines = plain.split('\n');
    const xid = lines.findIndex((l) => l.includes('gpu.xid'));
    const column = lines[xid].indexOf('Xid 79');
    const rest = lines.slice(xid + 1);
    const threshold = rest.findIndex((l) => l.trim().startsWith('threshold:'));
    expect(threshold).toBeGreaterThanOrEqual(width < 120 ? 1 : 0);
    for (const line of rest.slice(0, threshold + 1)) expect(line.search(/\S/)).toBe(column);
    expect(coloured).toContain(`${ESC}2mthreshold: severity by NVIDIA's recommended action per Xid`);
  });

  test('raw kernel fields and the GPU id the heading shows are left out', () => {
    expect(plain).not.toMatch(/pid=|name=<|GPU 5 \(00000000/);
  });

  test('an ok finding shows no threshold line', () => {
    expect(plain).not.toContain('warn ≥ 83');
  });
});

describe('report options', () => {
  test('without a width (a pipe) nothing is wrapped', () => {
    const lines = formatReport(GPU_CHECK).split('\n');
    expect(lines.find((l) => l.includes('gpu.xid'))).toMatch(/replace the GPU if it recurs$/);
  });

  test('verbose keeps the whole message and every threshold', () => {
    const text = formatReport(GPU_CHECK, { color: false, verbose: true });
    expect(text).toContain("pid='<unknown>', name=<unknown>");
    expect(text).toContain('threshold: warn ≥ 83, crit ≥ 90 °C');
  });

  test('a finding about a GPU not under a heading keeps its GPU id', () => {
    expect(readableMessage({ ...XID }, false)).toMatch(/^GPU 5 \(00000000:AB:00.0\): Xid 79 ×4: GPU has fallen/);
  });

  test.each([
    ["pid='<unknown>', name=<unknown>, Graphics Exception", 'Graphics Exception'],
    ['pid=1797828, name=pt_main_thread, Ch 00000008, errorString CTX SWITCH TIMEOUT', 'Ch 00000008, errorString CTX SWITCH TIMEOUT'],
    ['pid=<unknown>, name=<unknown>, NVLink: fatal error', 'NVLink: fatal error'],
  ])('kernel fields of %j are dropped', (raw, expected) => {
    expect(readableMessage({ check: 'gpu.xid', severity: 'critical', message: raw }, false)).toBe(expected);
  });

  test('the summary colours each non-zero count', () => {
    const text = summarize([GPU_CHECK], { color: true });
    expect(stripVTControlCharacters(text)).toBe('1 task(s): 1 critical, 1 warning, 2 ok');
    expect(text).toContain(`${ESC}31m1 critical`);
  });
});

describe('colour follows NO_COLOR, FORCE_COLOR and the terminal', () => {
  test.each([
    [{}, true, true],
    [{}, false, false],
    [{ TERM: 'dumb' }, true, false],
    [{ NO_COLOR: '1' }, true, false],
    [{ NO_COLOR: '' }, true, true],
    [{ FORCE_COLOR: '1' }, false, true],
    [{ FORCE_COLOR: '0' }, true, false],
    [{ FORCE_COLOR: 'false' }, true, false],
    [{ NO_COLOR: '1', FORCE_COLOR: '1' }, true, false],
  ])('env %j on a terminal: %s → colour %s', (env, isTty, expected) => {
    expect(colorEnabled(env, isTty)).toBe(expected);
  });
});

describe('cleanup candidates', () => {
  const deleted = Array.from({ length: 14 }, (_, i) => ({
    path: `/opt/ml/experiments/run-${String(i).padStart(2, '0')}`,
    bytes: (i + 1) * 1024 * 1024,
    category: i % 2 ? 'experiments' : 'checkpoints',
    modifiedAt: new Date(Date.parse('2026-11-28T12:00:00Z') - (i + 31) * 86400_000).toISOString(),
  }));
  const details: CleanupDetails = {
    dryRun: true,
    deleted,
    bytesFreed: 0,
    bytesToFree: deleted.reduce((s, d) => s + d.bytes, 0),
    diskBefore: [],
    diskAfter: [],
    areas: [],
    notDeleted: [],
  };
  const result: TaskResult = {
    task: 'cleanup',
    host: 'gpu-1',
    status: 'ok',
    at: '2026-11-28T12:00:00Z',
    findings: [{ check: 'cleanup.run', severity: 'ok', message: 'dry run: would free 105.0 MiB in 14 paths' }],
    metrics: [],
    cleanup: details,
  };

  test('a dry run lists the largest first, with size, age and category, then how many more', () => {
    const lines = formatReport(result, { color: false, width: 80, listLimit: 3 }).split('\n');
    const start = lines.indexOf('  would delete (largest first):');
    expect(lines.slice(start + 1)).toEqual([
      '    14.0 MiB  44 d old  experiments  /opt/ml/experiments/run-13',
      '    13.0 MiB  43 d old  checkpoints  /opt/ml/experiments/run-12',
      '    12.0 MiB  42 d old  experiments  /opt/ml/experiments/run-11',
      '    ...and 11 more (-v or --json lists every path)',
    ]);
  });

  test('ten paths by default, and every path with verbose', () => {
    expect(formatReport(result, { color: false })).toContain('...and 4 more');
    const verbose = formatReport(result, { color: false, verbose: true });
    expect(verbose).not.toContain('more (');
    expect(verbose).toContain('/opt/ml/experiments/run-00');
  });

  test('a real run says deleted, and an unknown age is left blank', () => {
    const real = {
      ...result,
      cleanup: { ...details, dryRun: false, deleted: [{ path: '/var/cache/pip/x', bytes: 2048, category: 'pip' }] },
    };
    const lines = formatReport(real, { color: false }).split('\n');
    expect(lines.slice(-2)).toEqual(['  deleted (largest first):', '    2.0 KiB     pip  /var/cache/pip/x']);
  });
});
