/**
 * `gpu-maint invoke`: finds the dispatch Lambda in the stack's outputs and invokes it, against mocked
 * CloudFormation and Lambda.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { DispatchResult } from '../../lambda/core/dispatch';
import { runCli } from '../helpers/cli';

const cfn = mockClient(CloudFormationClient);
const lambda = mockClient(LambdaClient);

const SENT: DispatchResult = {
  task: 'gpu-check',
  dryRun: false,
  outcome: 'sent',
  targets: { kind: 'instances', instanceIds: ['i-0123456789abcdef0'] },
  matchedInstances: 1,
  offlineInstances: [],
  skipped: [],
  commands: [{ commandId: 'cmd-1', instanceIds: ['i-0123456789abcdef0'] }],
  failures: [],
  message: 'gpu-check: sent 1 command(s) to 1 instance(s) (cmd-1)',
};

const answer = (body: unknown, functionError?: string) => ({
  StatusCode: 200,
  Payload: new TextEncoder().encode(JSON.stringify(body)) as never,
  ...(functionError ? { FunctionError: functionError } : {}),
});

function sentPayload(): unknown {
  const input = lambda.commandCalls(InvokeCommand)[0].args[0].input;
  return JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array));
}

beforeAll(() => {
  process.env.AWS_REGION = 'eu-west-1';
});

beforeEach(() => {
  cfn.reset();
  lambda.reset();
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: 'GpuMaint',
        CreationTime: new Date('2026-11-01T00:00:00Z'),
        StackStatus: 'CREATE_COMPLETE',
        Outputs: [{ OutputKey: 'DispatchFunctionName', OutputValue: 'GpuMaint-Dispatch-abc' }],
      },
    ],
  });
  lambda.on(InvokeCommand).resolves(answer(SENT));
});

describe('gpu-maint invoke', () => {
  test('invokes the dispatch Lambda named in the stack outputs with the task and instance', async () => {
    const run = await runCli(['invoke', 'gpu-check', '--instance', 'i-0123456789abcdef0']);
    expect(run.code).toBe(0);
    expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'GpuMaint' });
    expect(lambda).toHaveReceivedCommandWith(InvokeCommand, { FunctionName: 'GpuMaint-Dispatch-abc' });
    expect(sentPayload()).toEqual({ task: 'gpu-check', targets: { instanceIds: ['i-0123456789abcdef0'] } });
    expect(run.stdout).toContain('gpu-check: sent 1 command(s) to 1 instance(s) (cmd-1)');
    expect(run.stdout).toContain('aws ssm list-command-invocations --details --command-id cmd-1');
  });

  test('--stack, --tag, --param and --dry-run shape the request', async () => {
    await runCli([
      'invoke',
      'health-check',
      '--stack',
      'GpuMaint-vision',
      '--tag',
      'team=vision',
      '--param',
      'Services=sshd.service',
      '--dry-run',
    ]);
    expect(cfn).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: 'GpuMaint-vision' });
    expect(sentPayload()).toEqual({
      task: 'health-check',
      targets: { tag: { key: 'team', value: 'vision' } },
      parameters: { Services: 'sshd.service' },
      dryRun: true,
    });
  });

  test('several instances may be given, repeated or comma-separated', async () => {
    await runCli(['invoke', 'gpu-check', '--instance', 'i-0123456789abcdef0,i-0123456789abcdef1', '--instance', 'mi-0123456789abcdef2']);
    expect(sentPayload()).toMatchObject({
      targets: { instanceIds: ['i-0123456789abcdef0', 'i-0123456789abcdef1', 'mi-0123456789abcdef2'] },
    });
  });

  test('a dispatch that matched nothing exits 1 and says so', async () => {
    lambda.on(InvokeCommand).resolves(
      answer({
        ...SENT,
        outcome: 'no-match',
        commands: [],
        matchedInstances: 0,
        message: 'gpu-check: no SSM managed instance carries gpu-maint:fleet=default; nothing sent',
      }),
    );
    const run = await runCli(['invoke', 'gpu-check']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('no SSM managed instance carries gpu-maint:fleet=default');
    expect(run.stderr).toContain('no instance matched; nothing was sent');
  });

  test('a payload the Lambda refuses exits 2 with its message', async () => {
    lambda.on(InvokeCommand).resolves(
      answer(
        {
          errorType: 'DispatchPayloadError',
          errorMessage: 'invalid dispatch payload:\n  - parameters.Bogus: not a parameter of gpu-check',
        },
        'Unhandled',
      ),
    );
    const run = await runCli(['invoke', 'gpu-check', '--param', 'Bogus=1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('parameters.Bogus: not a parameter of gpu-check');
  });

  test('an unknown task is refused before any AWS call', async () => {
    const run = await runCli(['invoke', 'gpu']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown task "gpu"; expected one of: gpu-check, health-check');
    expect(cfn).not.toHaveReceivedAnyCommand();
    expect(lambda).not.toHaveReceivedAnyCommand();
  });

  test('a bad instance id is refused before anything is called', async () => {
    const run = await runCli(['invoke', 'gpu-check', '--instance', 'web-1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--instance "web-1": expected instance ids such as i-0123456789abcdef0');
    expect(lambda).not.toHaveReceivedCommand(InvokeCommand);
  });

  test('a stack without the dispatch output is reported by name', async () => {
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'Other', CreationTime: new Date('2026-11-01T00:00:00Z'), StackStatus: 'CREATE_COMPLETE', Outputs: [] }],
    });
    const run = await runCli(['invoke', 'gpu-check', '--stack', 'Other']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('stack Other has no DispatchFunctionName output: is it a gpu-maint stack');
  });

  test('a stack that does not exist is answered with the stacks that look like ours', async () => {
    cfn.on(DescribeStacksCommand).callsFake((input: { StackName?: string }) => {
      if (input.StackName) throw Object.assign(new Error(`Stack with id ${input.StackName} does not exist`), { name: 'ValidationError' });
      return LISTED;
    });
    const run = await runCli(['invoke', 'gpu-check', '--stack', 'Nope']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'stack Nope not found in eu-west-1; stacks in eu-west-1 that look like gpu-maint: GpuMaintProd; pass --stack GpuMaintProd',
    );
  });

  test('no similar stack: the message says to check the region or deploy', async () => {
    cfn.on(DescribeStacksCommand).callsFake((input: { StackName?: string }) => {
      if (input.StackName) throw Object.assign(new Error(`Stack with id ${input.StackName} does not exist`), { name: 'ValidationError' });
      return { Stacks: [] };
    });
    const run = await runCli(['invoke', 'gpu-check']);
    expect(run.stderr).toContain('stack GpuMaint not found in eu-west-1; no gpu-maint stack in eu-west-1: pass --region, or deploy one');
  });

  const LISTED = {
    Stacks: [
      { StackName: 'Web', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] },
      {
        StackName: 'GpuMaintProd',
        CreationTime: new Date(),
        StackStatus: 'CREATE_COMPLETE',
        Outputs: [{ OutputKey: 'DispatchFunctionName', OutputValue: 'f' }],
      },
    ],
  };

  test('--json prints the whole dispatch result', async () => {
    const run = await runCli(['invoke', 'gpu-check', '--json']);
    expect(JSON.parse(run.stdout)).toEqual(SENT);
  });
});
