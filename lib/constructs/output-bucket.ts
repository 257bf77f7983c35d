/**
 * The bucket SSM Run Command writes full command output to (GetCommandInvocation keeps only the first
 * 24,000 characters). Output is transient: objects expire; TLS only; no public access.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface OutputBucketProps {
  /**
   * Days command output is kept.
   * @default 30
   */
  readonly expirationDays?: number;
  /**
   * Key prefix command output goes under; ends with `/`.
   * @default 'command-output/'
   */
  readonly outputKeyPrefix?: string;
  /**
   * What happens to the bucket when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class OutputBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly outputKeyPrefix: string;

  constructor(scope: Construct, id: string, props: OutputBucketProps = {}) {
    super(scope, id);
    const expirationDays = props.expirationDays ?? 30;
    this.outputKeyPrefix = props.outputKeyPrefix ?? 'command-output/';
    if (!Number.isInteger(expirationDays) || expirationDays < 1) {
      throw new Error(`OutputBucket ${this.node.path}: expirationDays must be a positive integer, got: ${expirationDays}`);
    }
    if (!/^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*\/$/.test(this.outputKeyPrefix)) {
      throw new Error(
        `OutputBucket ${this.node.path}: outputKeyPrefix must be a key prefix ending in "/", got: ${JSON.stringify(this.outputKeyPrefix)}`,
      );
    }
    this.bucket = new s3.Bucket(this, 'Bucket', {
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: 'expire-command-output', prefix: this.outputKeyPrefix, expiration: Duration.days(expirationDays) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        "Holds transient command output that expires; reads and writes are by this stack's roles only (CloudTrail data events can log them if required).",
    });
  }

  /** ARN pattern of the command output objects. */
  get outputObjectsArn(): string {
    return this.bucket.arnForObjects(`${this.outputKeyPrefix}*`);
  }

  /** Lets a reader (the collector) get command output objects, and nothing else. */
  grantReadOutput(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['s3:GetObject'], resourceArns: [this.outputObjectsArn] });
  }
}
