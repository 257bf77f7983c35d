/** Remediation's AWS adapters against mocked SDK clients: ledger races, host facts, which runbook runs. */
import { ConditionalCheckFailedException, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient, StartAutomationExecutionCommand } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, test } from 'vitest';
import { AutomationExecutor, Ec2HostFacts } from '../../lambda/adapters/aws/remediation-aws';
import { DynamoDbLedgerStore } from '../../lambda/adapters/aws/remediation-store-dynamodb';
import { emptyLedger, type RemediationAction, type ReplaceMethod } from '../../lambda/core/remediation/model';
import { type ActDecision, LedgerConflictError } from '../../lambda/core/remediation/run';
import { cause, settingsFor } from './helpers';

const dynamodb = mockClient(DynamoDBClient);
const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
afterEach(() => {
  dynamodb.reset();
  ec2.reset();
  ssm.reset();
});

describe('DynamoDbLedgerStore', () => {
  test('a save that lost the race is a LedgerConflictError', async () => {
    dynamodb.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: 'no', $metadata: {} }));
    const store = new DynamoDbLedgerStore(new DynamoDBClient({}), 't');
    await expect(store.save({ ...emptyLedger(), version: 3 }, { ...emptyLedger(), version: 4 })).rejects.toBeInstanceOf(
      LedgerConflictError,
    );
  });

  test('a save is conditional on the version loaded', async () => {
    dynamodb.on(PutItemCommand).resolves({});
    await new DynamoDbLedgerStore(new DynamoDBClient({}), 't').save({ ...emptyLedger(), version: 3 }, { ...emptyLedger(), version: 4 });
    const input = dynamodb.commandCalls(PutItemCommand)[0].args[0].input;
    expect([input.ConditionExpression, input.ExpressionAttributeValues?.[':v']]).toEqual(['#v = :v', { N: '3' }]);
  });
});

describe('Ec2HostFacts', () => {
  test('maps tags, root device and lifecycle to exclusion and how the host can be replaced', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-00000000000000001',
              State: { Name: 'running' },
              RootDeviceType: 'ebs',
              Tags: [{ Key: 'aws:autoscaling:groupName', Value: 'g' }],
            },
            { InstanceId: 'i-00000000000000002', State: { Name: 'running' }, RootDeviceType: 'ebs' },
            { InstanceId: 'i-00000000000000003', State: { Name: 'running' }, RootDeviceType: 'ebs', InstanceLifecycle: 'spot' },
            {
              InstanceId: 'i-00000000000000004',
              State: { Name: 'running' },
              RootDeviceType: 'ebs',
              Tags: [{ Key: 'gpu-maint:no-remediation', Value: '' }],
            },
            { InstanceId: 'i-00000000000000005', State: { Name: 'terminated' }, RootDeviceType: 'ebs' },
          ],
        },
      ],
    });
    const facts = await new Ec2HostFacts(new EC2Client({}), 'gpu-maint:no-remediation').facts([
      'i-00000000000000001',
      'mi-0123456789abcdef0',
    ]);
    expect(Object.fromEntries(facts)).toEqual({
      'i-00000000000000001': { exists: true, excluded: false, replaceBy: 'asg' },
      'i-00000000000000002': { exists: true, excluded: false, replaceBy: 'stop-start' },
      'i-00000000000000003': { exists: true, excluded: false, replaceBy: null },
      'i-00000000000000004': { exists: true, excluded: true, replaceBy: 'stop-start' },
      'i-00000000000000005': { exists: false, excluded: false, replaceBy: 'stop-start' },
    });
  });

  test('hybrid nodes are not looked up in EC2', async () => {
    ec2.on(DescribeInstancesCommand).resolves({});
    await new Ec2HostFacts(new EC2Client({}), 'x').facts(['mi-0123456789abcdef0']);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
  });
});

describe('AutomationExecutor', () => {
  const wiring = {
    documents: { tag: 'd-tag', notifyScheduler: 'd-notify', reboot: 'd-reboot', replaceAsg: 'd-asg', stopStart: 'd-stop-start' },
    automationRoleArn: 'arn:aws:iam::123456789012:role/runbooks',
    namespace: 'N',
  };
  const decision = (action: RemediationAction, replaceBy?: ReplaceMethod): ActDecision => ({
    kind: 'act',
    host: 'i-00000000000000001',
    action,
    cause: cause('xid-79', 0, { gpu: 5 }),
    dryRun: false,
    recordId: 'i-00000000000000001/2026-11-28T00:05:00.000Z',
    ...(replaceBy ? { replaceBy } : {}),
  });

  test.each([
    ['tag', undefined, 'd-tag'],
    ['notify-scheduler', undefined, 'd-notify'],
    ['reboot', undefined, 'd-reboot'],
    ['replace', 'asg', 'd-asg'],
    ['replace', 'stop-start', 'd-stop-start'],
  ] as const)('%s (%s) starts runbook %s with the runbook role', async (action, replaceBy, document) => {
    ssm.on(StartAutomationExecutionCommand).resolves({ AutomationExecutionId: 'e-1' });
    expect(await new AutomationExecutor(new SSMClient({}), wiring).execute(decision(action, replaceBy), settingsFor())).toBe('e-1');
    const input = ssm.commandCalls(StartAutomationExecutionCommand)[0].args[0].input;
    expect([input.DocumentName, input.Parameters?.InstanceId, input.Parameters?.AutomationAssumeRole]).toEqual([
      document,
      ['i-00000000000000001'],
      [wiring.automationRoleArn],
    ]);
  });

  test('the scheduler event detail names the host, the action and the cause', async () => {
    ssm.on(StartAutomationExecutionCommand).resolves({ AutomationExecutionId: 'e-1' });
    await new AutomationExecutor(new SSMClient({}), wiring).execute(decision('reboot'), settingsFor());
    const detail = JSON.parse(ssm.commandCalls(StartAutomationExecutionCommand)[0].args[0].input.Parameters?.Detail?.[0] ?? '{}');
    expect([detail.host, detail.action, detail.cause, detail.gpu]).toEqual(['i-00000000000000001', 'reboot', 'xid-79', 5]);
  });
});
