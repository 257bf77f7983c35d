/**
 * `gpu-maint report`: the status page written from a state dir that real local runs produced
 * (gpu-check, health-check, backup and cleanup through the launcher, fake nvidia-smi on PATH, the
 * clock fixed with faketime) plus a week of synthetic history written through the real metrics sink,
 * then opened in headless Chromium: no console errors, no network, every chart drawn, a screenshot.
 *
 * To refresh the README's screenshot: GPU_MAINT_STATUS_SCREENSHOT=docs/img/status-page.png npx vitest run test/cli/report.test.ts
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { JsonLinesMetricsSink } from '../../lambda/adapters/local/metrics-files';
import { METRICS } from '../../lambda/core/metric-names';
import { buildMetrics, taskMetrics } from '../../lambda/core/metrics';
import { SERIES_COLORS } from '../../lambda/core/status/html';
import type { TaskResult } from '../../lambda/core/types';
import { manifestJson } from '../backup/manifests';
import { Browser, CHROMIUM, type Page } from '../helpers/chromium';
import { inheritedClockEnv } from '../helpers/clock-env';
import { REPO_ROOT } from '../helpers/fixtures';

const RUN_AT = '2026-11-28 12:00:00';
const NOW = '2026-11-28T12:30:00Z';
const NOW_MS = Date.parse(NOW);
const CLI = path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs');

let dir: string;
let stateDir: string;
let configFile: string;
let pageFile: string;
let html: string;
let env: NodeJS.ProcessEnv;
let runOutput: ReturnType<typeof spawnSync>;

const HELP = [
  'index',
  'name',
  'pci.bus_id',
  'uuid',
  'driver_version',
  'temperature.gpu',
  'utilization.gpu',
  'memory.used',
  'memory.total',
  'power.draw',
  'power.limit',
]
  .map((f) => `"${f}"\nDescribed here.\n`)
  .join('\n');
const CSV = [
  'index, name, pci.bus_id, uuid, driver_version, temperature.gpu, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], power.limit [W]',
  '0, NVIDIA H100 80GB HBM3, 00000000:18:00.0, GPU-0, 550.54.15, 61, 87 %, 60000 MiB, 81559 MiB, 512.00 W, 700.00 W',
  '1, NVIDIA H100 80GB HBM3, 00000000:2A:00.0, GPU-1, 550.54.15, 88, 95 %, 78000 MiB, 81559 MiB, 650.00 W, 700.00 W',
  '',
].join('\n');
const LIST = 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\n';

/**
 * Runs the CLI; with `faketime`, every process (node, bash, date) sees the clock start at that time
 * and run on together (a constant offset: `-f @TIME` would restart it in each process).
 */
function cli(args: readonly string[], options: { faketime?: string } = {}) {
  // An absolute start ("@" and a UTC time, then running), so the run happens at that time whatever the test's clock says.
  const argv = options.faketime ? ['-f', `@${options.faketime}`, process.execPath, CLI, ...args] : [CLI, ...args];
  return spawnSync(options.faketime ? 'faketime' : process.execPath, argv, { cwd: REPO_ROOT, encoding: 'utf8', env, timeout: 240_000 });
}

/** A week of hourly gpu-check and three-hourly health-check history before the runs, via the real sink. */
async function writeSyntheticHistory(host: string): Promise<void> {
  const sink = new JsonLinesMetricsSink(path.join(stateDir, 'metrics.jsonl'), 'GpuFleetMaintenance');
  const scope = (task: string) => ({ fleet: 'default', host, task, detail: 'gpu' as const });
  for (let h = 7 * 24; h >= 1; h--) {
    const at = new Date(Date.parse(`${RUN_AT.replace(' ', 'T')}Z`) - h * 3_600_000);
    const phase = (h % 24) / 24;
    const temps = [55 + 20 * Math.sin(phase * 2 * Math.PI), 62 + 24 * Math.sin(phase * 2 * Math.PI + 0.5)].map((t) => Math.round(t));
    const util = [Math.round(50 + 45 * Math.sin(phase * 2 * Math.PI)), Math.round(60 + 35 * Math.cos(phase * 2 * Math.PI))].map((u) =>
      Math.max(0, Math.min(100, u)),
    );
    const mem = [70 + (h % 5), 88 + (h % 7)];
    const gpuReadings = temps.flatMap((t, gpu) => [
      { name: METRICS.GpuTemperature, value: t, unit: 'None' as const, gpu },
      { name: METRICS.GpuUtilization, value: util[gpu], unit: 'Percent' as const, gpu },
      { name: METRICS.GpuMemoryUsedPct, value: mem[gpu], unit: 'Percent' as const, gpu },
    ]);
    const readings = [
      { name: METRICS.GpuTemperatureMax, value: Math.max(...temps), unit: 'None' as const },
      { name: METRICS.GpuMemoryUsedPctMax, value: Math.max(...mem), unit: 'Percent' as const },
      { name: METRICS.GpuUtilizationAvg, value: (util[0] + util[1]) / 2, unit: 'Percent' as const },
    ];
    const warning = temps.filter((t) => t >= 83).length;
    await sink.put(
      [
        ...taskMetrics(scope('gpu-check'), { failed: false, critical: 0, warning }),
        ...buildMetrics(scope('gpu-check'), readings, gpuReadings),
      ],
      at,
    );
    if (h % 3 === 0) {
      const disk = 40 + Math.round((168 - h) / 6);
      await sink.put(
        [
          ...taskMetrics(scope('health-check'), { failed: false, critical: 0, warning: disk >= 85 ? 1 : 0 }),
          ...buildMetrics(scope('health-check'), [
            { name: 'DiskUsedPctMax', value: disk, unit: 'Percent' },
            { name: 'InodesUsedPctMax', value: 12, unit: 'Percent' },
          ]),
        ],
        at,
      );
    }
    if (h % 24 === 0) {
      await sink.put(
        [
          ...taskMetrics(scope('cleanup'), { failed: false, critical: 0, warning: 0 }),
          ...buildMetrics(scope('cleanup'), [
            { name: 'BytesFreed', value: 0, unit: 'Bytes' },
            { name: 'BytesReclaimable', value: (3 + (h % 5)) * 1024 ** 3, unit: 'Bytes' },
          ]),
        ],
        at,
      );
    }
  }
}

/** Daily snapshots of the six days before the real backup run. */
function writeSyntheticSnapshots(hostKey: string): void {
  const snapshots = path.join(stateDir, 'backups', 'backups', hostKey, 'snapshots');
  for (let d = 6; d >= 1; d--) {
    const id = `202611${String(28 - d).padStart(2, '0')}T020000Z`;
    writeFileSync(
      path.join(snapshots, `${id}.json`),
      manifestJson(
        id,
        [
          { id: `llama-${d}`, bytes: (4 + d) * 1024 ** 3 },
          { id: 'bert', bytes: 900 * 1024 ** 2 },
        ],
        hostKey,
      ),
    );
  }
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-report-'));
  stateDir = path.join(dir, 'state');
  const caps = path.join(dir, 'captures');
  mkdirSync(caps);
  writeFileSync(path.join(caps, 'help.txt'), HELP);
  writeFileSync(path.join(caps, 'query.csv'), CSV);
  writeFileSync(path.join(caps, 'list.txt'), LIST);
  const models = path.join(dir, 'models');
  mkdirSync(path.join(models, 'resnet'), { recursive: true });
  writeFileSync(path.join(models, 'resnet', 'weights.bin'), Buffer.alloc(256 * 1024, 7));
  const experiments = path.join(dir, 'experiments');
  mkdirSync(path.join(experiments, 'run-old'), { recursive: true });
  writeFileSync(path.join(experiments, 'run-old', 'events.log'), Buffer.alloc(64 * 1024, 1));
  // A recent run keeps the old one under cleanup.maxDeleteFraction.
  mkdirSync(path.join(experiments, 'run-new'));
  writeFileSync(path.join(experiments, 'run-new', 'events.log'), Buffer.alloc(192 * 1024, 1));
  const old = new Date('2026-09-01T00:00:00Z');
  for (const p of [path.join(experiments, 'run-old', 'events.log'), path.join(experiments, 'run-old')]) utimesSync(p, old, old);
  configFile = path.join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      local: { stateDir },
      metrics: { detail: 'gpu' },
      backup: { sources: [models] },
      cleanup: {
        experiments: { paths: [experiments] },
        checkpoints: { paths: [path.join(dir, 'checkpoints')] },
        docker: { enabled: false },
        caches: { pip: false, conda: false, apt: false },
      },
    }),
  );
  env = {
    ...inheritedClockEnv(),
    TZ: 'UTC',
    PATH: `${path.join(REPO_ROOT, 'test', 'fakes', 'bin')}:${process.env.PATH}`,
    HOME: dir,
    LANG: 'C.UTF-8',
    GPU_MAINT_IMDS: 'off',
    FAKE_NVSMI_HELP: path.join(caps, 'help.txt'),
    FAKE_NVSMI_CSV: path.join(caps, 'query.csv'),
    FAKE_NVSMI_LIST: path.join(caps, 'list.txt'),
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
  runOutput = cli(['--config', configFile, 'run', 'gpu-check', 'health-check', 'backup', 'cleanup'], { faketime: RUN_AT });
  const gpuResult = JSON.parse(readFileSync(path.join(stateDir, 'results', 'gpu-check.json'), 'utf8')) as TaskResult;
  await writeSyntheticHistory(gpuResult.host);
  const [hostKey] = readdirSync(path.join(stateDir, 'backups', 'backups'));
  writeSyntheticSnapshots(hostKey);
  pageFile = path.join(dir, 'out', 'status.html');
  const report = cli(['--config', configFile, 'report', '--html', pageFile, '--now', NOW]);
  if (report.status !== 0) throw new Error(`report failed (${report.status}): ${report.stderr}`);
  html = readFileSync(pageFile, 'utf8');
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gpu-maint report --html from real local runs', () => {
  test('the runs that produced the state succeeded', () => {
    expect(runOutput.stderr).not.toMatch(/Error:|at .*\.ts:\d+/);
    expect(runOutput.status, `${runOutput.stdout}\n${runOutput.stderr}`.slice(-3000)).toBe(0);
    expect(readdirSync(path.join(stateDir, 'results')).sort()).toEqual([
      'backup.json',
      'cleanup.json',
      'gpu-check.json',
      'health-check.json',
    ]);
  });

  test('current findings come first, before any chart', () => {
    const findings = html.indexOf('Findings now');
    expect(findings).toBeGreaterThan(0);
    expect(html.indexOf('<figure')).toBeGreaterThan(findings);
    expect(html).toMatch(/<td><span class="sev warning"[^>]*>! warning<\/span><\/td><td>gpu\.temperature<\/td><td>GPU 1 at 88 °C/);
  });

  test('the page is self-contained: no external URL, and a policy that forbids loading anything', () => {
    expect(html).toContain(`content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).not.toMatch(/\s(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).toContain('uPlot');
  });

  test('disks per mount, backups with sizes and ages, and the latest cleanup are on the page', () => {
    expect(html).toMatch(/<td>\/<\/td><td>[^<]+<\/td><td><span class="bar">/);
    expect(html).toContain('20261127T020000Z');
    expect(html).toMatch(/<td>20261122T020000Z<\/td><td>6\.4 d<\/td><td>10\.9 GiB<\/td>/);
    expect(html).toMatch(/Latest run <time[^>]*>[^<]*<\/time>: dry run, would free 64\.0 KiB/);
  });

  test('the charts span the week of history with one line per GPU', () => {
    const charts = JSON.parse(/<script type="application\/json" id="gpu-maint-charts">(.*?)<\/script>/s.exec(html)?.[1] ?? '[]');
    const temperature = charts.find((c: any) => c.id === 'gpu-temperature');
    expect(temperature.series.map((s: any) => s.label)).toEqual(['GPU 0', 'GPU 1']);
    expect(temperature.x.length).toBe(7 * 24);
    expect(temperature.x[0]).toBe(Math.floor(NOW_MS / 1000) - 7 * 86400 - 30 * 60 + 3600);
    for (const c of charts) expect(c.x.length, c.id).toBeGreaterThan(0);
  });

  test.each([
    [['report'], 'give --html FILE, --serve, or both'],
    [['report', '--serve', '--port', '70000'], '--port "70000": expected a whole number 0-65535'],
    [['report', '--html', 'x.html', '--days', '0'], '--days "0": expected a whole number 1-366'],
    [['report', '--html', 'x.html', '--now', 'yesterday'], '--now "yesterday": expected an ISO-8601 time'],
  ])('%j is refused: %s', (args, message) => {
    const r = cli(['--config', configFile, ...args]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
  });
});

describe.skipIf(!CHROMIUM)('the page in headless Chromium', () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    browser = await Browser.launch();
    page = await browser.open(`file://${pageFile}`, { width: 1280, height: 900 });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });

  test('loads without console errors or exceptions', () => {
    expect(page.events.consoleErrors).toEqual([]);
    expect(page.events.exceptions).toEqual([]);
  });

  test('requests nothing but the page itself', () => {
    expect(page.events.requests).toEqual([`file://${pageFile}`]);
  });

  test('every chart is drawn, with its series lines on the canvas', async () => {
    const colors = SERIES_COLORS.map((hex) => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)));
    const drawn = await page.evaluate<{ id: string; points: number; rendered: string | undefined; seriesPixels: number }[]>(`
      [...document.querySelectorAll('figure.chart')].map((fig) => {
        const canvas = fig.querySelector('canvas');
        let seriesPixels = 0;
        if (canvas) {
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          const colors = ${JSON.stringify(colors)};
          for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] < 200) continue;
            if (colors.some(([r, g, b]) => Math.abs(data[i] - r) < 8 && Math.abs(data[i + 1] - g) < 8 && Math.abs(data[i + 2] - b) < 8)) seriesPixels++;
          }
        }
        return { id: fig.dataset.chart, points: Number(fig.dataset.points), rendered: fig.dataset.rendered, seriesPixels };
      })`);
    expect(drawn.map((c) => c.id)).toEqual([
      'gpu-temperature',
      'gpu-memory',
      'gpu-utilization',
      'disk-used',
      'backup-bytes',
      'cleanup-bytes',
      'findings',
    ]);
    for (const c of drawn) {
      expect(c.rendered, c.id).toBe(String(c.points));
      expect(c.seriesPixels, c.id).toBeGreaterThan(50);
    }
  });

  test('saves a screenshot of the whole page', async () => {
    const png = await page.screenshot();
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.length).toBeGreaterThan(50_000);
    const file = path.join(dir, 'status.png');
    writeFileSync(file, png);
    if (process.env.GPU_MAINT_STATUS_SCREENSHOT) copyFileSync(file, path.resolve(REPO_ROOT, process.env.GPU_MAINT_STATUS_SCREENSHOT));
  });

  test('without JavaScript, the current status is still there', async () => {
    const noJs = await browser.open(`file://${pageFile}`, { width: 1280, height: 900 }, { javascript: false });
    // Runtime.evaluate still runs with page scripts disabled: it reads what the HTML alone shows.
    const text = await noJs.evaluate<string>('document.querySelector("#now").innerText');
    expect(await noJs.evaluate<number>('document.querySelectorAll("canvas").length')).toBe(0);
    expect(text).toContain('gpu.temperature');
    expect(text).toContain('GPU 1 at 88 °C');
  });
});

describe('gpu-maint report --serve', () => {
  let proc: ChildProcess;
  let stdout = '';
  let exit: Promise<number | null>;

  beforeAll(async () => {
    proc = spawn(process.execPath, [CLI, '--config', configFile, 'report', '--serve', '--port', '0', '--now', NOW], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exit = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    proc.stdout?.on('data', (c) => {
      stdout += String(c);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no serving line: ${stdout}`)), 120_000);
      proc.stdout?.on('data', () => {
        if (/serving the status page on http:\/\/127\.0\.0\.1:\d+\//.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }, 150_000);
  afterAll(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });

  const get = (urlPath: string) =>
    new Promise<{ status: number; body: string; type: string }>((resolve, reject) => {
      const port = /127\.0\.0\.1:(\d+)\//.exec(stdout)?.[1];
      http
        .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
          let body = '';
          res.on('data', (c) => {
            body += String(c);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
        })
        .on('error', reject);
    });

  test('serves the page on 127.0.0.1, reloading itself for a live view', async () => {
    const r = await get('/');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/html; charset=utf-8');
    expect(r.body).toContain('Findings now');
    expect(r.body).toContain('<meta http-equiv="refresh" content="60">');
  });

  test('answers 404 for any other path', async () => {
    expect((await get('/metrics.jsonl')).status).toBe(404);
  });

  test('stops cleanly on SIGTERM', async () => {
    proc.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(stdout).toContain('stopped');
  });
});
