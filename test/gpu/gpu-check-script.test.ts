/**
 * scripts/gpu-check.sh as hosts run it: the bundle under real bash, with fake nvidia-smi, journalctl
 * and dmesg first on PATH (test/fakes/bin) replaying real captures (test/fixtures), IMDSv2 on
 * 127.0.0.1, and the output evaluated by the same core as the collect Lambda.
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runTaskScript } from '../../lambda/adapters/local/script-runner';
import type { ConfigInput } from '../../lambda/config/schema';
import { parseKeyValues, parseResult } from '../../lambda/core/contract';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateGpuCheck } from '../../lambda/core/gpu/evaluate';
import type { TaskOutput } from '../../lambda/core/ports';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import type { Finding, TaskResult } from '../../lambda/core/types';
import { parseConfigForTest } from '../helpers/config';
import { fixture, REPO_ROOT } from '../helpers/fixtures';
import { startImdsServer } from '../helpers/imds-server';
import { CAPTURE_EXPECTATIONS, OLD_465_EXPECTATION } from './capture-expectations';

const FAKES_BIN = path.join(REPO_ROOT, 'test', 'fakes', 'bin');
const CAPTURES = fixture('nvidia-smi', 'captures');
const work = mkdtempSync(path.join(os.tmpdir(), 'gpu-check-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let dirCounter = 0;
function freshDir(name: string): string {
  const dir = path.join(work, `${name}-${++dirCounter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

interface Capture {
  readonly help: string;
  readonly list: string;
  readonly csv: string;
}

/** The capture files of one machine and state, e.g. h100-80gb-hbm3 590.48.01 load. */
function linuxCapture(csvFile: string): Capture {
  const m = /^(linux-x86_64__.+__[\d.]+)__(idle|load)__query-gpu\.csv$/.exec(csvFile);
  if (!m) throw new Error(`not a Linux query capture: ${csvFile}`);
  return {
    help: path.join(CAPTURES, `${m[1]}__help-query-gpu.txt`),
    list: path.join(CAPTURES, `${m[1]}__list.txt`),
    csv: path.join(CAPTURES, csvFile),
  };
}

const H100_LOAD = linuxCapture('linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01__load__query-gpu.csv');

/** Splits the 465.27 capture (one file with "# nvidia-smi ..." headed sections) into fake inputs. */
function old465Capture(): Capture {
  const text = readFileSync(path.join(CAPTURES, 'old-output_ubuntu_20.04_v465.27.txt'), 'utf8');
  const sections = new Map<string, string>();
  let current = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('# nvidia-smi ')) {
      current = line.includes('--list-gpus') ? 'list' : line.includes('--help-query-gpu') ? 'help' : 'csv';
      sections.set(current, '');
    } else if (current) {
      sections.set(current, `${sections.get(current)}${line}\n`);
    }
  }
  const dir = freshDir('capture-465');
  const files = { help: path.join(dir, 'help.txt'), list: path.join(dir, 'list.txt'), csv: path.join(dir, 'query.csv') };
  writeFileSync(files.help, sections.get('help') ?? '');
  writeFileSync(files.list, `${(sections.get('list') ?? '').trim()}\n`);
  writeFileSync(files.csv, `${(sections.get('csv') ?? '').trim()}\n`);
  return files;
}

/**
 * Composes a failure-state capture from the real H100 load capture: its header and row, repeated for
 * each GPU with that GPU's index, bus id and any overridden cells (e.g. `[Unknown Error]`).
 */
function composedCapture(gpus: ReadonlyArray<{ busId: string; name?: string; cells?: Record<string, string> }>): Capture {
  const [header, row] = readFileSync(H100_LOAD.csv, 'utf8').trim().split('\n');
  const names = header.split(', ').map((h) => h.replace(/ \[.*\]$/, ''));
  const base = row.split(', ');
  const rows = gpus.map((gpu, index) => {
    const cells = [...base];
    const set = (field: string, value: string) => {
      const at = names.indexOf(field);
      if (at < 0) throw new Error(`the H100 capture has no column ${field}`);
      cells[at] = value;
    };
    set('index', String(index));
    set('pci.bus_id', gpu.busId);
    set('uuid', `GPU-00000000-0000-0000-0000-00000000000${index}`);
    if (gpu.name) set('name', gpu.name);
    for (const [field, value] of Object.entries(gpu.cells ?? {})) set(field, value);
    return cells.join(', ');
  });
  const dir = freshDir('composed');
  const files = { help: H100_LOAD.help, list: path.join(dir, 'list.txt'), csv: path.join(dir, 'query.csv') };
  writeFileSync(files.csv, [header, ...rows, ''].join('\n'));
  writeFileSync(
    files.list,
    gpus.map((g, i) => `GPU ${i}: ${g.name ?? 'NVIDIA H100 80GB HBM3'} (UUID: GPU-00000000-0000-0000-0000-00000000000${i})\n`).join(''),
  );
  return files;
}

const P4D_BUS_IDS = ['10:1C', '10:1D', '20:1C', '20:1D', '90:1C', '90:1D', 'A0:1C', 'A0:1D'].map((b) => `00000000:${b}.0`);

interface Run {
  readonly output: TaskOutput;
  readonly result: TaskResult;
  readonly stateDir: string;
  /** key=value sections of the script's output. */
  readonly kv: (section: string) => Record<string, string>;
  readonly status: (section: string) => { exitCode: number | null; seconds: number | null; stderr: string } | undefined;
}

interface RunOptions {
  readonly capture?: Capture;
  readonly env?: Record<string, string>;
  readonly config?: ConfigInput;
  /** Reuse the state dir of an earlier run (cursors, GPUs seen this boot). */
  readonly stateDir?: string;
}

async function runGpuCheck(options: RunOptions = {}): Promise<Run> {
  const config = parseConfigForTest({ gpuCheck: { bootGraceMinutes: 0 }, ...options.config });
  const stateDir = options.stateDir ?? freshDir('state');
  const capture = options.capture;
  const env: Record<string, string> = {
    PATH: `${FAKES_BIN}:${process.env.PATH}`,
    GPU_MAINT_IMDS: 'off',
    GPU_MAINT_PCI_DEVICES_DIR: freshDir('pci'),
    ...(capture ? { FAKE_NVSMI_HELP: capture.help, FAKE_NVSMI_LIST: capture.list, FAKE_NVSMI_CSV: capture.csv } : {}),
    ...options.env,
  };
  const output = await runTaskScript('gpu-check', config, { stateDir, env, timeoutMs: 120_000 });
  const result = evaluateTaskOutput(output, evaluateGpuCheck, evaluationSettings(config), new Date());
  const parsed = parseResult(output.stdout);
  return {
    output,
    result,
    stateDir,
    kv: (name) => parseKeyValues(parsed.sections.get(name)?.stdout ?? ''),
    status: (name) => {
      const s = parsed.sections.get(name);
      return s ? { exitCode: s.exitCode, seconds: s.seconds, stderr: s.stderr } : undefined;
    },
  };
}

const findingsOf = (r: TaskResult, check: string): Finding[] => r.findings.filter((f) => f.check === check);
const only = (r: TaskResult, check: string): Finding => {
  const found = findingsOf(r, check);
  expect(found, `${check}: ${JSON.stringify(r.findings)}`).toHaveLength(1);
  return found[0];
};
const notOk = (r: TaskResult) => r.findings.filter((f) => f.severity !== 'ok');

/** True when the process exists and is not a zombie (an orphan waits for init to reap it). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

function journalFile(lines: string[]): string {
  const file = path.join(freshDir('journal'), 'kernel.log');
  writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  return file;
}

describe('replaying every Linux CSV capture', () => {
  const linuxCsvs = readdirSync(CAPTURES).filter((f) => /^linux-.*__query-gpu\.csv$/.test(f));

  test('covers H100, H100 MIG, RTX 2080 SUPER (two drivers) and RTX 4080 SUPER, idle and load', () => {
    expect(linuxCsvs).toHaveLength(10);
    expect(linuxCsvs.every((f) => CAPTURE_EXPECTATIONS[f] !== undefined)).toBe(true);
  });

  test.concurrent.each(linuxCsvs)('%s: the readings equal the capture and every check is ok', async (csvFile) => {
    const run = await runGpuCheck({ capture: linuxCapture(csvFile) });
    const { driverVersion, ...expected } = CAPTURE_EXPECTATIONS[csvFile];
    expect(run.output.exitCode).toBe(0);
    expect(notOk(run.result)).toEqual([]);
    expect(run.result.gpus).toHaveLength(1);
    expect(run.result.gpus?.[0]).toMatchObject({ index: 0, ...expected });
    expect(only(run.result, 'gpu.driver').reading).toBe(driverVersion);
    expect(only(run.result, 'gpu.count')).toMatchObject({ severity: 'ok', reading: 1 });
    expect(run.result.metrics.find((m) => m.name === 'GpuTemperatureMax')?.value).toBe(expected.temperatureC);
  });
});

describe.concurrent('older drivers', () => {
  test('driver 465: clocks_throttle_reasons.* are queried and read, and fields it lacks are not asked for', async () => {
    const calls = path.join(freshDir('calls'), 'calls');
    const run = await runGpuCheck({ capture: old465Capture(), env: { FAKE_NVSMI_CALLS: calls } });
    const { driverVersion, ...expected } = OLD_465_EXPECTATION;
    expect(notOk(run.result)).toEqual([]);
    expect(run.result.gpus?.[0]).toMatchObject(expected);
    expect(only(run.result, 'gpu.driver').reading).toBe(driverVersion);
    const query = readFileSync(calls, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('--query-gpu='));
    expect(query).toContain('clocks_throttle_reasons.active');
    expect(query).not.toContain('clocks_event_reasons');
    expect(query).not.toContain('remapped_rows');
    expect(run.kv('query-fields').unlisted).toContain('remapped_rows.pending');
  });

  test('an older sample (clocks_throttle_reasons, no remapped rows) replays with the 465 help text', async () => {
    const old = old465Capture();
    const run = await runGpuCheck({ capture: { ...old, csv: path.join(CAPTURES, 'old-sample-output.csv') } });
    const { driverVersion, ...expected } = CAPTURE_EXPECTATIONS['old-sample-output.csv'];
    expect(notOk(run.result)).toEqual([]);
    expect(run.result.gpus?.[0]).toMatchObject(expected);
    expect(only(run.result, 'gpu.driver').reading).toBe(driverVersion);
  });

  test('an invalid-field error despite the help text: the query is retried without the field', async () => {
    const calls = path.join(freshDir('calls'), 'calls');
    const run = await runGpuCheck({
      capture: H100_LOAD,
      env: { FAKE_NVSMI_REJECT_FIELD: 'remapped_rows.pending', FAKE_NVSMI_CALLS: calls },
    });
    expect(only(run.result, 'gpu.driver')).toMatchObject({ severity: 'warning', reading: 'remapped_rows.pending' });
    expect(run.result.gpus?.[0]).toMatchObject({ temperatureC: 59, memoryUsedMiB: 19818, powerDrawW: 631.95, remappedRowsPending: null });
    const queries = readFileSync(calls, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('--query-gpu='));
    expect(queries).toHaveLength(2);
    expect(queries[1]).not.toContain('remapped_rows.pending,');
    expect(queries[1]).toContain('remapped_rows.failure');
  });
});

describe.concurrent('failure states', () => {
  test('[Unknown Error] cells are warnings on that GPU, never 0', async () => {
    const capture = composedCapture([
      { busId: P4D_BUS_IDS[0] },
      {
        busId: P4D_BUS_IDS[1],
        cells: {
          'temperature.gpu': '[Unknown Error]',
          'power.draw': '[Unknown Error]',
          'power.draw.average': '[Unknown Error]',
          'memory.used': '[Unknown Error]',
        },
      },
    ]);
    const run = await runGpuCheck({ capture });
    expect(run.result.gpus?.[1]).toMatchObject({ temperatureC: null, powerDrawW: null, memoryUsedMiB: null });
    expect(run.result.gpus?.[0]).toMatchObject({ temperatureC: 59, powerDrawW: 631.95 });
    for (const check of ['gpu.temperature', 'gpu.power', 'gpu.memory']) {
      expect(only(run.result, check)).toMatchObject({ severity: 'warning', gpu: 1 });
    }
    expect(run.result.status).toBe('warning');
  });

  test('a GPU missing for the instance type (p4d.24xlarge from IMDSv2 with 7 GPUs) is critical', async () => {
    const imds = await startImdsServer({ metadata: { 'instance-type': 'p4d.24xlarge', 'instance-id': 'i-0123456789abcdef0' } });
    try {
      const capture = composedCapture(P4D_BUS_IDS.slice(0, 7).map((busId) => ({ busId, name: 'NVIDIA A100-SXM4-40GB' })));
      const run = await runGpuCheck({ capture, env: { GPU_MAINT_IMDS: 'auto', GPU_MAINT_IMDS_ENDPOINT: imds.endpoint } });
      expect(only(run.result, 'gpu.count')).toMatchObject({
        severity: 'critical',
        reading: 7,
        message: expect.stringContaining('8 expected for p4d.24xlarge'),
      });
      expect(run.result).toMatchObject({ host: 'i-0123456789abcdef0', instanceType: 'p4d.24xlarge', expectedGpuCount: 8 });
      expect(run.result.metrics.find((m) => m.name === 'GpusMissing')?.value).toBe(1);
      expect(run.kv('identity')).toMatchObject({
        instance_type: 'p4d.24xlarge',
        instance_type_source: 'imds',
        instance_id: 'i-0123456789abcdef0',
      });
      // One IMDSv2 token for the whole run, then the two reads with it.
      expect(imds.requests).toEqual(['PUT /latest/api/token', 'GET /latest/meta-data/instance-id', 'GET /latest/meta-data/instance-type']);
    } finally {
      await imds.close();
    }
  });

  test('a GPU seen earlier this boot and now gone is critical without any expected count', async () => {
    const first = await runGpuCheck({ capture: composedCapture([{ busId: P4D_BUS_IDS[0] }, { busId: P4D_BUS_IDS[1] }]) });
    expect(notOk(first.result)).toEqual([]);
    const second = await runGpuCheck({ capture: composedCapture([{ busId: P4D_BUS_IDS[0] }]), stateDir: first.stateDir });
    expect(only(second.result, 'gpu.count')).toMatchObject({
      severity: 'critical',
      gpu: 1,
      message: expect.stringContaining('GPU 1 (00000000:10:1D.0)'),
    });
  });

  test('Xid 79 in the kernel log is gpu.xid critical naming the GPU index, once', async () => {
    const capture = composedCapture([{ busId: P4D_BUS_IDS[0] }, { busId: P4D_BUS_IDS[1] }]);
    const journal = journalFile([
      '2026-11-28T11:58:00+0000 ip-10-0-0-1 kernel: NVRM: GPU at PCI:0000:10:1d: GPU-00000000-0000-0000-0000-000000000001',
      "2026-11-28T11:58:00+0000 ip-10-0-0-1 kernel: NVRM: Xid (PCI:0000:10:1d): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
    ]);
    const env = { FAKE_JOURNAL_FILE: journal };
    const first = await runGpuCheck({ capture, env });
    const xid = only(first.result, 'gpu.xid');
    expect(xid).toMatchObject({ severity: 'critical', gpu: 1 });
    expect(xid.message).toContain('GPU 1');
    expect(first.result.xids).toEqual([expect.objectContaining({ code: 79, busId: '00000000:10:1D.0', gpu: 1, severity: 'critical' })]);

    // The journal cursor in the state dir: the next check does not report the same line again...
    const second = await runGpuCheck({ capture, env, stateDir: first.stateDir });
    expect(only(second.result, 'gpu.xid')).toMatchObject({ severity: 'ok', reading: 0 });
    // ...but does report a new one.
    appendFileSync(
      journal,
      '2026-11-28T12:01:00+0000 ip-10-0-0-1 kernel: NVRM: Xid (PCI:0000:10:1c): 13, pid=42, name=python3, Graphics Exception\n',
    );
    const third = await runGpuCheck({ capture, env, stateDir: first.stateDir });
    expect(third.result.xids).toEqual([expect.objectContaining({ code: 13, gpu: 0, severity: 'warning' })]);
  });

  test('without a journal, Xid lines come from dmesg since the saved kernel timestamp', async () => {
    const dmesg = path.join(freshDir('dmesg'), 'ring');
    writeFileSync(
      dmesg,
      '[  100.000001] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  590.48.01\n[  966.503025] NVRM: Xid (PCI:0000:00:09): 48, pid=1, name=x, DBE\n',
    );
    const env = { FAKE_JOURNAL_MODE: 'no-files', FAKE_DMESG_FILE: dmesg };
    const first = await runGpuCheck({ capture: H100_LOAD, env });
    expect(only(first.result, 'gpu.xid')).toMatchObject({ severity: 'critical', gpu: 0 });
    const second = await runGpuCheck({ capture: H100_LOAD, env, stateDir: first.stateDir });
    expect(only(second.result, 'gpu.xid')).toMatchObject({ severity: 'ok', message: expect.stringContaining('dmesg') });
    appendFileSync(dmesg, '[ 1200.000000] NVRM: Xid (PCI:0000:00:09): 13, pid=2, name=y, Graphics Exception\n');
    const third = await runGpuCheck({ capture: H100_LOAD, env, stateDir: first.stateDir });
    expect(third.result.xids?.map((x) => x.code)).toEqual([13]);
  });

  test('an unreadable kernel log is a warning, not a crash', async () => {
    const run = await runGpuCheck({ capture: H100_LOAD, env: { FAKE_JOURNAL_MODE: 'not-permitted', FAKE_DMESG_MODE: 'not-permitted' } });
    expect(only(run.result, 'gpu.xid')).toMatchObject({ severity: 'warning', message: expect.stringContaining('Operation not permitted') });
  });

  test('the driver-communication failure is gpu.driver critical', async () => {
    const run = await runGpuCheck({ capture: H100_LOAD, env: { FAKE_NVSMI_MODE: 'no-driver' } });
    expect(run.output.exitCode).toBe(0);
    expect(only(run.result, 'gpu.driver')).toMatchObject({
      severity: 'critical',
      message: expect.stringContaining("couldn't communicate with the NVIDIA driver"),
    });
  });

  test('a driver/library version mismatch is gpu.driver critical', async () => {
    const run = await runGpuCheck({ capture: H100_LOAD, env: { FAKE_NVSMI_MODE: 'version-mismatch' } });
    expect(only(run.result, 'gpu.driver')).toMatchObject({ severity: 'critical', message: expect.stringContaining('version mismatch') });
  });

  test('"No devices were found" on a configured p5.48xlarge is gpu.count critical', async () => {
    const run = await runGpuCheck({
      capture: H100_LOAD,
      env: { FAKE_NVSMI_MODE: 'no-devices' },
      config: { gpuCheck: { instanceType: 'p5.48xlarge', bootGraceMinutes: 0 } },
    });
    expect(only(run.result, 'gpu.count')).toMatchObject({ severity: 'critical', reading: 0 });
    expect(run.result).toMatchObject({ instanceType: 'p5.48xlarge', expectedGpuCount: 8 });
    expect(run.kv('identity')).toMatchObject({ instance_type: 'p5.48xlarge', instance_type_source: 'config' });
  });
});

describe('an nvidia-smi that ignores SIGTERM and never returns', () => {
  test('the check still ends well within 60 s, the hung process is killed, and gpu.unresponsive is critical', async () => {
    const dir = freshDir('hang');
    const calls = path.join(dir, 'calls');
    const pids = path.join(dir, 'pids');
    const run = await runGpuCheck({
      capture: H100_LOAD,
      env: { FAKE_NVSMI_MODE: 'hang', FAKE_NVSMI_CALLS: calls, FAKE_NVSMI_PIDS: pids, GPU_MAINT_NVSMI_TIMEOUT_S: '2' },
    });
    // The script's own clock (bash SECONDS, whole seconds), not this loaded machine's scheduling.
    expect(Number(run.kv('budget').elapsed_s)).toBeLessThanOrEqual(Number(run.kv('budget').deadline_s) + 1);
    expect(run.output.exitCode).toBe(0);
    expect(only(run.result, 'gpu.unresponsive')).toMatchObject({
      severity: 'critical',
      message: expect.stringContaining('nvidia-smi-help'),
    });
    // timeout(1) exits 124, or 137 when SIGTERM was ignored and it had to send SIGKILL.
    expect(run.status('nvidia-smi-help')?.exitCode).toBe(137);
    // After the first call hung, the others were recorded as not run instead of being tried.
    expect(run.status('nvidia-smi-query')).toMatchObject({ exitCode: 125, stderr: expect.stringContaining('not run') });
    expect(run.status('nvidia-smi-list')).toMatchObject({ exitCode: 125 });
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual(['--help-query-gpu']);
    for (const pid of readFileSync(pids, 'utf8').trim().split('\n').map(Number)) {
      expect(isRunning(pid), `nvidia-smi pid ${pid} still running`).toBe(false);
    }
    expect(run.result.metrics.find((m) => m.name === 'GpuUnresponsive')?.value).toBe(1);
  });

  test('a hang in the query itself skips -L, and the check still reports the kernel log', async () => {
    const run = await runGpuCheck({
      capture: H100_LOAD,
      env: { FAKE_NVSMI_MODE: 'hang', FAKE_NVSMI_HANG_ON: 'query', GPU_MAINT_NVSMI_TIMEOUT_S: '2' },
    });
    expect(run.status('nvidia-smi-help')).toMatchObject({ exitCode: 0 });
    expect(run.status('nvidia-smi-query')?.exitCode).toBe(137);
    expect(run.status('nvidia-smi-list')).toMatchObject({ exitCode: 125 });
    expect(only(run.result, 'gpu.unresponsive')).toMatchObject({
      severity: 'critical',
      message: expect.stringContaining('nvidia-smi-query'),
    });
    expect(only(run.result, 'gpu.xid').severity).toBe('ok');
  });
});

describe('the time budget', () => {
  test('the default settings keep the worst case under 60 s', async () => {
    // Default config: the script's own parameters as SSM would pass them.
    const run = await runGpuCheck({ capture: H100_LOAD, config: {} });
    const budget = run.kv('budget');
    const deadline = Number(budget.deadline_s);
    const grace = Number(budget.kill_grace_s);
    const nvsmi = Number(budget.nvsmi_timeout_s);
    const xid = Number(budget.xid_timeout_s);
    expect(nvsmi).toBe(15);
    // Every probe limit is clamped so that limit + kill grace ends by the deadline; bash's SECONDS
    // counts whole seconds, so the script ends by deadline + 1 s.
    expect(deadline + 1).toBeLessThan(60);
    // With the defaults, a wedged driver still gets its full timeout: slow IMDS (3 curl calls of at most
    // 4 s each), one hung nvidia-smi call and the kernel log read all fit before the deadline.
    const imdsWorstS = 3 * 4;
    expect(imdsWorstS + (nvsmi + grace) + (xid + grace)).toBeLessThanOrEqual(deadline);
  });

  test('a shorter deadline clamps nvidia-smi calls to it (40 s timeout, 25 s deadline)', async () => {
    const run = await runGpuCheck({
      capture: H100_LOAD,
      env: { FAKE_NVSMI_MODE: 'hang', GPU_MAINT_NVSMI_TIMEOUT_S: '40', GPU_MAINT_GPU_CHECK_DEADLINE_S: '25' },
    });
    expect(run.kv('budget')).toMatchObject({ deadline_s: '25', nvsmi_timeout_s: '40' });
    expect(Number(run.kv('budget').elapsed_s)).toBeLessThanOrEqual(26);
    expect(run.status('nvidia-smi-help')?.exitCode).toBe(137);
    expect(run.status('nvidia-smi-help')?.seconds).toBeLessThan(15);
    expect(only(run.result, 'gpu.unresponsive').severity).toBe('critical');
  });

  test('slow nvidia-smi calls that use up the budget are skipped and reported as a warning', async () => {
    const run = await runGpuCheck({
      capture: H100_LOAD,
      env: { FAKE_NVSMI_MODE: 'slow', FAKE_NVSMI_DELAY_S: '3', GPU_MAINT_NVSMI_TIMEOUT_S: '5', GPU_MAINT_GPU_CHECK_DEADLINE_S: '25' },
    });
    expect(run.status('nvidia-smi-help')).toMatchObject({ exitCode: 0 });
    expect(run.status('nvidia-smi-query')).toMatchObject({ exitCode: 125, stderr: expect.stringContaining('time budget spent') });
    expect(only(run.result, 'gpu.unresponsive')).toMatchObject({
      severity: 'warning',
      message: expect.stringContaining('nvidia-smi is slow'),
    });
  });

  test.each([
    ['GPU_MAINT_NVSMI_TIMEOUT_S', '0', 'from 1 to 40'],
    ['GPU_MAINT_NVSMI_TIMEOUT_S', 'ten', 'from 1 to 40'],
    ['GPU_MAINT_GPU_CHECK_DEADLINE_S', '90', 'from 20 to 55'],
    ['GPU_MAINT_INSTANCE_TYPE', 'p5 48xlarge', 'p5.48xlarge'],
  ])('%s=%j is refused with a clear error (exit 1)', async (name, value, expected) => {
    const run = await runGpuCheck({ capture: H100_LOAD, env: { [name]: value } });
    expect(run.output.exitCode).toBe(1);
    expect(run.output.stderr).toContain(`${name} must be`);
    expect(run.output.stderr).toContain(`got: '${value}'`);
    expect(run.output.stderr).toContain(expected);
  });
});

describe('a host without the NVIDIA driver', () => {
  const realNvidiaSmi = ['/usr/bin/nvidia-smi', '/bin/nvidia-smi', '/usr/local/bin/nvidia-smi'].some((p) => existsSync(p));

  /** PATH with the kernel-log fakes but no nvidia-smi at all. */
  function pathWithoutNvidiaSmi(): string {
    const bin = freshDir('bin-no-nvsmi');
    for (const tool of ['journalctl', 'dmesg']) symlinkSync(path.join(FAKES_BIN, tool), path.join(bin, tool));
    return `${bin}:/usr/bin:/bin`;
  }

  test.skipIf(realNvidiaSmi)('reports gpu.driver warning and exits 0 when no GPU is expected', async () => {
    const run = await runGpuCheck({ env: { PATH: pathWithoutNvidiaSmi() } });
    expect(run.output.exitCode).toBe(0);
    expect(run.result.status).toBe('warning');
    expect(only(run.result, 'gpu.driver')).toMatchObject({
      severity: 'warning',
      message: 'nvidia-smi not found: no NVIDIA driver installed',
    });
    expect(run.kv('driver')).toEqual({ nvidia_smi: '', kernel_module: expect.any(String), pci_gpus: '0' });
    expect(run.status('nvidia-smi-query')).toBeUndefined();
  });

  test.skipIf(realNvidiaSmi)('reports gpu.driver critical when NVIDIA GPUs are on the PCI bus', async () => {
    const pci = freshDir('pci-with-gpu');
    for (const [dev, vendor, cls] of [
      ['0000:10:1c.0', '0x10de', '0x030200'],
      ['0000:00:1f.0', '0x8086', '0x060100'],
      ['0000:c1:00.0', '0x10de', '0x068000'],
    ]) {
      mkdirSync(path.join(pci, dev));
      writeFileSync(path.join(pci, dev, 'vendor'), `${vendor}\n`);
      writeFileSync(path.join(pci, dev, 'class'), `${cls}\n`);
    }
    const run = await runGpuCheck({ env: { PATH: pathWithoutNvidiaSmi(), GPU_MAINT_PCI_DEVICES_DIR: pci } });
    // The NVSwitch (class 0x0680) is a bridge, not a GPU.
    expect(run.kv('driver').pci_gpus).toBe('1');
    expect(only(run.result, 'gpu.driver')).toMatchObject({
      severity: 'critical',
      message: expect.stringContaining('1 NVIDIA GPU is on the PCI bus'),
    });
  });

  test.skipIf(realNvidiaSmi)('reports gpu.driver critical on a GPU instance type', async () => {
    const run = await runGpuCheck({ env: { PATH: pathWithoutNvidiaSmi() }, config: { gpuCheck: { instanceType: 'g5.xlarge' } } });
    expect(only(run.result, 'gpu.driver')).toMatchObject({
      severity: 'critical',
      message: expect.stringContaining('g5.xlarge should have 1 GPU'),
    });
  });
});
