/**
 * Template assertions on the whole stack, one behaviour per test. The stack is synthesized once, with
 * Lambda bundling skipped (bundling is exercised by test/cdk/nag.test.ts).
 */

import { gunzipSync } from 'node:zlib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../bin/app';
import type { ConfigInput } from '../../lambda/config/schema';
import { evaluationSettingsSchema } from '../../lambda/core/collect';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { METRICS } from '../../lambda/core/metric-names';
import type { TaskName } from '../../lambda/core/types';
import { TASKS, taskDefinition } from '../../lambda/tasks/registry';
import { bundleTaskScript } from '../../lambda/tasks/scripts';
import type { GpuMaintStack } from '../../lib/gpu-maint-stack';
import { gpuMaintStack } from '../helpers/cdk';
import { documentContent } from '../helpers/documents';
import { cdkOutdir } from '../helpers/temp';

const CONFIG: ConfigInput = {
  fleet: { name: 'prod', tagKey: 'team:fleet' },
  timeZone: 'Europe/Berlin',
  healthCheck: { schedule: { expression: 'rate(15 minutes)', flexibleWindowMinutes: 5 } },
  cleanup: { schedule: { expression: 'cron(0 3 ? * SUN *)', enabled: false } },
  alerts: { emails: [{ address: 'ops@example.com' }, { address: 'oncall@example.com', minSeverity: 'critical' }] },
  aws: { logRetentionDays: 14, maxConcurrency: '25%', maxErrors: '5' },
};

let template: Template;
let config: ReturnType<typeof buildApp>['config'];
let stack: GpuMaintStack;
let gpuDetailTemplate: Template;
let shardedTemplate: Template;

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
const resources = (t: Template, type: string): Resources => t.findResources(type) as Resources;

/** Task → this stack's document (logical id, name, content), from each document's description. */
function documentsByTask(t: Template): Map<string, { id: string; name: string; content: any }> {
  const out = new Map<string, { id: string; name: string; content: any }>();
  for (const [id, r] of Object.entries(resources(t, 'AWS::SSM::Document'))) {
    const content = documentContent(r.Properties.Content);
    const task = /^gpu-maint ([a-z-]+) /.exec(content.description ?? '')?.[1];
    if (task) out.set(task, { id, name: r.Properties.Name, content });
  }
  return out;
}

const scriptOf = (content: any): string => `${content.mainSteps[0].inputs.runCommand.join('\n')}\n`;

function functionByEnv(t: Template, variable: string): { id: string; props: Record<string, any> } {
  const [id, r] = Object.entries(resources(t, 'AWS::Lambda::Function')).find(([, f]) => f.Properties.Environment?.Variables?.[variable])!;
  return { id, props: r.Properties };
}

/** Statements of the policies attached to a Lambda's role. */
function statementsOf(t: Template, functionId: string): any[] {
  const roleId = resources(t, 'AWS::Lambda::Function')[functionId].Properties.Role['Fn::GetAtt'][0];
  return Object.values(resources(t, 'AWS::IAM::Policy'))
    .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

beforeAll(() => {
  const built = buildApp({ outdir: cdkOutdir(), context: { 'aws:cdk:bundling-stacks': [], gpuMaint: CONFIG }, nag: false });
  config = built.config;
  stack = built.stack;
  // A second stack in the same app (one synthesis): default config with per-GPU metrics.
  const gpuDetail = gpuMaintStack({ metrics: { detail: 'gpu' } }, { app: built.app, id: 'GpuDetail' });
  // A third: a large fleet in 4 schedule shards, with more collectors.
  const sharded = gpuMaintStack(
    { fleet: { name: 'big', shards: 4 }, aws: { collectorMaxConcurrency: 50 } },
    { app: built.app, id: 'Sharded' },
  );
  template = Template.fromStack(built.stack);
  gpuDetailTemplate = Template.fromStack(gpuDetail);
  shardedTemplate = Template.fromStack(sharded);
});

describe('SSM documents', () => {
  test('every registered task has one document', () => {
    expect([...documentsByTask(template).keys()].sort()).toEqual([...TASKS.keys()].sort());
  });

  test.each([...TASKS.values()].map((d) => [d.name, d.script]))(
    'the %s document carries the bundled script byte for byte',
    (task, script) => {
      const text = scriptOf(documentsByTask(template).get(task)!.content);
      const compressed =
        /base64 -d <<'GPU_MAINT_BUNDLE_EOF' \| gzip -dc >"\$\{gpu_maint_script\}"\n([A-Za-z0-9+/=\n]+?)\nGPU_MAINT_BUNDLE_EOF\n/.exec(text);
      if (compressed) expect(gunzipSync(Buffer.from(compressed[1], 'base64')).toString('utf8')).toBe(bundleTaskScript(script));
      else expect(text).toContain(`<<'GPU_MAINT_BUNDLE_EOF'\n${bundleTaskScript(script)}GPU_MAINT_BUNDLE_EOF\n`);
    },
  );

  test('scripts that fit carry as text, readable in the SSM console; the larger ones compressed', () => {
    const encoding = (task: string) =>
      scriptOf(documentsByTask(template).get(task)!.content).includes("base64 -d <<'GPU_MAINT_BUNDLE_EOF'") ? 'gzip-base64' : 'text';
    expect(encoding('gpu-check')).toBe('text');
    expect(encoding('health-check')).toBe('text');
    expect(encoding('backup')).toBe('gzip-base64');
  });

  test('every document script starts with a bash shebang', () => {
    for (const { content } of documentsByTask(template).values())
      expect(content.mainSteps[0].inputs.runCommand[0]).toBe('#!/usr/bin/env bash');
  });

  test('every parameter has an anchored allowedPattern that its default matches', () => {
    for (const [task, { content }] of documentsByTask(template)) {
      const declared = taskDefinition(task).parameters;
      expect(Object.keys(content.parameters ?? {}).sort()).toEqual(declared.map((p) => p.name).sort());
      for (const [name, p] of Object.entries<any>(content.parameters ?? {})) {
        expect(p.allowedPattern, `${task} ${name}`).toMatch(/^\^.*\$$/);
        // Defaults the stack sets from its resources (the backup bucket) are CloudFormation expressions.
        if (typeof p.default === 'string') expect(p.default, `${task} ${name}`).toMatch(new RegExp(p.allowedPattern));
        else expect(`${task} ${name}`).toMatch(/^(backup|restore-test|restore) Destination$/);
      }
    }
  });

  test('each parameter reaches the script as its GPU_MAINT_* variable', () => {
    for (const [task, { content }] of documentsByTask(template)) {
      for (const p of taskDefinition(task).parameters) {
        expect(content.mainSteps[0].inputs.runCommand).toContain(`export ${p.env}='{{ ${p.name} }}'`);
      }
    }
  });

  test('parameter defaults come from the config', () => {
    const { content } = documentsByTask(template).get('health-check')!;
    const mounts = taskDefinition('health-check').parameters.find((p) => p.env === 'GPU_MAINT_MOUNTS')!;
    expect(content.parameters[mounts.name].default).toBe(mounts.fromConfig(config));
  });

  test.each([...TASKS.values()].map((d) => [d.name, d.limits.executionSeconds]))(
    '%s may run on a host for its registry limit, %i seconds',
    (task, seconds) => {
      expect(documentsByTask(template).get(task)!.content.mainSteps[0].inputs.timeoutSeconds).toBe(seconds);
    },
  );

  test.each([...TASKS.values()].map((d) => [d.name, d.limits.deliverySeconds]))(
    '%s commands wait for delivery for its registry limit, %i seconds',
    (task, seconds) => {
      expect(stack.documents.get(task as TaskName)!.deliveryTimeoutSeconds).toBe(seconds);
    },
  );
});

describe('schedules', () => {
  const scheduleOf = (task: string) =>
    Object.values(resources(template, 'AWS::Scheduler::Schedule')).find((s) => JSON.parse(s.Properties.Target.Input ?? '{}').task === task)
      ?.Properties;

  test('one dispatch schedule per task that has a schedule in the config', () => {
    const dispatchId = functionByEnv(template, 'GPU_MAINT_DISPATCH').id;
    const dispatching = Object.values(resources(template, 'AWS::Scheduler::Schedule')).filter(
      (s) => s.Properties.Target.Arn['Fn::GetAtt']?.[0] === dispatchId,
    );
    const tasks = dispatching.map((s) => JSON.parse(s.Properties.Target.Input ?? '{}').task).sort();
    expect(tasks).toEqual(
      [...TASKS.values()]
        .filter((t) => t.schedule)
        .map((t) => t.name)
        .sort(),
    );
  });

  test('with fleet.shards, each sharded task has one schedule per shard, staggered over its period', () => {
    const inputs = Object.values(resources(shardedTemplate, 'AWS::Scheduler::Schedule'))
      .map((s) => ({ input: JSON.parse(s.Properties.Target.Input ?? '{}'), expression: s.Properties.ScheduleExpression }))
      .filter((s) => s.input.task === 'gpu-check' || s.input.task === 'backup');
    expect(inputs.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { input: { task: 'backup' }, expression: 'cron(0 2 * * ? *)' },
      { input: { task: 'gpu-check', shard: 0 }, expression: 'cron(0/5 * * * ? *)' },
      { input: { task: 'gpu-check', shard: 1 }, expression: 'cron(1/5 * * * ? *)' },
      { input: { task: 'gpu-check', shard: 2 }, expression: 'cron(2/5 * * * ? *)' },
      { input: { task: 'gpu-check', shard: 3 }, expression: 'cron(3/5 * * * ? *)' },
    ]);
  });

  test('with fleet.shards, the dispatcher knows the shard tag and count', () => {
    const env = functionByEnv(shardedTemplate, 'GPU_MAINT_DISPATCH').props.Environment.Variables.GPU_MAINT_DISPATCH;
    expect(JSON.stringify(env)).toContain('\\"shards\\":{\\"tagKey\\":\\"gpu-maint:shard\\",\\"count\\":4}');
  });

  test('a schedule fires its expression in the configured time zone', () => {
    expect(scheduleOf('gpu-check')).toMatchObject({
      ScheduleExpression: 'rate(5 minutes)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      State: 'ENABLED',
    });
  });

  test('a flexible window from the config spreads the schedule', () => {
    expect(scheduleOf('health-check')?.FlexibleTimeWindow).toEqual({ Mode: 'FLEXIBLE', MaximumWindowInMinutes: 5 });
    expect(scheduleOf('gpu-check')?.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
  });

  test('a disabled schedule is deployed disabled', () => {
    expect(scheduleOf('cleanup')?.State).toBe('DISABLED');
  });

  test('failed invocations are retried, then go to the schedule dead-letter queue', () => {
    const target = scheduleOf('gpu-check')?.Target;
    expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 1800 });
    const dlqId = target.DeadLetterConfig.Arn['Fn::GetAtt'][0];
    expect(dlqId).toMatch(/^SchedulesDeadLetterQueue/);
  });

  test("every schedule has a dead-letter queue, the sweep's included", () => {
    const schedules = Object.values(resources(template, 'AWS::Scheduler::Schedule'));
    expect(schedules.length).toBeGreaterThan(3);
    for (const s of schedules) expect(s.Properties.Target.DeadLetterConfig?.Arn['Fn::GetAtt'][0]).toMatch(/^SchedulesDeadLetterQueue/);
  });

  test('every scheduled function retries at most once, drops events older than an hour, and sends failures to the schedule DLQ', () => {
    const targets = new Set(
      Object.values(resources(template, 'AWS::Scheduler::Schedule')).map((s) => s.Properties.Target.Arn['Fn::GetAtt'][0]),
    );
    expect(targets.size).toBe(3); // dispatch, prune, sweep
    const configs = Object.values(resources(template, 'AWS::Lambda::EventInvokeConfig'));
    for (const fn of targets) {
      const config = configs.find((c) => c.Properties.FunctionName.Ref === fn)?.Properties;
      expect(config, fn).toBeDefined();
      expect(config!.MaximumRetryAttempts).toBeLessThanOrEqual(1);
      expect(config!.MaximumEventAgeInSeconds).toBeLessThanOrEqual(3600);
      expect(config!.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0]).toMatch(/^SchedulesDeadLetterQueue/);
    }
  });

  test('the target is the dispatch Lambda with {"task": ...}, invoked through the schedule\'s own role', () => {
    const target = scheduleOf('gpu-check')?.Target;
    expect(target.Arn['Fn::GetAtt'][0]).toBe(functionByEnv(template, 'GPU_MAINT_DISPATCH').id);
    expect(JSON.parse(target.Input)).toEqual({ task: 'gpu-check' });
    expect(target.RoleArn['Fn::GetAtt'][0]).toMatch(/^GpuCheckScheduleRole/);
  });
});

describe('result path', () => {
  const invocationRule = () =>
    Object.values(resources(template, 'AWS::Events::Rule')).find(
      (r) => r.Properties.EventPattern['detail-type']?.[0] === 'EC2 Command Invocation Status-change Notification',
    )!;

  test('the rule matches finished invocations of every document of this stack, old versions included', () => {
    const rule = invocationRule();
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.ssm'],
      'detail-type': ['EC2 Command Invocation Status-change Notification'],
      detail: {
        'document-name': [{ prefix: 'gpu-maint.GpuMaint.' }],
        status: ['Success', 'Failed', 'TimedOut', 'Cancelled', 'Undeliverable', 'DeliveryTimedOut', 'ExecutionTimedOut', 'Terminated'],
      },
    });
  });

  test('documents are named <prefix><task>.<content hash>, so a changed script gets a new name', () => {
    for (const [task, { name }] of documentsByTask(template))
      expect(name).toMatch(new RegExp(`^gpu-maint\\.GpuMaint\\.${task}\\.[0-9a-f]{12}$`));
  });

  test('the rule delivers to the results queue, with the dead-letter queue for failed deliveries', () => {
    const rule = invocationRule();
    expect(rule.Properties.Targets[0].Arn['Fn::GetAtt'][0]).toMatch(/^CollectQueue/);
    expect(rule.Properties.Targets[0].DeadLetterConfig.Arn['Fn::GetAtt'][0]).toMatch(/^CollectDeadLetterQueue/);
  });

  test('the results queue hides a message six times the Lambda timeout plus the batching window', () => {
    const { props } = functionByEnv(template, 'GPU_MAINT_COLLECT');
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 6 * props.Timeout + 10,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CollectDeadLetterQueue'), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
  });

  test('the collect Lambda reads the queue in batches and reports partial batch failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionByEnv(template, 'GPU_MAINT_COLLECT').id },
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  test('aws.collectorMaxConcurrency sets the concurrency of the collect event source', () => {
    shardedTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionByEnv(shardedTemplate, 'GPU_MAINT_COLLECT').id },
      ScalingConfig: { MaximumConcurrency: 50 },
    });
  });

  test("the collect Lambda's wiring carries the event source's concurrency, the containers its call budget is split over", () => {
    const wiring = functionByEnv(shardedTemplate, 'GPU_MAINT_COLLECT').props.Environment.Variables.GPU_MAINT_COLLECT;
    // A JSON document with tokens (bucket name, topic ARN): its literal parts carry the number.
    expect(JSON.stringify(wiring)).toContain('\\"maxConcurrency\\":50');
  });

  test('the collect Lambda gets the evaluation settings of the config as one JSON variable', () => {
    const raw = functionByEnv(template, 'GPU_MAINT_COLLECT').props.Environment.Variables.GPU_MAINT_SETTINGS;
    expect(typeof raw).toBe('string');
    expect(evaluationSettingsSchema.parse(JSON.parse(raw))).toEqual(JSON.parse(JSON.stringify(evaluationSettings(config))));
  });
});

describe('least privilege', () => {
  test("dispatch may send only this stack's documents", () => {
    const statements = statementsOf(template, functionByEnv(template, 'GPU_MAINT_DISPATCH').id);
    const documentStatement = statements.find((s) => s.Sid === 'SendThisStacksDocuments');
    const resources = JSON.stringify(documentStatement.Resource);
    expect(resources).not.toContain('document/*');
    // By Ref: the policy then depends on the document (a literal name would not).
    for (const { id } of documentsByTask(template).values()) expect(resources).toContain(`{"Ref":"${id}"}`);
    expect(documentStatement.Resource).toHaveLength(documentsByTask(template).size);
  });

  /** The dispatch settings entry of a task: the text after its document Ref, up to the entry's end. */
  const dispatchEntry = (t: Template, task: string): string => {
    const env = JSON.stringify(functionByEnv(t, 'GPU_MAINT_DISPATCH').props.Environment.Variables.GPU_MAINT_DISPATCH);
    const after = env.slice(env.indexOf(`{"Ref":"${documentsByTask(t).get(task)!.id}"}`));
    return after.slice(0, after.indexOf('}', after.indexOf('}') + 1)).replace(/\\/g, '');
  };

  test.each([
    ['gpu-check', 240, '25%', '100%'],
    ['backup', 21600, '25%', '10%'],
  ])('by default dispatch sends %s with its own delivery timeout %is, MaxConcurrency %s and MaxErrors %s', (task, timeout, c, e) => {
    expect(dispatchEntry(gpuDetailTemplate, task)).toContain(
      `"deliveryTimeoutSeconds":${timeout},"maxConcurrency":"${c}","maxErrors":"${e}"`,
    );
  });

  test('aws.maxConcurrency and aws.maxErrors apply to every task', () => {
    expect(dispatchEntry(template, 'backup')).toContain('"deliveryTimeoutSeconds":21600,"maxConcurrency":"25%","maxErrors":"5"');
  });

  test('dispatch may send only to instances carrying the fleet tag', () => {
    const statements = statementsOf(template, functionByEnv(template, 'GPU_MAINT_DISPATCH').id);
    const instances = statements.find((s) => s.Sid === 'SendToFleetInstancesOnly');
    expect(instances.Action).toBe('ssm:SendCommand');
    expect(instances.Condition).toEqual({ StringEquals: { 'ssm:resourceTag/team:fleet': 'prod' } });
    expect(JSON.stringify(instances.Resource)).toMatch(/:instance\/\*.*:managed-instance\/\*/);
    const unconditioned = statements.filter((s) => [s.Action].flat().includes('ssm:SendCommand') && !s.Condition);
    expect(JSON.stringify(unconditioned)).not.toContain('instance/');
  });

  test('collect reads only invocations from SSM and only command output from S3', () => {
    const statements = statementsOf(template, functionByEnv(template, 'GPU_MAINT_COLLECT').id);
    const actionsOf = (prefix: string) => statements.flatMap((s) => [s.Action].flat()).filter((a: string) => a.startsWith(prefix));
    expect(actionsOf('ssm:')).toEqual(['ssm:GetCommandInvocation']);
    expect(actionsOf('s3:')).toEqual(['s3:GetObject']);
    const get = statements.find((s) => s.Action === 's3:GetObject');
    expect(JSON.stringify(get.Resource)).toMatch(/\/command-output\/\*"\]\]\}$/);
  });

  test('collect publishes only to the alert topic and puts metrics only in its namespace', () => {
    const statements = statementsOf(template, functionByEnv(template, 'GPU_MAINT_COLLECT').id);
    for (const s of statements.filter((x) => [x.Action].flat().includes('sns:Publish'))) {
      expect(s.Resource).toEqual({ Ref: expect.stringMatching(/^AlertsTopic/) });
    }
    expect(statements.find((s) => s.Action === 'cloudwatch:PutMetricData').Condition).toEqual({
      StringEquals: { 'cloudwatch:namespace': 'GpuFleetMaintenance' },
    });
  });

  test('collect receives only from its own queues (results, and the kernel-log watcher’s events)', () => {
    const statements = statementsOf(template, functionByEnv(template, 'GPU_MAINT_COLLECT').id);
    const sqs = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('sqs:')));
    expect(sqs.map((s) => s.Resource)).toEqual([
      { 'Fn::GetAtt': [expect.stringMatching(/^CollectQueue/), 'Arn'] },
      { 'Fn::GetAtt': [expect.stringMatching(/^WatcherQueue/), 'Arn'] },
    ]);
  });

  test('no Lambda policy grants a whole service', () => {
    for (const [id] of Object.entries(resources(template, 'AWS::Lambda::Function'))) {
      for (const s of statementsOf(template, id)) for (const a of [s.Action].flat()) expect(a, id).not.toMatch(/(^\*$|:\*$)/);
    }
  });

  test('the instance policy lets hosts write output only under the output prefix', () => {
    const [policy] = Object.values(resources(template, 'AWS::IAM::ManagedPolicy'));
    const write = policy.Properties.PolicyDocument.Statement.find((s: any) => s.Sid === 'WriteCommandOutput');
    expect(write.Action).toEqual(['s3:PutObject', 's3:PutObjectAcl']);
    expect(JSON.stringify(write.Resource)).toMatch(/\/command-output\/\*"\]\]\}$/);
  });

  test('the output bucket and the alert topic refuse requests without TLS', () => {
    for (const type of ['AWS::S3::BucketPolicy', 'AWS::SNS::TopicPolicy']) {
      const [policy] = Object.values(resources(template, type));
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('Lambdas', () => {
  test('run nodejs22.x on arm64', () => {
    for (const f of Object.values(resources(template, 'AWS::Lambda::Function'))) {
      expect(f.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
    }
  });

  test('log to their own log groups with the configured retention', () => {
    const groups = resources(template, 'AWS::Logs::LogGroup');
    for (const f of Object.values(resources(template, 'AWS::Lambda::Function'))) {
      const group = groups[f.Properties.LoggingConfig.LogGroup.Ref];
      expect(group.Properties.RetentionInDays).toBe(14);
    }
  });
});

describe('alerts', () => {
  test('a warning subscriber gets every host alert; a critical one gets critical host alerts', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: Match.stringLikeRegexp('^AlertsTopic') },
      FilterPolicy: Match.absent(),
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: Match.stringLikeRegexp('^AlertsTopic') },
      FilterPolicy: { severity: ['critical'] },
    });
  });

  test('every pipeline alarm notifies the unfiltered pipeline topic', () => {
    const pipeline = Object.keys(resources(template, 'AWS::SNS::Topic')).find((id) => id.startsWith('AlertsPipelineTopic'))!;
    const alarms = Object.values(resources(template, 'AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThan(5);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([{ Ref: pipeline }]);
    const filtered = Object.values(resources(template, 'AWS::SNS::Subscription')).filter(
      (s) => s.Properties.TopicArn.Ref === pipeline && s.Properties.FilterPolicy,
    );
    expect(filtered).toEqual([]);
  });
});

describe('dashboard', () => {
  const body = (t: Template) => JSON.stringify(Object.values(resources(t, 'AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);

  test.each(['GpuTemperatureMax', 'GpusUnhealthy', 'ResultsReported', 'XidEvents', 'DiskUsedPctMax', 'MemoryAvailablePct', 'LoadPerCpu'])(
    'the fleet overview graphs %s',
    (name) => {
      expect(body(template)).toContain(`\\"${name}\\"`);
    },
  );

  test('fleet graphs draw the configured warning and critical levels', () => {
    expect(body(template)).toContain('\\"label\\":\\"warning 83 °C\\"');
    expect(body(template)).toContain('\\"label\\":\\"critical 90 °C\\"');
  });

  test.each([['Hottest GPUs'], ['Hosts with a critical or warning finding now'], ['Latest Xid errors']])(
    'the Logs Insights table "%s" queries the collector log',
    (title) => {
      const b = body(template);
      expect(b).toContain(`\\"title\\":\\"${title}`);
      expect(b).toMatch(/SOURCE '",\{"Ref":"CollectHandlerLogs/);
    },
  );

  test('with fleet detail there are no per-instance SEARCH graphs', () => {
    expect(body(template)).not.toContain('Fleet,InstanceId}');
  });

  test('with gpu detail, SEARCH graphs show each instance and each GPU', () => {
    const b = body(gpuDetailTemplate);
    expect(b).toContain(
      'SEARCH(\'{\\\\\\"GpuFleetMaintenance\\\\\\",Fleet,InstanceId} Fleet=\\\\\\"default\\\\\\" MetricName=\\\\\\"GpuTemperatureMax\\\\\\"',
    );
    expect(b).toContain('Fleet,InstanceId,Gpu} Fleet=\\\\\\"default\\\\\\" MetricName=\\\\\\"GpuTemperature\\\\\\"');
  });

  test('pipeline health shows both Lambdas, the results queue and the schedules', () => {
    const b = body(template);
    for (const title of [
      'dispatch Lambda: errors',
      'collect Lambda: errors',
      'Results queue: oldest message age',
      'Schedules: target errors',
    ])
      expect(b).toContain(title);
  });
});

describe('alarms', () => {
  const alarms = () => Object.values(resources(template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);

  test('every alarm notifies the pipeline topic and states what missing data means', () => {
    expect(alarms().length).toBeGreaterThan(0);
    for (const a of alarms()) {
      expect(a.AlarmActions, a.AlarmName).toEqual([{ Ref: expect.stringMatching(/^AlertsPipelineTopic/) }]);
      expect(a.OKActions, a.AlarmName).toEqual(a.AlarmActions);
      expect(['breaching', 'notBreaching', 'ignore', 'missing'], a.AlarmName).toContain(a.TreatMissingData);
    }
  });

  test.each(['gpu-check', 'health-check'])(
    '%s coverage below 80 %% of the dispatched instances is critical, and silence is breaching',
    (task) => {
      const alarm = alarms().find((a) => a.AlarmName === `GpuMaint-${task}-coverage`);
      expect(alarm).toMatchObject({
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 0.8,
        EvaluationPeriods: 2,
        TreatMissingData: 'breaching',
      });
      const byId = Object.fromEntries((alarm?.Metrics ?? []).map((m: { Id: string }) => [m.Id, m]));
      expect(byId.reported.MetricStat.Metric).toMatchObject({
        MetricName: 'ResultsReported',
        Dimensions: expect.arrayContaining([{ Name: 'Task', Value: task }]),
      });
      expect(byId.expected.MetricStat.Metric).toMatchObject({ MetricName: 'ExpectedResults' });
    },
  );

  test('the dispatcher streams no command output to CloudWatch Logs unless asked', () => {
    // The variable is a JSON string joined with references (bucket name), so it is read as text.
    const settings = JSON.stringify(functionByEnv(template, 'GPU_MAINT_DISPATCH').props.Environment.Variables.GPU_MAINT_DISPATCH);
    expect(settings).not.toContain('commandLogGroup');
    expect(settings).toContain('metricsNamespace');
  });

  test.each(['dispatch-errors', 'collect-errors', 'results-queue-age'])('%s has a warning and a critical alarm', (slug) => {
    const names = alarms().map((a) => a.AlarmName);
    expect(names).toContain(`GpuMaint-${slug}-warning`);
    expect(names).toContain(`GpuMaint-${slug}-critical`);
  });

  test.each(['results-dlq-not-empty', 'schedule-dlq-not-empty', 'schedule-dropped-critical', 'schedule-target-errors-warning'])(
    'the %s alarm exists',
    (name) => {
      expect(alarms().map((a) => a.AlarmName)).toContain(`GpuMaint-${name}`);
    },
  );

  test('the alarm status widget lists every alarm', () => {
    const body = JSON.stringify(Object.values(resources(template, 'AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    const listed = body.match(/"Fn::GetAtt\\?":\[\\?"[A-Za-z0-9]+Alarm[A-Za-z0-9]*/g) ?? [];
    expect(new Set(listed).size).toBe(alarms().length);
  });
});

describe('outputs', () => {
  test.each([
    'DispatchFunctionName',
    'AlertTopicArn',
    'OutputBucketName',
    'InstancePolicyArn',
    'FleetTag',
    'DashboardName',
    'DashboardUrl',
  ])('the stack outputs %s', (name) => {
    template.hasOutput(name, {});
  });

  test('the fleet tag output names the tag instances must carry', () => {
    template.hasOutput('FleetTag', { Value: 'team:fleet=prod' });
  });
});

describe('metric names', () => {
  const emitted = new Set<string>(Object.values(METRICS));

  test('every metric of the fleet namespace the dashboard reads is one the code emits', () => {
    const bodies = JSON.stringify(Object.values(resources(template, 'AWS::CloudWatch::Dashboard')).map((d) => d.Properties.DashboardBody));
    const ns = config.metrics.namespace;
    // Metric widgets name [namespace, metric, ...]; SEARCH expressions name MetricName="...".
    const read = [
      ...[...bodies.matchAll(new RegExp(`\\\\"${ns}\\\\",\\\\"([A-Za-z]+)\\\\"`, 'g'))].map((m) => m[1]),
      ...[...bodies.matchAll(/MetricName=\\\\\\"([A-Za-z]+)\\\\\\"/g)].map((m) => m[1]),
    ];
    expect(read.length).toBeGreaterThan(5);
    expect(read.filter((name) => !emitted.has(name))).toEqual([]);
  });

  test('every alarm on the fleet namespace watches a metric the code emits', () => {
    const names = Object.values(resources(template, 'AWS::CloudWatch::Alarm'))
      .flatMap((a) => [a.Properties, ...(a.Properties.Metrics ?? []).map((m: any) => m.MetricStat?.Metric ?? {})])
      .filter((m) => m.Namespace === config.metrics.namespace)
      .map((m) => m.MetricName as string);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !emitted.has(name))).toEqual([]);
  });
});
