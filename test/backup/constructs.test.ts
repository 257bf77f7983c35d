/**
 * Template assertions on the backup constructs: BackupBucket (defaults and every option),
 * BackupInstancePolicy (own prefix only, no delete) and BackupPruner (function, schedule, alarm).
 * One synth for the assertions (bundling skipped) and one with cdk-nag.
 */

import { type App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, test } from 'vitest';
import { BackupBucket } from '../../lib/constructs/backup-bucket';
import { BackupInstancePolicy } from '../../lib/constructs/backup-instance-policy';
import { BackupPruner } from '../../lib/constructs/backup-pruner';
import { testApp } from '../helpers/cdk';

const KMS = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555';
const REPLICA_KMS = 'arn:aws:kms:eu-central-1:111122223333:key/66666666-2222-3333-4444-555555555555';
const RETENTION = { keepLast: 7, keepDaily: 14, keepWeekly: 8, keepMonthly: 12, graceDays: 2 };

function backupStack(app: App, id: string, options: ConstructorParameters<typeof BackupBucket>[2] = {}) {
  const stack = new Stack(app, id, { env: { account: '111122223333', region: 'eu-west-1' } });
  const bucket = new BackupBucket(stack, 'Backups', options);
  const role = new iam.Role(stack, 'InstanceRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
  new BackupInstancePolicy(stack, 'InstancePolicy', { backupBucket: bucket, roles: [role] });
  const topic = new sns.Topic(stack, 'Alerts', { enforceSSL: true });
  const pruner = new BackupPruner(stack, 'Pruner', {
    backupBucket: bucket,
    fleet: 'prod',
    metricsNamespace: 'GpuFleetMaintenance',
    maxAgeHours: 26,
    retention: RETENTION,
    alarmActions: [new cloudwatchActions.SnsAction(topic)],
    logRetentionDays: 30,
    timeZone: 'Europe/Berlin',
  });
  return { stack, bucket, pruner };
}

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

let plain: Template;
let full: Template;
let built: ReturnType<typeof backupStack>;

beforeAll(() => {
  const app = testApp();
  built = backupStack(app, 'Plain');
  const fullStack = backupStack(app, 'Full', {
    kmsKeyArn: KMS,
    glacierIrAfterDays: 30,
    objectLockDays: 14,
    undoDays: 45,
    replicationBucketArn: 'arn:aws:s3:::gpu-backups-replica',
    replicationKmsKeyArn: REPLICA_KMS,
  }).stack;
  plain = Template.fromStack(built.stack);
  full = Template.fromStack(fullStack);
});

describe('BackupBucket', () => {
  test('is versioned, blocks public access and encrypts with SSE-S3 by default', () => {
    plain.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
  });

  test('denies every request that is not TLS', () => {
    plain.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  test('aborts incomplete multipart uploads after 7 days and expires noncurrent versions after undoDays', () => {
    plain.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
        ]),
      },
    });
    full.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 45 } })]) },
    });
  });

  test('uses the configured KMS key, Glacier IR, Object Lock governance and replication when asked', () => {
    full.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          Match.objectLike({ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: KMS } }),
        ],
      },
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 14 } } },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }] })]),
      },
      ReplicationConfiguration: {
        Rules: [
          Match.objectLike({
            Destination: Match.objectLike({ Bucket: 'arn:aws:s3:::gpu-backups-replica' }),
            DeleteMarkerReplication: { Status: 'Disabled' },
          }),
        ],
      },
    });
  });

  test.each([
    [{ undoDays: 0 }, 'undoDays must be a positive whole number of days, got: 0'],
    [{ kmsKeyArn: 'alias/backups' }, 'kmsKeyArn is not a valid ARN of that kind, got: "alias/backups"'],
    [{ kmsKeyArn: KMS, replicationBucketArn: 'arn:aws:s3:::replica' }, 'replicationKmsKeyArn is required'],
  ])('props %j are rejected with a message naming the value', (props, message) => {
    expect(() => new BackupBucket(new Stack(testApp()), 'B', props)).toThrow(message);
  });

  test('gives the backup documents the bucket as destination and the aws-userid host key', () => {
    const defaults = built.bucket.documentParameterDefaults();
    expect(defaults.HostKey).toBe('aws-userid');
    expect(built.stack.resolve(defaults.Destination)).toEqual({
      'Fn::Join': ['', ['s3://', { Ref: expect.stringMatching(/^BackupsBucket/) }, '/']],
    });
  });
});

describe('BackupInstancePolicy', () => {
  const statements = (t: Template): Statement[] =>
    Object.values(t.findResources('AWS::IAM::ManagedPolicy')).flatMap((r: any) => r.Properties.PolicyDocument.Statement as Statement[]);

  test('allows no delete of any kind', () => {
    const allowed = statements(plain)
      .filter((s) => s.Effect === 'Allow')
      .flatMap(actions);
    expect(allowed.filter((a) => /Delete|\*|BypassGovernance|PutObjectRetention|PutLifecycle/.test(a))).toEqual([]);
  });

  test("scopes every object action to the caller's own backups/${aws:userid}/ prefix", () => {
    const objectStatements = statements(plain).filter((s) => s.Effect === 'Allow' && actions(s).some((a) => a !== 's3:ListBucket'));
    expect(objectStatements).toHaveLength(1);
    expect(JSON.stringify(objectStatements[0].Resource)).toContain('/backups/${aws:userid}/*');
  });

  test('lists only below its own prefix', () => {
    const list = statements(plain).find((s) => actions(s).includes('s3:ListBucket'));
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['backups/${aws:userid}/*'] } });
  });

  test('denies deletes explicitly, whatever else the role is granted', () => {
    const deny = statements(plain).find((s) => s.Effect === 'Deny');
    expect(actions(deny as Statement)).toEqual(
      expect.arrayContaining(['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention']),
    );
  });

  test('may use the KMS key only through S3 when the bucket has one', () => {
    const kms = statements(full).find((s) => actions(s).includes('kms:GenerateDataKey'));
    expect(kms).toMatchObject({ Resource: KMS, Condition: { StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' } } });
  });
});

describe('BackupPruner', () => {
  test('runs the prune handler with the retention and fleet settings', () => {
    const fn = Object.values(plain.findResources('AWS::Lambda::Function')).find(
      (r: any) => r.Properties.Environment?.Variables?.GPU_MAINT_PRUNE_SETTINGS,
    ) as any;
    const settings = JSON.parse(JSON.stringify(built.stack.resolve(fn.Properties.Environment.Variables.GPU_MAINT_PRUNE_SETTINGS)));
    expect(JSON.stringify(settings)).toContain(
      '\\"retention\\":{\\"keepLast\\":7,\\"keepDaily\\":14,\\"keepWeekly\\":8,\\"keepMonthly\\":12,\\"graceDays\\":2}',
    );
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 900 });
  });

  test('may invoke itself, and only itself, to prune a large fleet in parts, with loop detection off for it', () => {
    const [fnId, fn] = Object.entries(plain.findResources('AWS::Lambda::Function')).find(
      ([, r]: [string, any]) => r.Properties.Environment?.Variables?.GPU_MAINT_PRUNE_SETTINGS,
    ) as [string, any];
    expect(fn.Properties.RecursiveLoop).toBe('Allow');
    const invokes = Object.values(plain.findResources('AWS::IAM::Policy'))
      .flatMap((r: any) => r.Properties.PolicyDocument.Statement as Statement[])
      .filter((st) => actions(st).includes('lambda:InvokeFunction'));
    // The function's own policy, and the schedule role's invoke of it: no other function.
    expect(invokes.map((st) => st.Resource)).toContainEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
    const targets = new Set([...JSON.stringify(invokes).matchAll(/"Fn::GetAtt":\["([^"]+)"/g)].map((m) => m[1]));
    expect([...targets]).toEqual([fnId]);
  });

  test('is scheduled daily at 06:00 in the configured time zone', () => {
    plain.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 6 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
    });
  });

  test('may delete below backups/ only', () => {
    const policies = Object.values(plain.findResources('AWS::IAM::Policy')).flatMap(
      (r: any) => r.Properties.PolicyDocument.Statement as Statement[],
    );
    const deletes = policies.filter((s) => actions(s).some((a) => a.startsWith('s3:Delete')));
    expect(deletes.length).toBeGreaterThan(0);
    for (const s of deletes) expect(JSON.stringify(s.Resource)).toContain('/backups/*');
  });

  test('alarms on the worst snapshot age with missing data as breaching, and notifies', () => {
    plain.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'SnapshotAgeHours',
      Namespace: 'GpuFleetMaintenance',
      Dimensions: [{ Name: 'Fleet', Value: 'prod' }],
      Statistic: 'Maximum',
      Threshold: 26,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^Alerts') }],
    });
  });

  test('rejects a retention that could keep nothing', () => {
    const app = testApp();
    const stack = new Stack(app, 'S');
    const topic = new sns.Topic(stack, 'T');
    expect(
      () =>
        new BackupPruner(stack, 'P', {
          backupBucket: new BackupBucket(stack, 'B'),
          fleet: 'f',
          metricsNamespace: 'N',
          maxAgeHours: 26,
          retention: { ...RETENTION, keepLast: 0 },
          alarmActions: [new cloudwatchActions.SnsAction(topic)],
          logRetentionDays: 30,
        }),
    ).toThrow('retention.keepLast must be an integer ≥ 1, got: 0');
  });

  test('offers dashboard widgets for age, success, volume and the per-host audit', () => {
    expect(built.pruner.dashboardWidgets().length).toBe(4);
  });
});

describe('cdk-nag', () => {
  test('the backup constructs synthesize with no unacknowledged AwsSolutions finding', () => {
    const app = testApp();
    backupStack(app, 'Nag', {
      kmsKeyArn: KMS,
      replicationBucketArn: 'arn:aws:s3:::gpu-backups-replica',
      replicationKmsKeyArn: REPLICA_KMS,
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });
});
