/**
 * Cleanup in the stack: the collector's disk-pressure permissions and wiring (only with
 * cleanup.onDiskPressure), the cleanup dashboard row, and alarms listed by Monitoring with exactly one
 * action each. One app, two stacks (trigger on with the alert forwarder, and defaults), cdk-nag
 * registered, one synthesis with Lambda bundling skipped.
 */
import type { CfnElement } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { validateConfig } from '../../lambda/config/load';
import { evaluateCleanup } from '../../lambda/core/cleanup/evaluate';
import { DISK_PRESSURE_ENV, diskPressureWiringSchema } from '../../lambda/core/collect';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { METRICS } from '../../lambda/core/metric-names';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import { CLEANUP_METRICS } from '../../lib/constructs/monitoring';
import type { GpuMaintStack } from '../../lib/gpu-maint-stack';
import { synthWithNag } from '../helpers/cdk';

let synthError: unknown;
let enabled: GpuMaintStack;
let defaults: GpuMaintStack;
let enabledTemplate: Template;
let defaultTemplate: Template;

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
const resources = (t: Template, type: string): Resources => t.findResources(type) as Resources;

/** Renders a CloudFormation value to text: tokens become `ref:<id>` / `getatt:<id>.<attr>`. */
function text(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (v?.Ref) return `ref:${v.Ref}`;
  if (v?.['Fn::GetAtt']) return `getatt:${v['Fn::GetAtt'].join('.')}`;
  if (v?.['Fn::Join']) return (v['Fn::Join'][1] as unknown[]).map(text).join(v['Fn::Join'][0]);
  return 'token';
}

function collectorOf(t: Template): { id: string; props: Record<string, any> } {
  const [id, r] = Object.entries(resources(t, 'AWS::Lambda::Function')).find(
    ([, f]) => f.Properties.Environment?.Variables?.GPU_MAINT_COLLECT,
  )!;
  return { id, props: r.Properties };
}

/** Statements of the policies attached to the collector's role. */
function collectorStatements(t: Template): any[] {
  const roleId = collectorOf(t).props.Role['Fn::GetAtt'][0];
  return Object.values(resources(t, 'AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const actionsOf = (s: any): string[] => [s.Action].flat();
const resourcesOf = (s: any): string[] => [s.Resource].flat().map(text);

function dashboardWidgets(t: Template): any[] {
  const body = Object.values(resources(t, 'AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody;
  return JSON.parse(text(body)).widgets;
}
const widget = (t: Template, title: string) => dashboardWidgets(t).find((w) => w.properties.title === title);

beforeAll(() => {
  const synth = synthWithNag({
    Enabled: {
      fleet: { name: 'prod', tagKey: 'team:fleet' },
      cleanup: { onDiskPressure: true, cooldownHours: 3 },
      alerts: { slack: { webhookSecret: 'gpu-maint/slack-webhook' } },
    },
    Defaults: {},
  });
  ({ Enabled: enabled, Defaults: defaults } = synth.stacks);
  enabledTemplate = synth.templates.Enabled as Template;
  defaultTemplate = synth.templates.Defaults as Template;
  synthError = synth.synthError;
});

describe('cleanup.onDiskPressure', () => {
  test('the stack with the trigger and the alert forwarder has no unacknowledged cdk-nag finding', () => {
    expect(synthError).toBeUndefined();
  });

  test('the collector may send the cleanup document and no other document', () => {
    const cleanupDocument = `ref:${enabled.getLogicalId(enabled.documents.get('cleanup')!.document)}`;
    const documentStatements = collectorStatements(enabledTemplate).filter(
      (s) => actionsOf(s).includes('ssm:SendCommand') && resourcesOf(s).some((r) => r.includes(':document/')),
    );
    expect(documentStatements.flatMap(resourcesOf)).toEqual([expect.stringMatching(new RegExp(`:document/${cleanupDocument}$`))]);
  });

  test('the collector may send only to instances carrying the fleet tag', () => {
    const instanceStatements = collectorStatements(enabledTemplate).filter(
      (s) => actionsOf(s).includes('ssm:SendCommand') && resourcesOf(s).some((r) => r.includes(':instance/')),
    );
    expect(instanceStatements).toHaveLength(1);
    expect(resourcesOf(instanceStatements[0]).map((r) => r.replace(/^.*:(ec2|ssm):/, '$1:'))).toEqual([
      expect.stringMatching(/^ec2:.*:instance\/\*$/),
      expect.stringMatching(/^ssm:.*:managed-instance\/\*$/),
    ]);
    expect(instanceStatements[0].Condition).toEqual({ StringEquals: { 'ssm:resourceTag/team:fleet': 'prod' } });
  });

  test('the collector may put and delete items of the alert state table (the cooldown items)', () => {
    const tableId = Object.keys(resources(enabledTemplate, 'AWS::DynamoDB::Table')).find((id) => id.startsWith('AlertState'))!;
    const statement = collectorStatements(enabledTemplate).find((s) => s.Sid === 'CleanupCooldownItems');
    expect(actionsOf(statement).sort()).toEqual(['dynamodb:DeleteItem', 'dynamodb:PutItem']);
    expect(resourcesOf(statement)).toEqual([`getatt:${tableId}.Arn`]);
  });

  test('the collector receives the trigger settings the collect Lambda reads', () => {
    const raw = text(collectorOf(enabledTemplate).props.Environment.Variables[DISK_PRESSURE_ENV]);
    const parsed = diskPressureWiringSchema.parse(JSON.parse(raw));
    expect(parsed).toMatchObject({
      cooldownHours: 3,
      dryRun: true,
      documentName: `ref:${enabled.getLogicalId(enabled.documents.get('cleanup')!.document)}`,
      deliveryTimeoutSeconds: 7200,
      tableName: expect.stringMatching(/^ref:AlertStateTable/),
    });
    // Command output goes to S3 only unless aws.commandOutputToCloudWatch is on.
    expect(parsed.commandLogGroup).toBeUndefined();
  });

  test('with the trigger off (the default) the collector can send no command and gets no trigger settings', () => {
    expect(collectorStatements(defaultTemplate).filter((s) => actionsOf(s).includes('ssm:SendCommand'))).toEqual([]);
    expect(collectorOf(defaultTemplate).props.Environment.Variables[DISK_PRESSURE_ENV]).toBeUndefined();
  });
});

describe('cleanup dashboard row', () => {
  const metricsOf = (w: any): any[][] => w.properties.metrics;

  test('bytes freed are stacked by category, summed per day for the fleet', () => {
    const graph = widget(defaultTemplate, 'Cleanup: bytes freed (per day, by category)');
    expect(graph.properties.stacked).toBe(true);
    expect(metricsOf(graph).map((m) => m.slice(0, 4))).toEqual(
      CLEANUP_METRICS.bytesFreedByCategory.map((name) => ['GpuFleetMaintenance', name, 'Fleet', 'default']),
    );
    for (const m of metricsOf(graph)) expect(m[4]).toMatchObject({ stat: 'Sum', period: 86400 });
  });

  test.each([
    ['Cleanup: files deleted (7 days)', 'CleanupDeletedFiles', 'Sum', 604800],
    ['Fullest disk after cleanup (% used, worst host)', 'DiskUsedPctAfter', 'Maximum', 86400],
    ['Dry runs: bytes a real cleanup would free (per day)', 'BytesReclaimable', 'Sum', 86400],
  ])('"%s" shows %s (%s over %d s)', (title, name, stat, period) => {
    const [metric] = metricsOf(widget(defaultTemplate, title));
    expect(metric).toEqual(['GpuFleetMaintenance', name, 'Fleet', 'default', expect.objectContaining({ stat, period })]);
  });

  test('files deleted is a single number', () => {
    expect(widget(defaultTemplate, 'Cleanup: files deleted (7 days)')).toMatchObject({
      type: 'metric',
      properties: { view: 'singleValue' },
    });
  });

  test('the dashboard graphs the names the cleanup evaluator emits', () => {
    const settings = evaluationSettings(validateConfig({}));
    const emitted = new Set<string>();
    for (const dryRun of [false, true]) {
      const stdout = [
        '@@gpu-maint v1 begin task=cleanup host=i-0abc at=2026-11-29T03:00:00Z',
        '@@gpu-maint section cleanup-config',
        `dry_run=${dryRun}`,
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
      const result = evaluateTaskOutput(
        { task: 'cleanup', stdout, exitCode: 0 },
        evaluateCleanup,
        settings,
        new Date('2026-11-29T03:00:00Z'),
      );
      for (const m of result.metrics) emitted.add(m.name);
    }
    const graphed = [
      ...CLEANUP_METRICS.bytesFreedByCategory,
      METRICS.CleanupDeletedFiles,
      METRICS.DiskUsedPctAfter,
      METRICS.BytesReclaimable,
    ];
    expect(graphed.filter((name) => !emitted.has(name))).toEqual([]);
  });

  test('the largest cleanups are a Logs Insights table over the collector log', () => {
    const table = widget(defaultTemplate, 'Largest cleanups (dry runs: what a real run would free)');
    expect(table.type).toBe('log');
    expect(table.properties.query).toMatch(/^SOURCE 'ref:CollectHandlerLogs[A-Za-z0-9]+' \| fields /);
    expect(table.properties.query).toContain(
      '\n| filter message = "task result" and result.task = "cleanup"\n| sort bytes desc\n| limit 20',
    );
  });

  test('failed logrotate association runs are graphed from its rule', () => {
    const [metric] = metricsOf(widget(defaultTemplate, 'Log rotation: failed association runs (per day)'));
    expect(metric.slice(0, 3)).toEqual(['AWS/Events', 'TriggeredRules', 'RuleName']);
    const rule = defaults.logrotate!.failedRunsRule;
    expect(metric[3]).toBe(`ref:${defaults.getLogicalId(rule.node.defaultChild as CfnElement)}`);
  });
});

describe('alarms of the alert sweep and forwarder', () => {
  const alarms = () => Object.entries(resources(enabledTemplate, 'AWS::CloudWatch::Alarm'));

  test('every alarm has exactly one ALARM and one OK action, to the pipeline topic', () => {
    expect(alarms().some(([id]) => id.startsWith('AlertSweep'))).toBe(true);
    expect(alarms().filter(([id]) => id.startsWith('AlertForwarder'))).toHaveLength(2);
    for (const [id, a] of alarms()) {
      expect(a.Properties.AlarmActions, id).toEqual([{ Ref: expect.stringMatching(/^AlertsPipelineTopic/) }]);
      expect(a.Properties.OKActions, id).toEqual(a.Properties.AlarmActions);
    }
  });

  test('the alarm status widget lists the sweep and forwarder alarms', () => {
    const listed: string[] = dashboardWidgets(enabledTemplate).find((w) => w.properties.title === 'Alarms: pipeline and fleet').properties
      .alarms;
    for (const [id] of alarms().filter(([alarmId]) => /^Alert(Sweep|Forwarder)/.test(alarmId)))
      expect(listed).toContain(`getatt:${id}.Arn`);
  });
});
