/**
 * The managed policy GPU instance roles need for backups: each instance lists, reads and writes only
 * its own folder `backups/${aws:userid}/` of the backup bucket, and deletes nothing.
 *
 * Why `${aws:userid}`: for a role assumed by an EC2 instance (or an SSM hybrid node) IAM sets
 * aws:userid to `<role id>:<instance id>`, and it is the one per-instance value an S3 resource ARN can
 * be scoped to. `${ec2:InstanceID}` names the *target* instance of EC2 API calls and does not resolve
 * in S3 requests; `ec2:SourceInstanceARN` holds the full instance ARN, which is not a key segment. So
 * hosts write with GPU_MAINT_BACKUP_HOST_KEY=aws-userid (BackupBucket.documentParameterDefaults), and
 * their folder is `backups/<role id>:<instance id>/`.
 */
import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { BackupBucket } from './backup-bucket';

/** The IAM policy variable a host's backup folder is named after. */
export const INSTANCE_FOLDER_VARIABLE = '${aws:userid}';

export interface BackupInstancePolicyProps {
  readonly backupBucket: BackupBucket;
  /**
   * Roles to attach the policy to (the fleet's instance role; hybrid nodes' service role).
   * @default - none; attach `policy` yourself
   */
  readonly roles?: readonly iam.IRole[];
}

export class BackupInstancePolicy extends Construct {
  readonly policy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: BackupInstancePolicyProps) {
    super(scope, id);
    const bucket = props.backupBucket.bucket;
    const ownFolder = `${props.backupBucket.backupsPrefix}${INSTANCE_FOLDER_VARIABLE}/`;
    const statements = [
      new iam.PolicyStatement({
        sid: 'ListOwnBackups',
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${ownFolder}*`] } },
      }),
      new iam.PolicyStatement({
        sid: 'ReadWriteOwnBackups',
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [bucket.arnForObjects(`${ownFolder}*`)],
      }),
      // Belt and braces: whatever else the role is granted, it cannot delete or unlock backups.
      new iam.PolicyStatement({
        sid: 'DenyDeletingBackups',
        effect: iam.Effect.DENY,
        actions: [
          's3:DeleteObject',
          's3:DeleteObjectVersion',
          's3:DeleteObjectTagging',
          's3:DeleteObjectVersionTagging',
          's3:BypassGovernanceRetention',
          's3:PutObjectRetention',
          's3:PutObjectLegalHold',
          's3:PutLifecycleConfiguration',
          's3:PutBucketVersioning',
          's3:PutBucketPolicy',
          's3:DeleteBucket',
          's3:DeleteBucketPolicy',
        ],
        resources: [bucket.bucketArn, bucket.arnForObjects('*')],
      }),
    ];
    const key = props.backupBucket.encryptionKey;
    if (key) {
      statements.push(
        new iam.PolicyStatement({
          sid: 'UseBackupKeyThroughS3',
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: [key.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
        }),
      );
    }
    this.policy = new iam.ManagedPolicy(this, 'Policy', {
      description: `gpu-maint (${Stack.of(this).stackName}): each instance reads and writes only backups/<role id>:<instance id>/ in the backup bucket; no deletes.`,
      statements,
      roles: props.roles ? [...props.roles] : undefined,
    });
    Validations.of(this.policy).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${props.backupBucket.nagArn}/${props.backupBucket.backupsPrefix}<aws:userid>/*]`,
      reason:
        "Objects are scoped to the caller's own folder backups/${aws:userid}/* (archive and manifest names are not known in advance); deletes are denied.",
    });
  }
}
