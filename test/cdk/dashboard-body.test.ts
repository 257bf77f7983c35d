/**
 * The dashboard as code, checked on the synthesized template's DashboardBody: the "now" section is at
 * the top, every metric of our namespace is one the code emits (lambda/core/metric-names.ts), and every
 * Logs Insights query parses and reads only fields the log lines carry, derived from the code that
 * builds those lines (resultLogRecord through the Powertools logger, the prune audit record).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../bin/app';
import { FileBackupStore } from '../../lambda/adapters/local/backup-store-file';
import type { Config } from '../../lambda/config/schema';
import { type HostAuditRecord, runPruneAudit } from '../../lambda/core/backup/prune';
import { resultLogRecord } from '../../lambda/core/collect';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { isMetricName, METRIC_NAMES } from '../../lambda/core/metric-names';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import type { TaskName } from '../../lambda/core/types';
import { taskDefinition } from '../../lambda/tasks/registry';
import type { GpuMaintStack } from '../../lib/gpu-maint-stack';
import { manifestJson } from '../backup/manifests';
import { gpuCheckOutput } from '../helpers/gpu-check-output';
import { flattenFields, parseQuery, QueryError } from '../helpers/logs-insights';

const NOW = new Date('2026-11-28T12:00:00Z');
/** Logs Insights extracts at most 200 fields of a JSON event (CWL_AnalyzeLogData-discoverable-fields). */
const MAX_EXTRACTED_FIELDS = 200;

const outdir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-dashboard-body-'));
let stack: GpuMaintStack;
let config: Config;
let widgets: any[];
let collectorLines: string[][];
let pruneLines: string[][];
let logGroupOf: Map<string, string[][]>;

/** Renders a CloudFormation value to text: tokens become `ref:<id>` / `getatt:<id>.<attr>`. */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (v?.Ref) return `ref:${v.Ref}`;
  if (v?.['Fn::GetAtt']) return `getatt:${v['Fn::GetAtt'].join('.')}`;
  if (v?.['Fn::Join']) return (v['Fn::Join'][1] as unknown[]).map(text).join(v['Fn::Join'][0]);
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** The JSON lines the Powertools logger writes for these records, as Logs Insights sees them. */
function powertoolsLines(serviceName: string, message: string, records: object[]): string[][] {
  const written: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const logger = new Logger({ serviceName });
    logger.addContext({
      functionName: 'fn',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:fn',
      memoryLimitInMB: '512',
      awsRequestId: 'req-1',
    } as unknown as Context);
    for (const record of records) logger.info(message, record as Record<string, unknown>);
  } finally {
    process.stdout.write = write;
  }
  return written.map((line) => flattenFields(JSON.parse(line)));
}

function evaluated(task: TaskName, stdout: string) {
  return evaluateTaskOutput({ task, stdout, exitCode: 0 }, taskDefinition(task).evaluate, evaluationSettings(config), NOW);
}

const CLEANUP_DRY_RUN = [
  '@@gpu-maint v1 begin task=cleanup host=i-0abc at=2026-11-28T12:00:00Z',
  '@@gpu-maint section cleanup-config',
  'dry_run=true',
  '@@gpu-maint status cleanup-config exit=0 seconds=0',
  '@@gpu-maint section area-1',
  'category=experiments\nstatus=ok\npath=/data/exp\ntotal_bytes=5000\nselected_bytes=1000\nfreed_bytes=1000\nselected_items=1',
  '@@gpu-maint status area-1 exit=0 seconds=0',
  '@@gpu-maint section disk-after',
  'Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/root 100000000 50000000 50000000 50% /data',
  '@@gpu-maint status disk-after exit=0 seconds=0',
  '@@gpu-maint v1 end task=cleanup',
  '',
].join('\n');

async function pruneAuditRecords(): Promise<HostAuditRecord[]> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-dashboard-prune-'));
  try {
    const dir = path.join(root, 'backups', 'i-0abc', 'snapshots');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, '20261127T120000Z.json'), manifestJson('20261127T120000Z', []));
    const records: HostAuditRecord[] = [];
    await runPruneAudit(
      { store: new FileBackupStore(root), metrics: { put: async () => {}, flush: async () => {} }, log: (r) => records.push(r) },
      { fleet: 'prod', maxAgeHours: 26, retention: { keepLast: 3, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, graceDays: 2 } },
      NOW,
      true,
    );
    return records;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  const built = buildApp({
    outdir,
    context: { 'aws:cdk:bundling-stacks': [], gpuMaint: { fleet: { name: 'prod' }, cleanup: { schedule: { enabled: true } } } },
    nag: false,
  });
  stack = built.stack;
  config = built.config;
  const body = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody;
  widgets = JSON.parse(text(body)).widgets;

  const gpu = evaluated(
    'gpu-check',
    gpuCheckOutput({
      host: 'i-0abc',
      temperatures: { 3: 95 },
      xidLines: ['[ 1234.5] NVRM: Xid (PCI:0000:10:1d): 79, pid=0, GPU has fallen off the bus.'],
    }),
  );
  const ref = { commandId: 'c-1', instanceId: 'i-0abc', documentName: 'doc', status: 'Success' };
  const records = [gpu, evaluated('cleanup', CLEANUP_DRY_RUN)].map((r) => ({
    result: resultLogRecord(r, ref, taskDefinition(r.task).fleetCheck),
  }));
  collectorLines = powertoolsLines('gpu-maint-collect', 'task result', records);
  // lambda/handlers/prune.ts logs the record with its `message` as `finding` (Powertools owns `message`).
  pruneLines = powertoolsLines(
    'gpu-maint-prune',
    'backup audit',
    (await pruneAuditRecords()).map(({ message: finding, ...record }) => ({ ...record, finding })),
  );
  const refOf = (logGroupName: string) => text(Stack.of(stack).resolve(logGroupName));
  logGroupOf = new Map([
    [refOf(stack.collector.handler.logGroup.logGroupName), collectorLines],
    [refOf(stack.backupPruner.function.logGroup.logGroupName), pruneLines],
  ]);
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const byTitle = (title: string) => {
  const w = widgets.find((x) => (x.properties.title ?? '').startsWith(title));
  if (!w) throw new Error(`no widget titled ${JSON.stringify(title)}; titles: ${widgets.map((x) => x.properties.title).join(' | ')}`);
  return w;
};

describe('layout: what is broken now comes first', () => {
  const NOW_WIDGETS = [
    'Alarms: pipeline and fleet',
    'Hosts with a critical or warning finding now',
    'Stale hosts',
    'Instances reporting gpu-check vs expected',
  ];

  test('the alarm status widget is in the first row (y = 0)', () => {
    expect(byTitle('Alarms: pipeline and fleet')).toMatchObject({ type: 'alarm', y: 0 });
  });

  test('every "now" widget sits above every other widget', () => {
    const now = NOW_WIDGETS.map(byTitle);
    const lowestNow = Math.max(...now.map((w) => w.y + w.height));
    const others = widgets.filter((w) => !now.includes(w) && w.type !== 'text');
    expect(others.length).toBeGreaterThan(10);
    for (const w of others) expect(w.y, w.properties.title).toBeGreaterThanOrEqual(lowestNow);
  });

  test('the alarm status widget lists every alarm of the stack', () => {
    const alarmIds = Object.keys(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm'));
    expect([...byTitle('Alarms: pipeline and fleet').properties.alarms].sort()).toEqual(alarmIds.map((id) => `getatt:${id}.Arn`).sort());
  });

  test('the fleet graphs come before the drill-down, and the drill-down before the pipeline', () => {
    const header = (name: string) => widgets.find((w) => w.type === 'text' && w.properties.markdown.startsWith(`## ${name}`)).y;
    expect(header('Fleet')).toBeLessThan(header('Drill-down'));
    expect(header('Drill-down')).toBeLessThan(header('Pipeline'));
  });

  test('the host variable narrows the drill-down widgets by a regex that matches every host by default', () => {
    const body = JSON.stringify(widgets);
    const dashboard = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody;
    const variables = JSON.parse(text(dashboard)).variables;
    expect(variables).toEqual([expect.objectContaining({ type: 'pattern', pattern: 'gpuMaintHost', defaultValue: '.' })]);
    expect(body.match(/result\.host like \/gpuMaintHost\//g)?.length).toBeGreaterThanOrEqual(3);
  });

  test('the header links the runbook sections it names, and each exists in docs/runbook.md', () => {
    const runbook = readFileSync(path.resolve(__dirname, '..', '..', 'docs', 'runbook.md'), 'utf8');
    const header = widgets.find((w) => w.type === 'text' && w.y === 0).properties.markdown as string;
    const anchors = [...header.matchAll(/docs\/runbook\.md#([a-z.-]+)/g)].map((m) => m[1]);
    expect(anchors.length).toBeGreaterThan(0);
    for (const a of anchors) expect(runbook).toContain(`<a id="${a}"></a>`);
  });
});

/** [namespace, metric name] of every metric a widget graphs, including SEARCH expressions. */
function metricsOf(widget: any): [string, string][] {
  const out: [string, string][] = [];
  for (const m of widget.properties.metrics ?? []) {
    const last = m[m.length - 1];
    if (typeof last === 'object' && last.expression) {
      for (const s of (last.expression as string).matchAll(/SEARCH\('\{"?([^",}]+)"?[^}]*\}[^']*MetricName="([^"]+)"/g))
        out.push([s[1], s[2]]);
    } else {
      out.push([m[0], m[1]]);
    }
  }
  return out;
}

describe('metrics: every one the dashboard references is one the code emits', () => {
  test('the dashboard references metrics of our namespace, including the dispatcher’s expected count', () => {
    const ours = widgets.flatMap(metricsOf).filter(([ns]) => ns === config.metrics.namespace);
    expect(ours.length).toBeGreaterThan(20);
    expect(ours.map(([, name]) => name)).toContain('ExpectedResults');
  });

  test('every metric of our namespace is in lambda/core/metric-names.ts', () => {
    const unknown = widgets
      .flatMap(metricsOf)
      .filter(([ns, name]) => ns === config.metrics.namespace && !isMetricName(name))
      .map(([, name]) => name);
    expect(unknown).toEqual([]);
  });

  test('the names module holds each name once', () => {
    expect(METRIC_NAMES.size).toBe([...METRIC_NAMES].length);
    expect([...METRIC_NAMES].every((n) => /^[A-Z][A-Za-z0-9]+$/.test(n))).toBe(true);
  });

  test('host-level readings the evaluators emit are all in the names module', () => {
    const emitted = [evaluated('gpu-check', gpuCheckOutput({ host: 'i-0abc' })), evaluated('cleanup', CLEANUP_DRY_RUN)].flatMap((r) =>
      r.metrics.map((m) => m.name),
    );
    expect(emitted.filter((n) => !isMetricName(n))).toEqual([]);
  });
});

describe('Logs Insights queries parse and read only fields the log lines carry', () => {
  const logWidgets = () => widgets.filter((w) => w.type === 'log');

  /** A field the lines carry; array indexes are any index, readings are keyed by metric name. */
  const fieldCheck = (lines: string[][]) => {
    const known = new Set(lines.flat().map((f) => f.replace(/\.\d+(?=\.|$)/g, '.0')));
    return (name: string) =>
      known.has(name.replace(/\.\d+(?=\.|$)/g, '.0')) ||
      (/^result\.readings\.[A-Za-z0-9]+$/.test(name) && isMetricName(name.split('.')[2]));
  };

  test('the sample log lines carry the fields the tables are about', () => {
    const fields = new Set(collectorLines.flat());
    for (const f of ['message', 'result.host', 'result.task', 'result.critical', 'result.xidSummary', 'result.hottestGpuTemperatureC'])
      expect(fields, f).toContain(f);
  });

  test('every log widget queries a log group whose lines are known here', () => {
    expect(logWidgets().length).toBeGreaterThanOrEqual(7);
    for (const w of logWidgets()) {
      const source = /^SOURCE '([^']+)'/.exec(w.properties.query)?.[1] ?? '';
      expect([...logGroupOf.keys()], w.properties.title).toContain(source);
    }
  });

  test('every query parses, and each field it reads is in the lines of its log group', () => {
    const failures: string[] = [];
    for (const w of logWidgets()) {
      const lines = logGroupOf.get(/^SOURCE '([^']+)'/.exec(w.properties.query)?.[1] ?? '') ?? [];
      try {
        parseQuery(w.properties.query, fieldCheck(lines));
      } catch (e) {
        if (!(e instanceof QueryError)) throw e;
        failures.push(`${w.properties.title}: ${e.message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  test('every field a query reads is within the first 200 fields of the lines that carry it', () => {
    for (const w of logWidgets()) {
      const lines = logGroupOf.get(/^SOURCE '([^']+)'/.exec(w.properties.query)?.[1] ?? '') ?? [];
      const { fieldsRead } = parseQuery(w.properties.query, fieldCheck(lines));
      for (const field of fieldsRead) {
        for (const line of lines) {
          const at = line.indexOf(field);
          if (at >= 0) expect(at, `${w.properties.title}: ${field}`).toBeLessThan(MAX_EXTRACTED_FIELDS);
        }
      }
    }
  });
});

describe('the query checker', () => {
  const fields =
    (...names: string[]) =>
    (n: string) =>
      names.includes(n);

  test.each([
    ['fields a | filter b = 1', 'no field b'],
    ['stats count(*) as n by a | filter a = "x" | sort b desc', 'b is not an output of the earlier stats'],
    ['fields a | filter nosuch(a)', 'unknown function nosuch()'],
    ['fields a | filter max(a) > 1', 'aggregation: only in stats'],
    ['fields a | limit 0', 'limit needs a count'],
    ['fields a | frobnicate a', 'unsupported command frobnicate'],
    ['fields a | filter a like /(/', 'invalid regex'],
    ['fields a | parse a "x * y *" as p', 'has 2 *, but 1 names'],
    ['fields a | sort a desc, @timestamp', 'unexpected ","'],
  ])('%j is refused (%s)', (query, message) => {
    expect(() => parseQuery(query, fields('a'))).toThrow(message);
  });

  test('aliases from fields and parse are in scope for later commands', () => {
    expect(() =>
      parseQuery('fields a as x | parse x "k=*;" as v | filter v = "1" and x like /k/ | sort v desc | limit 5', fields('a')),
    ).not.toThrow();
  });

  test('the fields read are the log fields, not aliases', () => {
    expect([...parseQuery('fields a as x, @timestamp | filter x > 1 | dedup x', fields('a')).fieldsRead].sort()).toEqual([
      '@timestamp',
      'a',
    ]);
  });
});
