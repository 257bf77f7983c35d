/**
 * Reads one output of a deployed gpu-maint stack for the CLI (invoke, silence --stack). A missing
 * stack is answered with the stacks in that region that look like ours (they have the output), so a
 * wrong --stack or --region is one step from fixed.
 */
import { type CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { AwsCallError, awsCall } from './explain-error';

/** Stacks in the client's region that carry `output` (first pages only: enough to suggest a name). */
export async function stacksWithOutput(cfn: CloudFormationClient, output: string, maxPages = 5): Promise<string[]> {
  const names: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const res = await cfn.send(new DescribeStacksCommand({ NextToken: token }));
    for (const s of res.Stacks ?? []) if (s.Outputs?.some((o) => o.OutputKey === output)) names.push(s.StackName ?? '?');
    token = res.NextToken;
    if (!token) break;
  }
  return names;
}

/**
 * The value of `output` of `stack`.
 * @throws AwsCallError saying the fix: region, credentials, access, or which stacks exist instead.
 */
export async function stackOutput(cfn: CloudFormationClient, stack: string, output: string, region: string | undefined): Promise<string> {
  const ctx = { action: 'cloudformation:DescribeStacks', resource: `stack ${stack}`, stack, region, regionOption: '--region' };
  let found: Stack | undefined;
  try {
    found = (await awsCall(ctx, () => cfn.send(new DescribeStacksCommand({ StackName: stack })))).Stacks?.[0];
  } catch (err) {
    if (!(err instanceof AwsCallError) || err.kind !== 'stack-not-found') throw err;
    const candidates = await stacksWithOutput(cfn, output).catch(() => null);
    const where = region ?? 'this region';
    const hint =
      candidates === null
        ? 'list them with `aws cloudformation describe-stacks`'
        : candidates.length
          ? `stacks in ${where} that look like gpu-maint: ${candidates.join(', ')}; pass --stack ${candidates[0]}`
          : `no gpu-maint stack in ${where}: pass --region, or deploy one (docs/deploy.md)`;
    throw new AwsCallError(`${err.message}; ${hint}`, err.kind, err.cause);
  }
  const value = found?.Outputs?.find((o) => o.OutputKey === output)?.OutputValue;
  if (!value) throw new AwsCallError(`stack ${stack} has no ${output} output: is it a gpu-maint stack, and is it up to date?`, 'other');
  return value;
}
