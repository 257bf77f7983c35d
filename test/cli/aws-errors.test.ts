/**
 * AWS errors in the operator's words: each SDK error class (as aws-sdk-client-mock raises it from a
 * real client) mapped to a message that says the fix; S3 store errors name the bucket and endpoint.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openBackupStore } from '../../bin/cli/backup-store';
import { type AwsErrorKind, awsCall, classifyAwsError, explainAwsError } from '../../lambda/adapters/aws/explain-error';

const PARTITION = 'aws';
const ROLE = `arn:${PARTITION}:sts::123456789012:assumed-role/ops/alice`;
const FUNCTION_ARN = `arn:${PARTITION}:lambda:eu-west-1:123456789012:function:GpuMaint-Dispatch`;

const sdkError = (name: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 }, ...extra });

const INVOKE = { action: 'lambda:InvokeFunction', resource: 'function GpuMaint-Dispatch', region: 'eu-west-1', regionOption: '--region' };
const STORE = { action: 's3:ListBucket', resource: 's3://backups/fleet/', bucket: 'backups', endpoint: 'http://127.0.0.1:4569' };

describe('each AWS error class is mapped to a message with the fix', () => {
  const lambda = mockClient(LambdaClient);
  afterAll(() => lambda.restore());

  test.each<[string, Error, typeof INVOKE | typeof STORE, AwsErrorKind, string]>([
    [
      'missing region',
      new Error('Region is missing'),
      INVOKE,
      'region-missing',
      'no AWS region configured for lambda:InvokeFunction: pass --region <region>, set AWS_REGION, or set aws.region in the config',
    ],
    [
      'missing credentials',
      sdkError('CredentialsProviderError', 'Could not load credentials from any providers'),
      INVOKE,
      'credentials-missing',
      'no AWS credentials found for lambda:InvokeFunction: run `aws configure` or `aws sso login`',
    ],
    [
      'expired credentials',
      sdkError('ExpiredTokenException', 'The security token included in the request is expired'),
      INVOKE,
      'credentials-expired',
      'the AWS credentials have expired (ExpiredTokenException: The security token included in the request is expired): refresh them',
    ],
    [
      'unknown access key',
      sdkError('UnrecognizedClientException', 'The security token included in the request is invalid.'),
      INVOKE,
      'credentials-invalid',
      'AWS does not recognise these credentials (UnrecognizedClientException)',
    ],
    [
      'AccessDenied naming action and resource',
      sdkError(
        'AccessDeniedException',
        `User: ${ROLE} is not authorized to perform: lambda:InvokeFunction on resource: ${FUNCTION_ARN} because no identity-based policy allows the lambda:InvokeFunction action`,
      ),
      INVOKE,
      'access-denied',
      `access denied: lambda:InvokeFunction on ${FUNCTION_ARN}; grant ${ROLE} lambda:InvokeFunction on ${FUNCTION_ARN}`,
    ],
    [
      'S3 AccessDenied without details',
      sdkError('AccessDenied', 'Access Denied'),
      STORE,
      'access-denied',
      'access denied: s3:ListBucket on s3://backups/fleet/ (bucket backups at endpoint http://127.0.0.1:4569); grant the role in use s3:ListBucket',
    ],
    [
      'a missing stack',
      sdkError('ValidationError', 'Stack with id GpuMaint does not exist'),
      { ...INVOKE, action: 'cloudformation:DescribeStacks', stack: 'GpuMaint' } as typeof INVOKE,
      'stack-not-found',
      'stack GpuMaint not found in eu-west-1',
    ],
    [
      'a missing bucket',
      sdkError('NoSuchBucket', 'The specified bucket does not exist'),
      STORE,
      'bucket-not-found',
      'bucket backups at endpoint http://127.0.0.1:4569: no such bucket; check backup.destination',
    ],
    [
      'an endpoint that refuses connections',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4569'), { code: 'ECONNREFUSED' }),
      STORE,
      'endpoint-unreachable',
      'cannot reach bucket backups at endpoint http://127.0.0.1:4569 (ECONNREFUSED)',
    ],
    [
      'anything else',
      sdkError('TooManyRequestsException', 'Rate exceeded'),
      INVOKE,
      'other',
      'lambda:InvokeFunction on function GpuMaint-Dispatch failed: TooManyRequestsException: Rate exceeded',
    ],
  ])('%s', async (_name, error, ctx, kind, message) => {
    lambda.reset();
    lambda.on(InvokeCommand).rejects(error);
    const call = awsCall(ctx, () => new LambdaClient({ region: 'eu-west-1' }).send(new InvokeCommand({ FunctionName: 'f' })));
    await expect(call).rejects.toMatchObject({ name: 'AwsCallError', kind, message: expect.stringContaining(message) });
    expect(classifyAwsError(error)).toBe(kind);
  });

  test('AccessDenied names the stack output whose policy grants the action when the caller knows it', () => {
    const message = explainAwsError(sdkError('AccessDenied', 'Access Denied'), {
      ...STORE,
      action: 's3:PutObject',
      policyOutput: 'BackupInstancePolicyArn',
      stack: 'GpuMaint',
    });
    expect(message).toContain(
      'attach the policy in the BackupInstancePolicyArn output of stack GpuMaint to the role in use (docs/deploy.md, step 4)',
    );
  });
});

describe('the S3 backup store names its bucket and endpoint in errors', () => {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    for (const [k, v] of Object.entries({
      AWS_ACCESS_KEY_ID: 'TEST',
      AWS_SECRET_ACCESS_KEY: 'TEST',
      AWS_REGION: 'us-east-1',
      AWS_MAX_ATTEMPTS: '1',
    })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test('an endpoint nothing listens on', async () => {
    // Port 9 (discard) on the loopback: nothing listens there in a test environment.
    const store = openBackupStore('s3://fleet-backups/prod', 'http://127.0.0.1:9');
    await expect(store.listHostKeys()).rejects.toThrow(
      /^cannot reach bucket fleet-backups at endpoint http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\): check the URL/,
    );
  });
});
