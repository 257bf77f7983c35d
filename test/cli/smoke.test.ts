/** `gpu-maint smoke`: raises a test alarm and dispatches gpu-check to one instance (mocked AWS). */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, test } from 'vitest';
import { runSmoke } from '../../bin/cli/commands/smoke';

const cfn = mockClient(CloudFormationClient);
const cw = mockClient(CloudWatchClient);
const lambda = mockClient(LambdaClient);
const clients = () => ({
  cloudFormation: new CloudFormationClient({ region: 'eu-west-1' }),
  cloudWatch: new CloudWatchClient({ region: 'eu-west-1' }),
  lambda: new LambdaClient({ region: 'eu-west-1' }),
});
const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)) as never;

beforeEach(() => {
  cfn.reset();
  cw.reset();
  lambda.reset();
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: 'GpuMaint',
        CreationTime: new Date(0),
        StackStatus: 'CREATE_COMPLETE',
        Outputs: [
          { OutputKey: 'DispatchFunctionName', OutputValue: 'GpuMaint-Dispatch' },
          { OutputKey: 'PipelineTopicArn', OutputValue: 'arn:aws:sns:eu-west-1:123456789012:pipeline' },
          { OutputKey: 'OutputBucketName', OutputValue: 'output-bucket' },
        ],
      },
    ],
  });
  cw.on(SetAlarmStateCommand).resolves({});
});

describe('runSmoke', () => {
  test('sets the heartbeat alarm to ALARM and dispatches gpu-check to the one instance', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: encode({ outcome: 'sent', message: 'sent', commands: [{ commandId: 'cmd-1', instanceIds: ['i-0123456789abcdef0'] }] }),
    });
    const lines = await runSmoke(clients(), 'GpuMaint', 'i-0123456789abcdef0');
    expect(cw).toHaveReceivedCommandWith(SetAlarmStateCommand, { AlarmName: 'GpuMaint-gpu-check-coverage', StateValue: 'ALARM' });
    const payload = JSON.parse(new TextDecoder().decode(lambda.commandCalls(InvokeCommand)[0].args[0].input.Payload as Uint8Array));
    expect(payload).toEqual({ task: 'gpu-check', targets: { instanceIds: ['i-0123456789abcdef0'] } });
    expect(lines.join('\n')).toContain('arn:aws:sns:eu-west-1:123456789012:pipeline');
    expect(lines.join('\n')).toContain('s3://output-bucket/command-output/gpu-check/cmd-1/');
  });

  test('a dispatch that matched nothing fails the smoke test with its message', async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: encode({
        outcome: 'no-match',
        message: 'gpu-check: none of the 1 instance id(s) is an SSM managed instance',
        commands: [],
      }),
    });
    await expect(runSmoke(clients(), 'GpuMaint', 'i-0123456789abcdef0')).rejects.toThrow(/none of the 1 instance id\(s\)/);
  });

  test('an alarm that cannot be set fails the smoke test naming it', async () => {
    cw.on(SetAlarmStateCommand).rejects(Object.assign(new Error('alarm does not exist'), { name: 'ResourceNotFound' }));
    await expect(runSmoke(clients(), 'GpuMaint', 'i-0123456789abcdef0')).rejects.toThrow(
      'SetAlarmState GpuMaint-gpu-check-coverage: ResourceNotFound',
    );
  });

  test('a bad instance id is a usage error', async () => {
    await expect(runSmoke(clients(), 'GpuMaint', 'web-1')).rejects.toThrow(/expected an instance id/);
  });
});
