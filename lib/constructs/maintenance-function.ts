/**
 * A gpu-maint Lambda function: one handler file bundled with local esbuild (minified), nodejs22.x on
 * arm64, its own role and its own log group with the configured retention. The dispatch, collect and
 * later Lambdas all use it, so they share one runtime and bundling decision.
 */
import * as path from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS: readonly number[] = Object.values(logs.RetentionDays).filter(
  (v): v is number => typeof v === 'number' && v > 0,
);

/** Maps a day count to CloudWatch's retention setting. @throws naming the value and the allowed ones. */
export function logRetention(days: number): logs.RetentionDays {
  if (!LOG_RETENTION_DAYS.includes(days)) {
    throw new Error(`log retention must be one of ${LOG_RETENTION_DAYS.join(', ')} days (CloudWatch Logs' values), got: ${days}`);
  }
  return days as logs.RetentionDays;
}

export interface MaintenanceFunctionProps {
  /** Handler file under lambda/handlers, e.g. `dispatch` for lambda/handlers/dispatch.ts (export `handler`). */
  readonly handler: string;
  readonly description: string;
  /** Environment variables: the function's only configuration. */
  readonly environment: Readonly<Record<string, string>>;
  /** Days its logs are kept (a CloudWatch Logs retention value). */
  readonly logRetentionDays: number;
  /**
   * @default 60
   */
  readonly timeoutSeconds?: number;
  /**
   * @default 256
   */
  readonly memorySizeMiB?: number;
  /**
   * Bundle the pinned AWS SDK into the function instead of using the runtime's copy. Bundled and
   * minified, the SDK clients load faster than the runtime's (see docs/deploy.md for the measurement)
   * and the code runs the SDK version it was tested with.
   * @default true
   */
  readonly bundleAwsSdk?: boolean;
}

export class MaintenanceFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: MaintenanceFunctionProps) {
    super(scope, id);
    const where = `MaintenanceFunction ${this.node.path}`;
    if (!/^[a-z0-9-]+$/.test(props.handler))
      throw new Error(`${where}: handler must be a file name under lambda/handlers, got: ${JSON.stringify(props.handler)}`);
    const timeoutSeconds = props.timeoutSeconds ?? 60;
    const memorySizeMiB = props.memorySizeMiB ?? 256;
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 900) {
      throw new Error(`${where}: timeoutSeconds must be an integer 1-900, got: ${timeoutSeconds}`);
    }
    if (!Number.isInteger(memorySizeMiB) || memorySizeMiB < 128 || memorySizeMiB > 10_240) {
      throw new Error(`${where}: memorySizeMiB must be an integer 128-10240, got: ${memorySizeMiB}`);
    }

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logRetention(props.logRetentionDays) });
    // Own role with write access to its own log group only (no AWSLambdaBasicExecutionRole on *).
    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: props.description });
    this.logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, 'lambda', 'handlers', `${props.handler}.ts`),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: memorySizeMiB,
      timeout: Duration.seconds(timeoutSeconds),
      role: this.role,
      logGroup: this.logGroup,
      environment: { POWERTOOLS_LOG_LEVEL: 'INFO', ...props.environment },
      bundling: {
        minify: true,
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        // ESM entry points let esbuild drop the unused parts of the SDK and Powertools.
        mainFields: ['module', 'main'],
        bundleAwsSDK: props.bundleAwsSdk ?? true,
        sourceMap: false,
        // esbuild's per-bundle summary (file, size, time) is noise in `cdk synth -q`; its warnings and errors still print.
        logLevel: nodejs.LogLevel.WARNING,
      },
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'nodejs22.x is the runtime this project targets and tests (CI runs Node 20/22 toolchains); move with the toolchain.',
    });
  }

  metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricErrors({ statistic: 'Sum', ...props });
  }

  metricThrottles(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricThrottles({ statistic: 'Sum', ...props });
  }

  metricDuration(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricDuration({ statistic: 'Maximum', ...props });
  }
}
