/**
 * Faults in what nvidia-smi and the kernel log tools do: answers that exit 0 but cannot be trusted, a GPU
 * whose siblings read a sensor it does not, a driver that never answers, and a journalctl that ignores
 * SIGTERM. gpu-check always ends, says what it could not check, and leaves no process behind.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, expect, test } from 'vitest';
import type { Finding } from '../../lambda/core/types';
import { alive, disposeFaultHosts, type FaultHost, fakeTool, makeFaultHost, REPO_ROOT, runCliProcess } from './cli-harness';

afterEach(disposeFaultHosts);

const HEADER =
  'index, name, pci.bus_id, uuid, temperature.gpu, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], power.limit [W]';
const row = (i: number, temp = '40') =>
  `${i}, NVIDIA H100 80GB HBM3, 00000000:1${i}:00.0, GPU-000${i}, ${temp}, 10 %, 1000 MiB, 81559 MiB, 100.00 W, 700.00 W`;

/** A fake nvidia-smi whose --query-gpu prints `query` (exit 0); -L lists `gpus` GPUs; --help-query-gpu prints nothing. */
function fakeNvidiaSmi(host: FaultHost, query: string, gpus = 2): void {
  const file = path.join(host.data, 'query.out');
  writeFileSync(file, query);
  const list = Array.from({ length: gpus }, (_, i) => `GPU ${i}: NVIDIA H100 80GB HBM3 (UUID: GPU-000${i})`).join('\\n');
  fakeTool(
    host,
    'nvidia-smi',
    `case "$1" in\n  --help-query-gpu) exit 0 ;;\n  -L) printf '${list}\\n' ;;\n  --query-gpu=*) cat "${file}" ;;\nesac\nexit 0`,
  );
}

async function gpuCheck(
  host: FaultHost,
  env: Record<string, string> = {},
): Promise<{ code: number | null; result: { status: string; findings: Finding[] }; stdout: string }> {
  const run = await runCliProcess(host, ['run', 'gpu-check', '--json'], { env: { FAKE_NVSMI_MODE: 'ok', ...env } });
  return { code: run.code, result: JSON.parse(run.stdout), stdout: run.stdout };
}

const messages = (findings: readonly Finding[], check: string) =>
  findings.filter((f) => f.check === check).map((f) => `${f.severity}: ${f.message}`);

test.each([
  ['garbage', 'Segmentation fault (core dumped) ??\u0001\u0002 not a table\n', /exited 0 but printed no GPU table/],
  ['nothing', '', /exited 0 but printed nothing/],
  ['a header and no rows', `${HEADER}\n`, /printed a header but no GPU rows/],
  ['a table cut short mid-row', `${HEADER}\n${row(0)}\n1, NVIDIA H100 80GB HBM3, 00000000:1`, /1 line\(s\) cut short or malformed/],
  [
    'nothing but [N/A]',
    `${HEADER}\n${row(0)
      .replace(/, [^,]+ (%|MiB|W)/g, ', [N/A]')
      .replace(', 40,', ', [N/A],')}\n`,
    /gave no readings \(\[N\/A\] or unreadable\) for any of 1 GPU/,
  ],
])(
  'nvidia-smi exiting 0 with %s is a gpu.driver warning naming the checks not run, never "gpu-check OK"',
  async (_what, query, expected) => {
    const host = makeFaultHost();
    fakeNvidiaSmi(host, query);
    const { code, result } = await gpuCheck(host);
    expect(code).toBe(0);
    expect(result.status).not.toBe('ok');
    const driver = messages(result.findings, 'gpu.driver');
    expect(driver).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
    expect(driver.join('\n')).toMatch(/warning: .*(not checked|were not checked)/);
    // Never "0 GPUs visible ✓": with nothing to count, the count says nothing rather than ok.
    expect(messages(result.findings, 'gpu.count')).not.toEqual(expect.arrayContaining([expect.stringMatching(/^ok: 0 GPUs visible/)]));
  },
);

test('nvidia-smi printing 3 MB of rows is cut at 1 MiB by the script and reported, not read as thousands of GPUs', async () => {
  const host = makeFaultHost();
  const big = `${HEADER}\n${Array.from({ length: 30_000 }, (_, i) => row(i % 10)).join('\n')}\n`;
  fakeNvidiaSmi(host, big);
  const { code, result, stdout } = await gpuCheck(host);
  expect(code).toBe(0);
  expect(stdout.length).toBeLessThan(1_200_000);
  expect(messages(result.findings, 'gpu.driver')).toEqual(
    expect.arrayContaining([expect.stringMatching(/more than 1048576 bytes, far more than a GPU table: output not trusted/)]),
  );
  expect(JSON.stringify(result)).not.toMatch(/"GpusReported","value":[1-9]\d{2,}/);
});

test('a GPU that gives [N/A] where its same-model siblings give numbers gets a warning of its own', async () => {
  const host = makeFaultHost();
  fakeNvidiaSmi(host, `${HEADER}\n${row(0)}\n${row(1, '[N/A]')}\n${row(2)}\n`, 3);
  const { code, result } = await gpuCheck(host);
  expect(code).toBe(0);
  const sick = result.findings.filter((f) => f.check === 'gpu.unresponsive' && f.severity === 'warning');
  expect(sick).toEqual([
    expect.objectContaining({ gpu: 1, message: expect.stringContaining('gives no temperature.gpu while its 2 same-model sibling(s) do') }),
  ]);
});

test('an nvidia-smi that hangs and ignores SIGTERM: gpu.unresponsive critical, exit 0, and no nvidia-smi left running', async () => {
  const host = makeFaultHost({ gpuCheck: { nvidiaSmiTimeoutSeconds: 2 } });
  const pids = path.join(host.root, 'nvsmi.pids');
  const { code, result } = await gpuCheck(host, { FAKE_NVSMI_MODE: 'hang', FAKE_NVSMI_PIDS: pids });
  expect(code).toBe(0);
  expect(messages(result.findings, 'gpu.unresponsive')).toEqual(
    expect.arrayContaining([expect.stringMatching(/^critical: nvidia-smi did not answer/)]),
  );
  const started = readFileSync(pids, 'utf8').split('\n').filter(Boolean).map(Number);
  expect(started.length).toBeGreaterThan(0);
  await sleep(500);
  expect(started.filter(alive)).toEqual([]);
});

test('a journalctl that ignores SIGTERM is killed at the probe deadline with its whole process tree, not left as an orphan', async () => {
  const host = makeFaultHost();
  const pids = path.join(host.root, 'journalctl.pids');
  // Records its pid, then becomes the shared fake (exec keeps the pid), which hangs ignoring TERM.
  fakeTool(host, 'journalctl', `echo $$ >>"${pids}"\nexec "${path.join(REPO_ROOT, 'test', 'fakes', 'bin', 'journalctl')}" "$@"`);
  const { code, result } = await gpuCheck(host, { FAKE_NVSMI_MODE: 'no-driver', FAKE_JOURNAL_MODE: 'hang' });
  expect(code).toBe(0);
  expect(result.findings.length).toBeGreaterThan(0);
  expect(existsSync(pids)).toBe(true);
  const started = readFileSync(pids, 'utf8').split('\n').filter(Boolean).map(Number);
  await sleep(500);
  expect(started.filter(alive)).toEqual([]);
});
