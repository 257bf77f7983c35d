/**
 * The prune Lambda (lambda/handlers/prune.ts) on a daily EventBridge Scheduler schedule: applies backup
 * retention to the backup bucket host by host, logs each host's snapshot age, and publishes
 * SnapshotAgeHours (Maximum = the fleet's worst). An alarm fires when the worst host's newest snapshot
 * is older than maxAgeHours, or when the audit stops reporting (missing data is breaching).
 */

import { CfnElement, Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { z } from 'zod';
import { PRUNE_ENV } from '../../lambda/core/lambda-env';
import { METRICS } from '../../lambda/core/metric-names';
import type { BackupBucket } from './backup-bucket';
import { MaintenanceFunction } from './maintenance-function';

/** The audit runs daily; periods of 6 h, all 5 breaching, tolerate a run up to ~6 h late. */
const ALARM_PERIOD = Duration.hours(6);
const ALARM_PERIODS = 5;

export interface BackupPrunerProps {
  readonly backupBucket: BackupBucket;
  /** Fleet name: the Fleet dimension of the metrics. */
  readonly fleet: string;
  /** CloudWatch namespace of the project's metrics. */
  readonly metricsNamespace: string;
  /** A host whose newest snapshot is older than this is stale (backup.maxAgeHours). */
  readonly maxAgeHours: number;
  /** backup.retention: keepLast ≥ 1, keepDaily/Weekly/Monthly ≥ 0, graceDays ≥ 0. */
  readonly retention: {
    readonly keepLast: number;
    readonly keepDaily: number;
    readonly keepWeekly: number;
    readonly keepMonthly: number;
    readonly graceDays: number;
  };
  /**
   * Raise the stale-backup alarm; false when backups of this fleet do not go to this bucket.
   * @default true
   */
  readonly staleBackupAlarm?: boolean;
  /**
   * Actions of the stale-backup alarm (e.g. an SnsAction on the alert topic).
   * @default - none here: pass `staleBackupAlarm` to Monitoring.addAlarm, which adds the alert topic
   */
  readonly alarmActions?: readonly cloudwatch.IAlarmAction[];
  /** Days the function's logs (the per-host audit lines) are kept. */
  readonly logRetentionDays: number;
  /**
   * EventBridge Scheduler expression.
   * @default 'cron(0 6 * * ? *)'
   */
  readonly scheduleExpression?: string;
  /**
   * IANA time zone of the expression.
   * @default 'UTC'
   */
  readonly timeZone?: string;
  /**
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Group the schedule belongs to.
   * @default - the account's default group
   */
  readonly scheduleGroup?: scheduler.IScheduleGroup;
  /**
   * Where invocations that still fail after the retries go.
   * @default - none
   */
  readonly deadLetterQueue?: sqs.IQueue;
}

export class BackupPruner extends Construct {
  readonly function: MaintenanceFunction;
  readonly schedule: scheduler.Schedule;
  /** Absent when `staleBackupAlarm` is false. */
  readonly staleBackupAlarm?: cloudwatch.Alarm;
  private readonly namespace: string;
  private readonly fleet: string;
  private readonly maxAgeHours: number;

  constructor(scope: Construct, id: string, props: BackupPrunerProps) {
    super(scope, id);
    const where = `BackupPruner ${this.node.path}`;
    const r = props.retention;
    if (!Number.isInteger(r.keepLast) || r.keepLast < 1)
      throw new Error(`${where}: retention.keepLast must be an integer ≥ 1, got: ${JSON.stringify(r.keepLast)}`);
    for (const k of ['keepDaily', 'keepWeekly', 'keepMonthly'] as const) {
      if (!Number.isInteger(r[k]) || r[k] < 0)
        throw new Error(`${where}: retention.${k} must be an integer ≥ 0, got: ${JSON.stringify(r[k])}`);
    }
    if (!(r.graceDays >= 0)) throw new Error(`${where}: retention.graceDays must be ≥ 0, got: ${JSON.stringify(r.graceDays)}`);
    if (!(props.maxAgeHours > 0)) throw new Error(`${where}: maxAgeHours must be > 0, got: ${JSON.stringify(props.maxAgeHours)}`);
    const expression = props.scheduleExpression ?? 'cron(0 6 * * ? *)';
    if (!/^(rate|cron)\(.+\)$/.test(expression))
      throw new Error(`${where}: scheduleExpression must be rate(...) or cron(...), got: ${JSON.stringify(expression)}`);
    const timeZone = props.timeZone ?? 'UTC';
    try {
      new Intl.DateTimeFormat('en', { timeZone });
    } catch {
      throw new Error(`${where}: timeZone must be an IANA time zone such as Europe/Berlin, got: ${JSON.stringify(timeZone)}`);
    }
    this.namespace = props.metricsNamespace;
    this.fleet = props.fleet;
    this.maxAgeHours = props.maxAgeHours;

    const settings: z.input<typeof PRUNE_ENV.schema> = {
      bucket: props.backupBucket.bucketName,
      prefix: '',
      namespace: props.metricsNamespace,
      fleet: props.fleet,
      maxAgeHours: props.maxAgeHours,
      retention: {
        keepLast: r.keepLast,
        keepDaily: r.keepDaily,
        keepWeekly: r.keepWeekly,
        keepMonthly: r.keepMonthly,
        graceDays: r.graceDays,
      },
    };
    this.function = new MaintenanceFunction(this, 'Prune', {
      handler: 'prune',
      description: 'gpu-maint: backup retention and snapshot-age audit over the backup bucket',
      logRetentionDays: props.logRetentionDays,
      timeoutSeconds: 900,
      memorySizeMiB: 512,
      environment: {
        [PRUNE_ENV.variable]: Stack.of(this).toJsonString(settings),
      },
    });
    props.backupBucket.grantPrune(this.function.role);
    // A fleet too large for one invocation is pruned in parts, each invoking the next (lambda/handlers/prune.ts).
    // A policy of its own: in the role's default policy the function's ARN would make a dependency cycle.
    new iam.Policy(this, 'ContinuePolicy', {
      roles: [this.function.role],
      statements: [new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.function.function.functionArn] })],
    });
    // The parts are an intended, bounded (MAX_PRUNE_PARTS) recursion: Lambda's loop detection would stop
    // them (https://docs.aws.amazon.com/lambda/latest/dg/invocation-recursion.html).
    (this.function.function.node.defaultChild as lambda.CfnFunction).recursiveLoop = 'Allow';
    this.function.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': props.metricsNamespace } },
      }),
    );
    const pruneReason =
      'Prune lists, reads and deletes any object below backups/ of the backup bucket (every host; names not known in advance).';
    Validations.of(this.function.role).acknowledge(
      { id: `AwsSolutions-IAM5[Resource::${props.backupBucket.nagArn}/${props.backupBucket.backupsPrefix}*]`, reason: pruneReason },
      { id: 'AwsSolutions-IAM5[Action::s3:GetObject*]', reason: `${pruneReason} (CDK grantRead)` },
      { id: 'AwsSolutions-IAM5[Action::s3:GetBucket*]', reason: `${pruneReason} (CDK grantRead, on the bucket itself)` },
      { id: 'AwsSolutions-IAM5[Action::s3:List*]', reason: `${pruneReason} (CDK grantRead, on the bucket itself)` },
      {
        id: 'AwsSolutions-IAM5[Action::s3:DeleteObject*]',
        reason: `${pruneReason} (CDK grantDelete; versioning keeps deleted objects for undoDays)`,
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'cloudwatch:PutMetricData has no resource ARN; the condition limits it to the project namespace.',
      },
    );

    const role = new iam.Role(this, 'ScheduleRole', {
      description: 'EventBridge Scheduler invoking the gpu-maint backup prune Lambda',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
      }),
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'gpu-maint backup prune',
      schedule: scheduler.ScheduleExpression.expression(expression, TimeZone.of(timeZone)),
      timeWindow: scheduler.TimeWindow.off(),
      enabled: props.enabled ?? true,
      scheduleGroup: props.scheduleGroup,
      target: new targets.LambdaInvoke(this.function.function, {
        role,
        input: scheduler.ScheduleTargetInput.fromObject({ dryRun: false }),
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge: Duration.hours(2),
      }),
    });
    // The schedule names its group by a literal name: without the dependency CloudFormation may create it first.
    if (props.scheduleGroup) this.schedule.node.addDependency(props.scheduleGroup);
    const fn = this.function.function.node.defaultChild;
    if (fn instanceof CfnElement) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(fn)}.Arn>:*]`,
        reason: 'LambdaInvoke grants lambda:InvokeFunction on the prune function and its versions (ARN:*); no other function.',
      });
    }

    // A bucket nobody backs up to (backups disabled, or sent to another bucket) would hold this alarm in
    // ALARM forever: no alarm then.
    if (props.staleBackupAlarm ?? true) {
      const alarm = new cloudwatch.Alarm(this, 'StaleBackupsAlarm', {
        alarmDescription:
          `A host's newest backup snapshot is older than ${props.maxAgeHours} h, or the daily backup audit stopped reporting. ` +
          'The prune function log (message "backup audit", severity warning/critical) names the hosts. Runbook: docs/backup.md#stale-backups',
        metric: this.metricSnapshotAgeHours({ period: ALARM_PERIOD }),
        threshold: props.maxAgeHours,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        // One datapoint a day: the periods without one count as breaching, so the alarm needs all of them
        // breaching: the day's datapoint is stale, or there was none for the whole window.
        evaluationPeriods: ALARM_PERIODS,
        datapointsToAlarm: ALARM_PERIODS,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      for (const action of props.alarmActions ?? []) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
      this.staleBackupAlarm = alarm;
    }
  }

  private metric(metricName: string, statistic: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { Fleet: this.fleet },
      statistic,
      period: Duration.days(1),
      ...props,
    });
  }

  /** Age in hours of each host's newest snapshot at the daily audit; Maximum is the fleet's worst. */
  metricSnapshotAgeHours(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.SnapshotAgeHours, 'Maximum', props);
  }

  metricHostsStale(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.BackupHostsStale, 'Maximum', props);
  }

  metricSnapshotsPruned(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.SnapshotsPruned, 'Sum', props);
  }

  metricPruneBytesFreed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.PruneBytesFreed, 'Sum', props);
  }

  metricPruneErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.PruneErrors, 'Sum', props);
  }

  /** Backup runs that succeeded / failed (from the backup task's results; Minimum 0 = some host failed). */
  metricBackupSuccess(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.BackupSuccess, 'Minimum', props);
  }

  metricBackupBytesUploaded(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.BackupBytesUploaded, 'Sum', props);
  }

  metricBackupDurationSeconds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.BackupDurationSeconds, 'Maximum', props);
  }

  metricRestoreTestSuccess(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(METRICS.RestoreTestSuccess, 'Minimum', props);
  }

  /** Dashboard widgets for backups: age, success, volume, restore tests, and the per-host audit. */
  dashboardWidgets(): cloudwatch.IWidget[] {
    return [
      new cloudwatch.GraphWidget({
        title: 'Backups: worst snapshot age (h)',
        left: [this.metricSnapshotAgeHours()],
        leftAnnotations: [{ value: this.maxAgeHours, label: 'backup.maxAgeHours' }],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Backups: success (min) and restore tests (min)',
        left: [this.metricBackupSuccess(), this.metricRestoreTestSuccess({ period: Duration.days(7) })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Backups: bytes uploaded, pruned',
        left: [this.metricBackupBytesUploaded(), this.metricPruneBytesFreed()],
        right: [this.metricBackupDurationSeconds()],
        width: 8,
      }),
      new cloudwatch.LogQueryWidget({
        title: 'Backups: newest snapshot per host (daily audit)',
        logGroupNames: [this.function.logGroup.logGroupName],
        queryLines: [
          'filter message = "backup audit"',
          'stats latest(newestAgeHours) as ageHours, latest(newestSnapshot) as newest, latest(severity) as severity by hostKey, host',
          'sort ageHours desc',
          'limit 50',
        ],
        width: 24,
      }),
    ];
  }
}
