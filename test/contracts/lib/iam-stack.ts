/**
 * The stack's IAM, resolved to concrete ARNs for the evaluator: identity policies per role or managed
 * policy, every resource policy (bucket, topic, queue), and the SDK calls each Lambda's adapters make.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type Decision, type Env, evaluate, type Policy, type Request, resolve } from './iam-eval';
import { ACCOUNT, type CfnTemplate, REGION } from './stack';

export const ENV: Env = { account: ACCOUNT, region: REGION, partition: 'aws' };

export class StackIam {
  private readonly resources: CfnTemplate['Resources'];
  constructor(template: CfnTemplate & { Outputs?: Record<string, { Value: unknown }> }) {
    this.resources = template.Resources;
    this.outputs = template.Outputs ?? {};
  }
  private readonly outputs: Record<string, { Value: unknown }>;

  /** The one logical id of a type whose id starts with prefix (construct ids are stable, hashes are not). */
  id(prefix: string, type: string): string {
    const ids = Object.keys(this.resources).filter((id) => id.startsWith(prefix) && this.resources[id].Type === type);
    if (ids.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${JSON.stringify(ids)}`);
    return ids[0];
  }

  arn(prefix: string, type: string): string {
    return resolve({ 'Fn::GetAtt': [this.id(prefix, type), 'Arn'] }, this.resources, ENV);
  }

  ref(prefix: string, type: string): string {
    return resolve({ Ref: this.id(prefix, type) }, this.resources, ENV);
  }

  private doc(id: string): Policy {
    return resolve(this.resources[id].Properties?.PolicyDocument, this.resources, ENV) as Policy;
  }

  /** Inline policies attached to the role plus its managed policies from this template. */
  rolePolicies(roleId: string): Policy[] {
    const inline = Object.keys(this.resources).filter(
      (id) =>
        this.resources[id].Type === 'AWS::IAM::Policy' &&
        (this.resources[id].Properties?.Roles ?? []).some((r: { Ref?: string }) => r.Ref === roleId),
    );
    const managed = (this.resources[roleId].Properties?.ManagedPolicyArns ?? [])
      .map((m: { Ref?: string }) => m.Ref)
      .filter((id: string | undefined): id is string => id !== undefined && this.resources[id]?.Type === 'AWS::IAM::ManagedPolicy');
    return [...inline, ...managed].map((id) => this.doc(id));
  }

  /** The role of the Lambda function whose logical id starts with prefix. */
  lambdaRole(functionPrefix: string): string {
    const role = this.resources[this.id(functionPrefix, 'AWS::Lambda::Function')].Properties?.Role;
    return role['Fn::GetAtt'][0];
  }

  /** A managed policy the stack outputs (e.g. InstancePolicyArn), for the fleet's own instance role. */
  outputPolicy(outputName: string): Policy {
    const value = this.outputs[outputName]?.Value as { Ref?: string } | undefined;
    if (!value?.Ref) throw new Error(`output ${outputName} is not a Ref to a managed policy`);
    return this.doc(value.Ref);
  }

  resourcePolicies(): Policy[] {
    const types = ['AWS::S3::BucketPolicy', 'AWS::SNS::TopicPolicy', 'AWS::SQS::QueuePolicy'];
    // Each statement names its own resource, so all of them together act as every resource's policy.
    return Object.keys(this.resources)
      .filter((id) => types.includes(this.resources[id].Type))
      .map((id) => this.doc(id));
  }

  /** Identity policies may also be a resource's; lambda:InvokeFunction has no function policy here. */
  decide(req: Request, identity: readonly Policy[]): Decision {
    return evaluate({ ...req, context: { 'aws:SecureTransport': 'true', ...req.context } }, identity, this.resourcePolicies());
  }
}

// ---- The SDK calls of the runtime, found by reading its source.

const ROOT = path.resolve(__dirname, '../../..');

/** SDK v3 client package -> IAM service prefix (https://docs.aws.amazon.com/service-authorization/latest/reference/). */
const SERVICE_PREFIX: Record<string, string> = {
  '@aws-sdk/client-s3': 's3',
  '@aws-sdk/client-ssm': 'ssm',
  '@aws-sdk/client-cloudwatch': 'cloudwatch',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-sns': 'sns',
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-secrets-manager': 'secretsmanager',
  '@aws-sdk/client-lambda': 'lambda',
};

/**
 * API operations whose IAM action differs from the operation name.
 * ListObjectsV2 needs s3:ListBucket, DeleteObjects needs s3:DeleteObject per key:
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html, https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
 * TransactWriteItems is authorized per item action (here Put, Delete):
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
 * Invoke needs lambda:InvokeFunction: https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
 */
const ACTION_OF: Record<string, string[]> = {
  's3:ListObjectsV2': ['s3:ListBucket'],
  's3:DeleteObjects': ['s3:DeleteObject'],
  'dynamodb:TransactWriteItems': ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
  'lambda:Invoke': ['lambda:InvokeFunction'],
};

export type SdkCall = { file: string; operation: string; actions: string[] };

function localImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/from '(\.[^']+)'/g)]
    .map((m) => path.resolve(path.dirname(file), `${m[1]}.ts`))
    .filter((f) => f.includes(`${path.sep}adapters${path.sep}aws${path.sep}`));
}

/** Every `new XxxCommand(` in the AWS adapters a handler reaches through its imports. */
export function sdkCallsOf(handler: string): SdkCall[] {
  const seen = new Set<string>();
  const queue = [path.join(ROOT, 'lambda/handlers', `${handler}.ts`)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...localImports(file));
  }
  const calls: SdkCall[] = [];
  for (const file of [...seen].filter((f) => f.includes(`${path.sep}adapters${path.sep}`)).sort()) {
    const text = readFileSync(file, 'utf8');
    const pkgOf = new Map<string, string>();
    for (const m of text.matchAll(/import\s*{([^}]+)}\s*from\s*'(@aws-sdk\/client-[a-z0-9-]+)'/g)) {
      for (const name of m[1].split(',').map((n) => n.replace(/^\s*type\s+/, '').trim())) pkgOf.set(name, m[2]);
    }
    for (const operation of new Set([...text.matchAll(/new ([A-Za-z0-9]+)Command\(/g)].map((m) => m[1]))) {
      const pkg = pkgOf.get(`${operation}Command`);
      const prefix = pkg && SERVICE_PREFIX[pkg];
      if (!prefix)
        throw new Error(
          `${path.relative(ROOT, file)}: ${operation}Command comes from ${pkg ?? 'no @aws-sdk client import'}; add its IAM service prefix`,
        );
      const op = `${prefix}:${operation}`;
      calls.push({ file: path.relative(ROOT, file), operation: op, actions: ACTION_OF[op] ?? [op] });
    }
  }
  return calls;
}
