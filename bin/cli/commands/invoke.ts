/**
 * `gpu-maint invoke <task> [--instance i-...] [--tag key=value] [--stack NAME] [--dry-run]`: runs a task
 * on the deployed fleet now, through the stack's dispatch Lambda (found in the stack's outputs), exactly
 * as a schedule does. Exit 0 when commands went out (or the dry run planned some), 1 when nothing
 * matched or the dispatch failed, 2 for a bad request.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Command } from 'commander';
import { AwsCallError, awsCall } from '../../../lambda/adapters/aws/explain-error';
import { stackOutput } from '../../../lambda/adapters/aws/stack-outputs';
import type { DispatchResult } from '../../../lambda/core/dispatch';
import type { TaskName } from '../../../lambda/core/types';
import { TASKS } from '../../../lambda/tasks/registry';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand, UsageError } from '../context';

/** Stack output holding the dispatch function's name (lib/gpu-maint-stack.ts). */
export const DISPATCH_FUNCTION_OUTPUT = 'DispatchFunctionName';
export const DEFAULT_STACK = 'GpuMaint';

const INSTANCE_ID = /^(i|mi)-[0-9a-f]{8,17}$/;

interface InvokeOptions {
  readonly instance: string[];
  readonly tag?: string;
  readonly param: string[];
  readonly stack: string;
  readonly region?: string;
  readonly dryRun?: boolean;
  readonly json?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Builds the dispatch payload from the command line. @throws UsageError naming the bad option. */
/** An AWS call whose AwsCallError (a message with the fix) exits 1. */
async function asExit<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof AwsCallError) throw new ExitError(err.message, EXIT.taskFailed);
    throw err;
  }
}

export function dispatchPayload(
  task: string,
  options: Pick<InvokeOptions, 'instance' | 'tag' | 'param' | 'dryRun'>,
): Record<string, unknown> {
  if (!TASKS.has(task as TaskName)) {
    throw new UsageError(`unknown task ${JSON.stringify(task)}; expected one of: ${[...TASKS.keys()].join(', ')}`);
  }
  const ids = options.instance
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  const bad = ids.filter((id) => !INSTANCE_ID.test(id));
  if (bad.length)
    throw new UsageError(
      `--instance ${bad.map((b) => JSON.stringify(b)).join(', ')}: expected instance ids such as i-0123456789abcdef0 or mi-0123456789abcdef0`,
    );
  if (ids.length && options.tag) throw new UsageError('--instance and --tag cannot be combined: give instance ids or a tag');
  const payload: Record<string, unknown> = { task };
  if (ids.length) payload.targets = { instanceIds: [...new Set(ids)] };
  if (options.tag) {
    const eq = options.tag.indexOf('=');
    if (eq <= 0 || eq === options.tag.length - 1)
      throw new UsageError(`--tag ${JSON.stringify(options.tag)}: expected key=value, e.g. --tag team=vision`);
    payload.targets = { tag: { key: options.tag.slice(0, eq), value: options.tag.slice(eq + 1) } };
  }
  if (options.param.length) {
    const parameters: Record<string, string> = {};
    for (const p of options.param) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new UsageError(`--param ${JSON.stringify(p)}: expected Name=value, e.g. --param NvidiaSmiTimeoutSeconds=30`);
      parameters[p.slice(0, eq)] = p.slice(eq + 1);
    }
    payload.parameters = parameters;
  }
  if (options.dryRun) payload.dryRun = true;
  return payload;
}

function describe(result: DispatchResult): string[] {
  const lines = [result.message];
  for (const c of result.commands) {
    lines.push(`  command ${c.commandId}${c.instanceIds ? ` (${c.instanceIds.length} instance(s))` : ''}`);
  }
  for (const s of result.skipped) lines.push(`  skipped ${s.instanceId}: ${s.reason}`);
  if (result.outcome === 'sent') {
    lines.push(
      'Results reach the dashboard and the collector log within a minute or two of the run finishing.',
      `Follow one command: aws ssm list-command-invocations --details --command-id ${result.commands[0]?.commandId ?? '<id>'}`,
    );
  }
  if (result.outcome === 'no-match') lines.push('See docs/troubleshooting.md#instance-not-managed-by-ssm-or-missing-the-tag');
  return lines;
}

export const registerInvoke: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('invoke')
    .description("run a task on the deployed fleet now, through the stack's dispatch Lambda (as its schedule would)")
    .argument('<task>', 'task name, e.g. gpu-check')
    .option('--instance <id>', 'an instance id (repeatable, or comma-separated); default: every instance with the fleet tag', collect, [])
    .option('--tag <key=value>', 'only fleet instances that also carry this tag')
    .option('--param <Name=value>', 'override a document parameter (repeatable)', collect, [])
    .option('--stack <name>', 'stack name', DEFAULT_STACK)
    .option('--region <region>', "AWS region (default: AWS_REGION, then the config's aws.region)")
    .option('--dry-run', 'show what would be targeted; send nothing')
    .option('--json', 'print the dispatch result as JSON')
    .action(async (task: string, options: InvokeOptions, cmd: Command) => {
      // Every mistake in the request is reported before any AWS call.
      const payload = dispatchPayload(task, options);
      const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? configFor(cmd).aws.region;
      const clientConfig = region ? { region } : {};
      const functionName = await asExit(
        stackOutput(new CloudFormationClient(clientConfig), options.stack, DISPATCH_FUNCTION_OUTPUT, region),
      );
      const ctx = {
        action: 'lambda:InvokeFunction',
        resource: `function ${functionName}`,
        region,
        regionOption: '--region',
        stack: options.stack,
      };
      const response = await asExit(
        awsCall(ctx, () =>
          new LambdaClient(clientConfig).send(
            new InvokeCommand({ FunctionName: functionName, Payload: new TextEncoder().encode(JSON.stringify(payload)) }),
          ),
        ),
      );
      const text = response.Payload ? new TextDecoder().decode(response.Payload) : '';
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new ExitError(
          `${functionName} answered with something that is not JSON: ${JSON.stringify(text.slice(0, 200))}`,
          EXIT.taskFailed,
        );
      }
      if (response.FunctionError) {
        const error = body as { errorType?: string; errorMessage?: string };
        if (error.errorType === 'DispatchPayloadError') throw new UsageError(error.errorMessage ?? 'invalid dispatch payload');
        throw new ExitError(
          `dispatch failed: ${error.errorType ?? response.FunctionError}: ${error.errorMessage ?? text}`,
          EXIT.taskFailed,
        );
      }
      const result = body as DispatchResult;
      if (options.json) io.out(JSON.stringify(result, null, 2));
      else for (const line of describe(result)) io.out(line);
      if (result.outcome === 'no-match') throw new ExitError(`${task}: no instance matched; nothing was sent`, EXIT.taskFailed);
    });
};
