/**
 * `gpu-maint report --html FILE` writes one self-contained status page from the local state dir
 * (metrics.jsonl, the latest result of each task, alert state, backup snapshots); `--serve` serves
 * it on 127.0.0.1, rebuilt on every request, until SIGINT or SIGTERM.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Command } from 'commander';
import { localPaths } from '../../../lambda/adapters/local/local-run';
import { readLocalStatusState } from '../../../lambda/adapters/local/status-state';
import type { Config } from '../../../lambda/config/schema';
import { renderStatusPage, type StatusPageAssets } from '../../../lambda/core/status/html';
import { buildStatusModel, type SnapshotInfo } from '../../../lambda/core/status/model';
import { backupDestination } from '../../../lambda/tasks/parameters';
import { openBackupStore } from '../backup-store';
import { type CliIo, configFor, type RegisterCommand, UsageError } from '../context';
import { listSnapshots } from './snapshots';

interface ReportOptions {
  readonly html?: string;
  readonly serve?: boolean;
  readonly port: string;
  readonly days: string;
  readonly now?: string;
  readonly refresh: string;
}

/** uPlot's browser build and stylesheet, read from node_modules when the page is written. */
export function chartAssets(): StatusPageAssets {
  const req = createRequire(__filename);
  const dist = path.join(path.dirname(req.resolve('uplot/package.json')), 'dist');
  return {
    chartJs: readFileSync(path.join(dist, 'uPlot.iife.min.js'), 'utf8'),
    chartCss: readFileSync(path.join(dist, 'uPlot.min.css'), 'utf8'),
  };
}

function integerOption(value: string, name: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new UsageError(`${name} ${JSON.stringify(value)}: expected a whole number ${min}-${max}`);
  return n;
}

async function snapshotsOf(config: Config): Promise<{ snapshots: SnapshotInfo[]; problems: string[] }> {
  const destination = backupDestination(config);
  try {
    const hosts = await listSnapshots(openBackupStore(destination, config.backup.s3EndpointUrl, config.backup.storeTimeoutSeconds));
    return { snapshots: hosts.flatMap((h) => h.snapshots.map((s) => ({ ...s, hostKey: h.hostKey, host: h.host }))), problems: [] };
  } catch (err) {
    return { snapshots: [], problems: [`backup snapshots in ${destination}: ${(err as Error).message}`] };
  }
}

/** Builds the page from the state as it is now. */
export async function buildReport(
  config: Config,
  o: { now: Date; days: number; refreshSeconds?: number; assets?: StatusPageAssets },
): Promise<string> {
  const paths = localPaths(config);
  const state = await readLocalStatusState({
    stateDir: paths.stateDir,
    metricsFile: paths.metricsFile,
    since: new Date(o.now.getTime() - o.days * 86_400_000),
  });
  const backups = await snapshotsOf(config);
  const model = buildStatusModel({
    now: o.now,
    days: o.days,
    metrics: state.metrics,
    latest: state.latest,
    alerts: state.alerts,
    snapshots: backups.snapshots,
    problems: [...state.problems, ...backups.problems],
  });
  return renderStatusPage(model, o.assets ?? chartAssets(), o.refreshSeconds ? { refreshSeconds: o.refreshSeconds } : {});
}

function writeAtomically(file: string, text: string): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** Serves the page on 127.0.0.1 until SIGINT/SIGTERM, then closes the server and returns. */
async function serve(io: CliIo, port: number, page: () => Promise<string>): Promise<void> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || !['/', '/index.html'].includes((req.url ?? '/').split('?')[0])) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: the status page is at /\n');
      return;
    }
    page().then(
      (html) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html),
      (err: Error) =>
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`could not build the status page: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new UsageError(`--port ${port}: cannot listen on 127.0.0.1 (${err.code ?? err.message})`)),
    );
    server.listen(port, '127.0.0.1', resolve);
  });
  io.out(`serving the status page on http://127.0.0.1:${(server.address() as AddressInfo).port}/ (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  io.out('stopped');
}

export const registerReport: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('report')
    .description('write a self-contained HTML status page from the local state (findings, GPU/disk charts, backups, cleanup, alerts)')
    .option('--html <file>', 'write the page to this file')
    .option('--serve', 'serve the page on 127.0.0.1 (rebuilt on each request) until Ctrl-C')
    .option('--port <n>', 'port for --serve (0: any free port)', '8377')
    .option('--days <n>', 'days of history in the charts', '7')
    .option('--refresh <seconds>', 'with --serve: the page reloads itself this often', '60')
    .option('--now <iso-time>', 'current time (tests, pages of the past)')
    .action(async (options: ReportOptions, cmd: Command) => {
      if (!options.html && !options.serve) throw new UsageError('report: give --html FILE, --serve, or both');
      const days = integerOption(options.days, '--days', 1, 366);
      const port = integerOption(options.port, '--port', 0, 65535);
      const refreshSeconds = integerOption(options.refresh, '--refresh', 5, 86_400);
      let fixedNow: Date | undefined;
      if (options.now !== undefined) {
        fixedNow = new Date(options.now);
        if (Number.isNaN(fixedNow.getTime())) throw new UsageError(`--now ${JSON.stringify(options.now)}: expected an ISO-8601 time`);
      }
      const config = configFor(cmd);
      const assets = chartAssets();
      if (options.html) {
        writeAtomically(options.html, await buildReport(config, { now: fixedNow ?? new Date(), days, assets }));
        io.out(`wrote ${options.html}`);
      }
      if (options.serve) {
        await serve(io, port, () => buildReport(config, { now: fixedNow ?? new Date(), days, refreshSeconds, assets }));
      }
    });
};
