/**
 * Measures what `bundleAwsSdk` (lib/constructs/maintenance-function.ts) decides: for each Lambda handler,
 * the bundle esbuild makes with the options NodejsFunction uses (minified, CJS, node22, module-first
 * main fields), once with the AWS SDK bundled and once with it external (the runtime's copy, resolved
 * here from node_modules through NODE_PATH as the runtime resolves /var/runtime/node_modules), and
 * prints the bundle size, the module load time of a fresh `node` process (the Lambda init phase) and
 * the time of the first event, which builds the SDK clients (median of N runs).
 *
 * Usage: npx tsx bench/lambda-bundle/measure.ts [--runs 15]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { validateConfig } from '../../lambda/config/load';
import { ALERT_ENV, alertSettings } from '../../lambda/core/alerts/settings';

const ROOT = path.resolve(__dirname, '..', '..');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;

/**
 * Each handler with an event that makes it build its SDK clients (on the first event) but stop before
 * any network call: dispatch refuses an empty payload, collect gets an empty batch.
 */
const HANDLERS: Record<string, unknown> = {
  dispatch: {},
  collect: { Records: [] },
};

/** The environment the stack gives the functions (values do not matter here, only their shape). */
const ENV = {
  GPU_MAINT_DISPATCH: JSON.stringify({
    fleetTag: { key: 'gpu-maint:fleet', value: 'default' },
    maxConcurrency: '10%',
    maxErrors: '10%',
    outputBucket: 'bucket',
    outputKeyPrefix: 'command-output/',
    commandLogGroup: 'logs',
    tasks: { 'gpu-check': { documentName: 'doc', deliveryTimeoutSeconds: 240 } },
  }),
  GPU_MAINT_SETTINGS: JSON.stringify({
    fleet: 'default',
    metricDetail: 'fleet',
    thresholds: {},
    gpuCheck: { instanceType: 'auto', expectedGpuCount: 'auto', bootGraceMinutes: 10 },
    backup: { maxAgeHours: 26 },
  }),
  GPU_MAINT_COLLECT: JSON.stringify({
    documents: [{ name: 'doc', task: 'gpu-check' }],
    outputBucket: 'bucket',
    outputKeyPrefix: 'command-output/',
    namespace: 'GpuFleetMaintenance',
    maxConcurrency: 10,
  }),
  [ALERT_ENV.settings]: JSON.stringify(alertSettings(validateConfig({}))),
  [ALERT_ENV.table]: 'alert-state',
  [ALERT_ENV.topicArn]: 'arn:aws:sns:eu-west-1:111122223333:alerts',
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

function bundle(handler: string, bundleSdk: boolean, outdir: string): string {
  const outfile = path.join(outdir, `${handler}-${bundleSdk ? 'bundled' : 'external'}.js`);
  buildSync({
    entryPoints: [path.join(ROOT, 'lambda', 'handlers', `${handler}.ts`)],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    mainFields: ['module', 'main'],
    external: bundleSdk ? [] : ['@aws-sdk/*', '@smithy/*'],
    outfile,
    logLevel: 'silent',
  });
  return outfile;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Loads the bundle in a fresh process (init phase), then handles one event (first invocation). */
function timeOnce(file: string, event: unknown): { load: number; first: number } {
  const script = `
    const t0 = process.hrtime.bigint();
    const { handler } = require(${JSON.stringify(file)});
    const t1 = process.hrtime.bigint();
    handler(${JSON.stringify(event)}, { functionName: 'bench', awsRequestId: 'bench', getRemainingTimeInMillis: () => 120000 }).catch(() => undefined).then(() => {
      const t2 = process.hrtime.bigint();
      process.stdout.write(JSON.stringify({ load: Number(t1 - t0) / 1e6, first: Number(t2 - t1) / 1e6 }));
    });`;
  const out = execFileSync(process.execPath, ['-e', script], {
    // NODE_PATH stands in for the runtime's /var/runtime/node_modules when the SDK is external.
    env: { PATH: process.env.PATH, NODE_PATH: path.join(ROOT, 'node_modules'), ...ENV },
    encoding: 'utf8',
  });
  return JSON.parse(out) as { load: number; first: number };
}

function main(): void {
  const outdir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-bundle-'));
  try {
    console.log(`node ${process.version}, ${os.cpus().length} CPUs, median of ${RUNS} fresh processes`);
    console.log('| handler | AWS SDK | bundle KiB | init: module load ms | first event (clients built) ms | total ms |');
    console.log('|---|---|---|---|---|---|');
    for (const [handler, event] of Object.entries(HANDLERS)) {
      for (const bundled of [true, false]) {
        const file = bundle(handler, bundled, outdir);
        const samples = Array.from({ length: RUNS }, () => timeOnce(file, event));
        const kib = statSync(file).size / 1024;
        const load = median(samples.map((x) => x.load));
        const first = median(samples.map((x) => x.first));
        const total = median(samples.map((x) => x.load + x.first));
        console.log(
          `| ${handler} | ${bundled ? 'bundled' : 'external (runtime copy)'} | ${kib.toFixed(0)} | ${load.toFixed(1)} | ${first.toFixed(1)} | ${total.toFixed(1)} |`,
        );
      }
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

main();
