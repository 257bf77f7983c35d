/**
 * `gpu-maint smoke --stack NAME --instance i-...`: a post-deploy smoke test against a real account. It
 * sets the gpu-check coverage alarm to ALARM with SetAlarmState (CloudWatch returns it to its real state at the next
 * evaluation, so subscribers get an ALARM and then an OK notification through the pipeline topic), runs
 * gpu-check on one instance through the dispatch Lambda, and reports what it sent where. Exit 0 when both
 * went out, 1 otherwise. Run once after the first deploy (docs/deploy.md#smoke-test).
 */
import { CloudFormationClient, DescribeStacksCommand, type Output } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Command } from 'commander';
import { coverageAlarmName } from '../../../lambda/core/coverage';
import type { DispatchResult } from '../../../lambda/core/dispatch';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand, UsageError } from '../context';
import { DEFAULT_STACK, DISPATCH_FUNCTION_OUTPUT } from './invoke';

export interface SmokeClients {
  readonly cloudFormation: CloudFormationClient;
  readonly cloudWatch: CloudWatchClient;
  readonly lambda: LambdaClient;
}

/** Runs the smoke test; returns the report lines. @throws ExitError naming the step that failed. */
export async function runSmoke(clients: SmokeClients, stack: string, instanceId: string): Promise<string[]> {
  if (!/^(i|mi)-[0-9a-f]{8,17}$/.test(instanceId))
    throw new UsageError(`--instance ${JSON.stringify(instanceId)}: expected an instance id such as i-0123456789abcdef0`);
  let outputs: Output[];
  try {
    outputs = (await clients.cloudFormation.send(new DescribeStacksCommand({ StackName: stack }))).Stacks?.[0]?.Outputs ?? [];
  } catch (err) {
    throw new ExitError(`--stack ${stack}: cannot read the stack (${(err as Error).name}: ${(err as Error).message})`, EXIT.taskFailed);
  }
  const output = (key: string) => outputs.find((o) => o.OutputKey === key)?.OutputValue;
  const functionName = output(DISPATCH_FUNCTION_OUTPUT);
  if (!functionName)
    throw new ExitError(`--stack ${stack}: no ${DISPATCH_FUNCTION_OUTPUT} output; is it a gpu-maint stack?`, EXIT.taskFailed);
  const lines: string[] = [];

  // gpu-check's coverage alarm (lib/constructs/coverage-alarm.ts), which every stack with gpu-check scheduled has.
  const alarmName = coverageAlarmName(stack, 'gpu-check');
  try {
    await clients.cloudWatch.send(
      new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'ALARM', StateReason: 'gpu-maint smoke test: not a real alarm' }),
    );
    lines.push(
      `alarm ${alarmName} set to ALARM: every email subscriber of ${output('PipelineTopicArn') ?? 'the pipeline topic'}, Slack and PagerDuty (if configured) should get it now, and an OK within minutes`,
    );
  } catch (err) {
    throw new ExitError(`SetAlarmState ${alarmName}: ${(err as Error).name}: ${(err as Error).message}`, EXIT.taskFailed);
  }

  const payload = { task: 'gpu-check', targets: { instanceIds: [instanceId] } };
  let result: DispatchResult;
  try {
    const response = await clients.lambda.send(
      new InvokeCommand({ FunctionName: functionName, Payload: new TextEncoder().encode(JSON.stringify(payload)) }),
    );
    const text = response.Payload ? new TextDecoder().decode(response.Payload) : '';
    if (response.FunctionError) throw new Error(`${response.FunctionError}: ${text.slice(0, 300)}`);
    result = JSON.parse(text) as DispatchResult;
  } catch (err) {
    throw new ExitError(
      `dispatch of gpu-check to ${instanceId} through ${functionName} failed: ${(err as Error).message}`,
      EXIT.taskFailed,
    );
  }
  if (result.outcome !== 'sent') throw new ExitError(`gpu-check on ${instanceId}: ${result.message}`, EXIT.taskFailed);
  const commandId = result.commands[0]?.commandId;
  lines.push(
    `gpu-check sent to ${instanceId} (command ${commandId}); its result reaches the dashboard (${output('DashboardName') ?? 'DashboardName output'}) and the collector log within minutes`,
    `  follow it: aws ssm list-command-invocations --details --command-id ${commandId}`,
    `  full output: s3://${output('OutputBucketName') ?? '<OutputBucketName>'}/command-output/gpu-check/${commandId}/`,
  );
  return lines;
}

export const registerSmoke: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('smoke')
    .description('post-deploy smoke test: raise a test alarm and run gpu-check on one instance, then say what went where')
    .requiredOption('--instance <id>', 'the fleet instance to run gpu-check on')
    .option('--stack <name>', 'stack name', DEFAULT_STACK)
    .option('--region <region>', "AWS region (default: AWS_REGION, then the config's aws.region)")
    .action(async (options: { instance: string; stack: string; region?: string }, cmd: Command) => {
      const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? configFor(cmd).aws.region;
      const config = region ? { region } : {};
      const clients = {
        cloudFormation: new CloudFormationClient(config),
        cloudWatch: new CloudWatchClient(config),
        lambda: new LambdaClient(config),
      };
      for (const line of await runSmoke(clients, options.stack, options.instance)) io.out(line);
    });
};
