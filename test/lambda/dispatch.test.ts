/**
 * The dispatch Lambda (lambda/handlers/dispatch.ts) against a mocked SSM: payload validation, tag and
 * instance-id targeting, 50-id chunks, no-match reporting, dry runs and partial SendCommand failures.
 */
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeInstanceInformationCommand, ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { DispatchSettings } from '../../lambda/core/dispatch';
import { handler } from '../../lambda/handlers/dispatch';

const ssm = mockClient(SSMClient);
const cloudwatch = mockClient(CloudWatchClient);

// The unit project shares one process between test files (isolate: false): put the environment back.
const savedEnv = { GPU_MAINT_DISPATCH: process.env.GPU_MAINT_DISPATCH, POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL };
afterAll(() => {
  for (const [key, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

// What the stack sets (lib/constructs/dispatcher.ts); the handler reads it on its first event.
beforeAll(() => {
  const settings: DispatchSettings = {
    fleetTag: { key: 'gpu-maint:fleet', value: 'prod' },
    maxConcurrency: '10%',
    maxErrors: '5%',
    outputBucket: 'output-bucket',
    outputKeyPrefix: 'command-output/',
    commandLogGroup: '/gpu-maint/commands',
    metricsNamespace: 'GpuMaint',
    shards: { tagKey: 'gpu-maint:shard', count: 4 },
    tasks: {
      'gpu-check': { documentName: 'GpuMaint-GpuCheckDocument-abc', deliveryTimeoutSeconds: 240 },
      'health-check': { documentName: 'GpuMaint-HealthCheckDocument-def', deliveryTimeoutSeconds: 600 },
      backup: { documentName: 'GpuMaint-BackupDocument-ghi', deliveryTimeoutSeconds: 21600, maxConcurrency: '25%', maxErrors: '10%' },
    },
  };
  process.env.GPU_MAINT_DISPATCH = JSON.stringify(settings);
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
});

const context = { functionName: 'dispatch', awsRequestId: 'req-1' } as Context;

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `i-${(from + i).toString(16).padStart(17, '0')}`);

/** SSM lists these instances as managed (all Online) for any DescribeInstanceInformation call. */
function managed(instanceIds: readonly string[], pingStatus: Record<string, string> = {}) {
  ssm.on(DescribeInstanceInformationCommand).callsFake((input: { Filters?: { Key: string; Values: string[] }[] }) => {
    const wanted = input.Filters?.find((f) => f.Key === 'InstanceIds')?.Values;
    const list = instanceIds.filter((id) => !wanted || wanted.includes(id));
    return { InstanceInformationList: list.map((InstanceId) => ({ InstanceId, PingStatus: pingStatus[InstanceId] ?? 'Online' })) };
  });
}

/** SSM resolves every fleet-tag command to `count` instances. */
function resolvesTo(count: number) {
  ssm.on(ListCommandsCommand).callsFake((input: { CommandId: string }) => ({
    Commands: [{ CommandId: input.CommandId, TargetCount: count, Status: count ? 'InProgress' : 'Success' }],
  }));
}

beforeEach(() => {
  ssm.reset();
  cloudwatch.reset();
  let n = 0;
  ssm.on(SendCommandCommand).callsFake(() => ({ Command: { CommandId: `cmd-${++n}` } }));
});

describe('targets', () => {
  test('with no targets, one command goes to the fleet tag without listing the fleet', async () => {
    resolvesTo(3);
    const result = await handler({ task: 'gpu-check' }, context);
    expect(ssm).not.toHaveReceivedCommand(DescribeInstanceInformationCommand);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'GpuMaint-GpuCheckDocument-abc',
      Targets: [{ Key: 'tag:gpu-maint:fleet', Values: ['prod'] }],
      MaxConcurrency: '10%',
      MaxErrors: '5%',
      TimeoutSeconds: 240,
      OutputS3BucketName: 'output-bucket',
      OutputS3KeyPrefix: 'command-output/gpu-check',
      CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: '/gpu-maint/commands' },
    });
    expect(result).toMatchObject({ outcome: 'sent', matchedInstances: 3, commands: [{ commandId: 'cmd-1' }] });
  });

  test('a task with its own rate control is sent with it, not the fleet-wide one', async () => {
    managed(ids(3));
    await handler({ task: 'backup' }, context);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'GpuMaint-BackupDocument-ghi',
      MaxConcurrency: '25%',
      MaxErrors: '10%',
      TimeoutSeconds: 21600,
    });
  });

  test('a fleet-tag dispatch publishes the target count SSM resolved as the expected results', async () => {
    resolvesTo(7);
    await handler({ task: 'health-check' }, context);
    expect(cloudwatch).toHaveReceivedCommandWith(PutMetricDataCommand, {
      Namespace: 'GpuMaint',
      MetricData: [
        expect.objectContaining({
          MetricName: 'ExpectedResults',
          Value: 7,
          Dimensions: [
            { Name: 'Fleet', Value: 'prod' },
            { Name: 'Task', Value: 'health-check' },
          ],
        }),
      ],
    });
  });

  test('a shard gets one command to its shard tag alone, without listing, and publishes its count', async () => {
    resolvesTo(5);
    const result = await handler({ task: 'gpu-check', shard: 2 }, context);
    expect(ssm).not.toHaveReceivedCommand(DescribeInstanceInformationCommand);
    expect(ssm).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, { Targets: [{ Key: 'tag:gpu-maint:shard', Values: ['prod-2'] }] });
    expect(cloudwatch).toHaveReceivedCommandWith(PutMetricDataCommand, { MetricData: [expect.objectContaining({ Value: 5 })] });
    expect(result).toMatchObject({ outcome: 'sent', matchedInstances: 5 });
  });

  test('a tag narrows the fleet: instances carrying both tags are looked up and sent by id', async () => {
    managed(ids(2));
    const result = await handler({ task: 'health-check', targets: { tag: { key: 'team', value: 'vision' } } }, context);
    expect(ssm).toHaveReceivedCommandWith(DescribeInstanceInformationCommand, {
      Filters: [
        { Key: 'tag:gpu-maint:fleet', Values: ['prod'] },
        { Key: 'tag:team', Values: ['vision'] },
      ],
    });
    expect(ssm.commandCalls(SendCommandCommand).map((c) => [c.args[0].input.InstanceIds, c.args[0].input.Targets])).toEqual([
      [ids(2), undefined],
    ]);
    expect(result.targets).toEqual({
      kind: 'tags',
      tags: [
        { key: 'gpu-maint:fleet', value: 'prod' },
        { key: 'team', value: 'vision' },
      ],
    });
  });

  test('the fleet tag itself as the tag is the plain fleet dispatch', async () => {
    resolvesTo(2);
    await handler({ task: 'gpu-check', targets: { tag: { key: 'gpu-maint:fleet', value: 'prod' } } }, context);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, { Targets: [{ Key: 'tag:gpu-maint:fleet', Values: ['prod'] }] });
  });

  test('more than 50 instance ids are sent in calls of at most 50', async () => {
    const wanted = ids(120);
    managed(wanted);
    const result = await handler({ task: 'gpu-check', targets: { instanceIds: wanted } }, context);
    const sent = ssm.commandCalls(SendCommandCommand).map((c) => c.args[0].input.InstanceIds ?? []);
    expect(sent.map((s) => s.length)).toEqual([50, 50, 20]);
    expect(sent.flat()).toEqual(wanted);
    expect(result.commands.map((c) => c.instanceIds?.length)).toEqual([50, 50, 20]);
  });

  test('instance ids without the fleet tag or SSM registration are skipped and named', async () => {
    const [tagged, untagged] = [ids(2), ids(1, 100)];
    managed(tagged);
    const result = await handler({ task: 'gpu-check', targets: { instanceIds: [...tagged, ...untagged] } }, context);
    expect(ssm.commandCalls(SendCommandCommand)[0].args[0].input.InstanceIds).toEqual(tagged);
    expect(result.skipped).toEqual([{ instanceId: untagged[0], reason: expect.stringContaining('gpu-maint:fleet=prod') }]);
    expect(result.message).toContain(`skipped 1: ${untagged[0]}`);
  });

  test('instances whose agent is not Online are reported (they will time out)', async () => {
    const [online, lost] = ids(2);
    managed([online, lost], { [lost]: 'ConnectionLost' });
    const result = await handler({ task: 'gpu-check', targets: { instanceIds: [online, lost] } }, context);
    expect(result.offlineInstances).toEqual([lost]);
    expect(result.message).toContain('1 not Online');
  });
});

describe('no match', () => {
  test('a fleet tag that SSM resolves to no instance is reported', async () => {
    resolvesTo(0);
    const result = await handler({ task: 'gpu-check' }, context);
    expect(result).toMatchObject({ outcome: 'no-match', matchedInstances: 0 });
    expect(result.message).toBe('gpu-check: no SSM managed instance carries gpu-maint:fleet=prod (command cmd-1 has no target)');
  });

  test('a narrowing tag that matches no managed instance is reported and nothing is sent', async () => {
    managed([]);
    const result = await handler({ task: 'gpu-check', targets: { tag: { key: 'team', value: 'nlp' } } }, context);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(result).toMatchObject({ outcome: 'no-match', matchedInstances: 0, commands: [] });
  });

  test('instance ids none of which is in the fleet are reported and nothing is sent', async () => {
    managed([]);
    const result = await handler({ task: 'gpu-check', targets: { instanceIds: ids(2) } }, context);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(result.outcome).toBe('no-match');
    expect(result.skipped).toHaveLength(2);
  });
});

describe('payload validation', () => {
  test.each([
    [
      { task: 'gpu-check', targets: { instanceIds: ['i-xyz'] } },
      'targets.instanceIds.0: got "i-xyz"; expected an instance id such as i-0123456789abcdef0',
    ],
    [{ task: 'gpu-chek' }, 'task: got "gpu-chek"; expected one of gpu-check, health-check'],
    [{ targets: {} }, 'task: got (missing); expected a task name'],
    [{ task: 'gpu-check', target: {} }, 'target: unknown field'],
    [{ task: 'gpu-check', dryRun: 'yes' }, 'dryRun: got "yes"; expected true or false'],
    [{ task: 'gpu-check', targets: { tag: { key: 'a', value: 'b' }, instanceIds: ids(1) } }, 'targets: got both tag and instanceIds'],
    [{ task: 'gpu-check', shard: 4 }, 'shard: got 4; expected 0-3 (fleet.shards is 4)'],
    [{ task: 'gpu-check', shard: 1.5 }, 'shard: got 1.5; expected a whole shard number'],
    [{ task: 'gpu-check', shard: 0, targets: { tag: { key: 'a', value: 'b' } } }, 'shard: got both shard and targets'],
    [{ task: 'gpu-check', parameters: { Mounts: '/' } }, 'parameters.Mounts: unknown parameter of gpu-check; expected one of InstanceType'],
    [
      { task: 'gpu-check', parameters: { InstanceType: 'p5; reboot' } },
      'parameters.InstanceType: got "p5; reboot"; expected a value matching ^(auto|',
    ],
  ])('%j is rejected with "%s"', async (payload, text) => {
    await expect(handler(payload, context)).rejects.toThrow(text);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  test('the error names the payload so a person can fix it', async () => {
    await expect(handler({ task: 'gpu-check', targets: { instanceIds: [] } }, context)).rejects.toMatchObject({
      name: 'DispatchPayloadError',
      message: expect.stringMatching(/^invalid dispatch payload:\n {2}- targets\.instanceIds: got \[\]; expected at least one instance id/),
    });
  });

  test('valid parameters are passed to SendCommand as one-element lists', async () => {
    managed(ids(1));
    await handler({ task: 'gpu-check', parameters: { NvidiaSmiTimeoutSeconds: '30' } }, context);
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, { Parameters: { NvidiaSmiTimeoutSeconds: ['30'] } });
  });
});

describe('dry run and failures', () => {
  test('a dry run plans the commands and sends nothing', async () => {
    managed(ids(60));
    const result = await handler({ task: 'gpu-check', targets: { instanceIds: ids(60) }, dryRun: true }, context);
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
    expect(result.outcome).toBe('planned');
    expect(result.planned?.map((p) => (p.targets.kind === 'instances' ? p.targets.instanceIds.length : 0))).toEqual([50, 10]);
  });

  test('one rejected SendCommand does not lose the commands that went out', async () => {
    managed(ids(100));
    ssm
      .on(SendCommandCommand)
      .resolvesOnce({ Command: { CommandId: 'cmd-a' } })
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const result = await handler({ task: 'gpu-check', targets: { instanceIds: ids(100) } }, context);
    expect(result.commands).toEqual([{ commandId: 'cmd-a', instanceIds: ids(50) }]);
    expect(result.failures).toEqual([{ error: 'ThrottlingException: Rate exceeded', instanceIds: ids(50, 50) }]);
    expect(result.message).toContain('1 SendCommand call(s) FAILED');
  });

  test('when every SendCommand fails the invocation fails (so the schedule retries)', async () => {
    resolvesTo(1);
    ssm.on(SendCommandCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(handler({ task: 'gpu-check' }, context)).rejects.toThrow('every SendCommand call failed: AccessDeniedException: denied');
  });
});
