/**
 * The bucket model backups go to (backups/<host key>/units/... and .../snapshots/...): versioned,
 * TLS only, no public access, SSE-S3 or SSE-KMS, and a lifecycle that aborts incomplete multipart
 * uploads after 7 days and expires noncurrent versions after `undoDays` (the window in which a deleted
 * or overwritten object can still be recovered). Optional: Glacier Instant Retrieval transition,
 * Object Lock in governance mode, and replication to a second bucket (3-2-1).
 */
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface BackupBucketProps {
  /**
   * Days a noncurrent version (an overwritten or deleted object) is kept before it expires.
   * @default 30
   */
  readonly undoDays?: number;
  /**
   * ARN of a KMS key for SSE-KMS.
   * @default - SSE-S3 (S3-managed keys)
   */
  readonly kmsKeyArn?: string;
  /**
   * Move objects of 128 KiB and more (archives) to Glacier Instant Retrieval after this many days.
   * @default - no transition
   */
  readonly glacierIrAfterDays?: number;
  /**
   * Object Lock default retention in governance mode, in days. Only possible on a new bucket.
   * @default - no Object Lock
   */
  readonly objectLockDays?: number;
  /**
   * ARN of a versioned bucket (ideally in another region or account) that receives a replica of every
   * object. Deletions are not replicated, so the replica also guards against a mistaken prune.
   * @default - no replication
   */
  readonly replicationBucketArn?: string;
  /**
   * ARN of the KMS key replicas are encrypted with; required when both kmsKeyArn and replicationBucketArn are set.
   * @default - replicas use the destination bucket's default encryption
   */
  readonly replicationKmsKeyArn?: string;
  /**
   * Bucket that receives S3 server access logs.
   * @default - no access logs (CloudTrail data events can record object access instead)
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * What happens to the bucket when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class BackupBucket extends Construct {
  readonly bucket: s3.Bucket;
  /** The SSE-KMS key, when one is configured. */
  readonly encryptionKey?: kms.IKey;
  /** Key prefix under which every host's folder lives. */
  readonly backupsPrefix = 'backups/';

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);
    const where = `BackupBucket ${this.node.path}`;
    const undoDays = props.undoDays ?? 30;
    const positiveInt = (name: string, value: number | undefined) => {
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new Error(`${where}: ${name} must be a positive whole number of days, got: ${JSON.stringify(value)}`);
      }
    };
    positiveInt('undoDays', undoDays);
    positiveInt('glacierIrAfterDays', props.glacierIrAfterDays);
    positiveInt('objectLockDays', props.objectLockDays);
    for (const [name, arn, pattern] of [
      ['kmsKeyArn', props.kmsKeyArn, /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+$/],
      ['replicationKmsKeyArn', props.replicationKmsKeyArn, /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+$/],
      ['replicationBucketArn', props.replicationBucketArn, /^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/],
    ] as const) {
      if (arn !== undefined && !pattern.test(arn))
        throw new Error(`${where}: ${name} is not a valid ARN of that kind, got: ${JSON.stringify(arn)}`);
    }
    if (props.kmsKeyArn && props.replicationBucketArn && !props.replicationKmsKeyArn) {
      throw new Error(
        `${where}: replicationKmsKeyArn is required when kmsKeyArn and replicationBucketArn are both set (SSE-KMS objects replicate only to a named key)`,
      );
    }

    this.encryptionKey = props.kmsKeyArn ? kms.Key.fromKeyArn(this, 'Key', props.kmsKeyArn) : undefined;
    const replica = props.replicationBucketArn ? s3.Bucket.fromBucketArn(this, 'Replica', props.replicationBucketArn) : undefined;

    this.bucket = new s3.Bucket(this, 'Bucket', {
      versioned: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      ...(this.encryptionKey
        ? { encryption: s3.BucketEncryption.KMS, encryptionKey: this.encryptionKey, bucketKeyEnabled: true }
        : { encryption: s3.BucketEncryption.S3_MANAGED }),
      ...(props.objectLockDays
        ? { objectLockEnabled: true, objectLockDefaultRetention: s3.ObjectLockRetention.governance(Duration.days(props.objectLockDays)) }
        : {}),
      ...(props.accessLogsBucket ? { serverAccessLogsBucket: props.accessLogsBucket, serverAccessLogsPrefix: 'backup-bucket/' } : {}),
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      lifecycleRules: [
        // A backup cut mid-upload leaves parts behind; they cost money and are never completed.
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
        { id: 'undo-window', noncurrentVersionExpiration: Duration.days(undoDays) },
        { id: 'remove-expired-delete-markers', expiredObjectDeleteMarker: true },
        ...(props.glacierIrAfterDays
          ? [
              {
                // S3 does not transition objects under 128 KiB by default: manifests stay in Standard.
                id: 'glacier-instant-retrieval',
                transitions: [
                  { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(props.glacierIrAfterDays) },
                ],
                noncurrentVersionTransitions: [
                  { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(props.glacierIrAfterDays) },
                ],
              },
            ]
          : []),
      ],
      ...(replica
        ? {
            replicationRules: [
              {
                id: 'replicate-backups',
                destination: replica,
                priority: 1,
                deleteMarkerReplication: false,
                ...(props.kmsKeyArn
                  ? { sseKmsEncryptedObjects: true, kmsKey: kms.Key.fromKeyArn(this, 'ReplicaKey', props.replicationKmsKeyArn as string) }
                  : {}),
              },
            ],
          }
        : {}),
    });
    const replicationRole = this.bucket.node.tryFindChild('ReplicationRole');
    if (replicationRole && props.replicationBucketArn) {
      const reason =
        'S3 replication needs every object version of this bucket and writes any key of the replica bucket; the role is used by S3 only.';
      Validations.of(replicationRole).acknowledge(
        { id: `AwsSolutions-IAM5[Resource::${this.nagArn}/*]`, reason },
        { id: `AwsSolutions-IAM5[Resource::${props.replicationBucketArn}/*]`, reason },
        ...(props.kmsKeyArn
          ? [
              {
                id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
                reason: 'Replicating SSE-KMS objects re-encrypts them under the replica key (CDK grants ReEncrypt*).',
              },
              {
                id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
                reason: 'Replicating SSE-KMS objects encrypts them under the replica key (CDK grants GenerateDataKey*).',
              },
            ]
          : []),
      );
    }
    if (!props.accessLogsBucket) {
      Validations.of(this.bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason:
          'Backups are written by instance roles to their own prefixes and read by restore; CloudTrail S3 data events record object access when required (accessLogsBucket enables server access logs).',
      });
    }
  }

  /** How cdk-nag names this bucket's ARN in granular findings: `<LogicalId.Arn>`. */
  get nagArn(): string {
    return `<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement)}.Arn>`;
  }

  get bucketName(): string {
    return this.bucket.bucketName;
  }

  /** `s3://<bucket>/`: the backup destination hosts write to. */
  get destination(): string {
    return `s3://${this.bucket.bucketName}/`;
  }

  /**
   * Defaults the stack gives the backup and restore-test SSM documents (TaskDocument parameterDefaults):
   * this bucket as the destination, and the `aws-userid` host key that BackupInstancePolicy scopes to.
   */
  documentParameterDefaults(): Record<string, string> {
    return { Destination: this.destination, S3EndpointUrl: '', HostKey: 'aws-userid' };
  }

  /** Lets the prune Lambda list, read and delete below backups/ (and use the KMS key). */
  grantPrune(grantee: iam.IGrantable): void {
    this.bucket.grantRead(grantee, `${this.backupsPrefix}*`);
    this.bucket.grantDelete(grantee, `${this.backupsPrefix}*`);
  }

  /** Lets an operator role read every host's backups (cross-host restore); no write, no delete. */
  grantRestoreAnyHost(grantee: iam.IGrantable): void {
    this.bucket.grantRead(grantee, `${this.backupsPrefix}*`);
  }

  /** Bytes stored (S3 daily storage metric, Standard storage class). */
  metricBucketSizeBytes(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.dailyStorageMetric('BucketSizeBytes', 'StandardStorage', props);
  }

  metricNumberOfObjects(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.dailyStorageMetric('NumberOfObjects', 'AllStorageTypes', props);
  }

  /** S3 publishes storage metrics once a day per bucket and storage type. */
  private dailyStorageMetric(metricName: string, storageType: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/S3',
      metricName,
      dimensionsMap: { BucketName: this.bucket.bucketName, StorageType: storageType },
      statistic: 'Average',
      period: Duration.days(1),
      ...props,
    });
  }
}
