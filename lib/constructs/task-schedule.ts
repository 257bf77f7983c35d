/**
 * One task's EventBridge Scheduler schedule: invokes the dispatch Lambda with `{ "task": ... }` (and its
 * `shard` for a schedule shard of a large fleet) on the configured expression, in the configured time
 * zone, within an optional flexible window (to spread a fleet's load), with retries and a dead-letter queue.
 */
import { CfnElement, Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { TaskName } from '../../lambda/core/types';

export interface TaskScheduleProps {
  /** Task the schedule dispatches, e.g. `gpu-check`. */
  readonly task: TaskName;
  /**
   * Schedule shard this schedule dispatches (`{ task, shard }`: the hosts of that shard tag).
   * @default - the whole fleet
   */
  readonly shard?: number;
  /** EventBridge Scheduler expression, e.g. `rate(5 minutes)` or `cron(0 2 * * ? *)`. */
  readonly expression: string;
  /** The dispatch Lambda. */
  readonly target: lambda.IFunction;
  /**
   * IANA time zone cron expressions are evaluated in.
   * @default 'UTC'
   */
  readonly timeZone?: string;
  /**
   * Window in minutes within which the schedule may fire, to spread load; 0 fires at the exact time.
   * @default 0
   */
  readonly flexibleWindowMinutes?: number;
  /**
   * @default true
   */
  readonly enabled?: boolean;
  /**
   * Group the schedule belongs to.
   * @default - the account's default group
   */
  readonly group?: scheduler.IScheduleGroup;
  /**
   * Where invocations that still fail after the retries go.
   * @default - none (failed invocations are dropped)
   */
  readonly deadLetterQueue?: sqs.IQueue;
  /**
   * Retries when invoking the dispatch Lambda fails.
   * @default 3
   */
  readonly retryAttempts?: number;
  /**
   * Give up retrying after this many minutes (1-1440).
   * @default 30
   */
  readonly maxEventAgeMinutes?: number;
}

export class TaskSchedule extends Construct {
  readonly schedule: scheduler.Schedule;
  /** The role EventBridge Scheduler assumes to invoke the dispatch Lambda. */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: TaskScheduleProps) {
    super(scope, id);
    const where = `TaskSchedule ${this.node.path}`;
    const timeZone = props.timeZone ?? 'UTC';
    const windowMinutes = props.flexibleWindowMinutes ?? 0;
    const retryAttempts = props.retryAttempts ?? 3;
    const maxEventAgeMinutes = props.maxEventAgeMinutes ?? 30;
    if (!/^(rate|cron|at)\(.+\)$/.test(props.expression)) {
      throw new Error(`${where}: expression must be rate(...), cron(...) or at(...), got: ${JSON.stringify(props.expression)}`);
    }
    try {
      new Intl.DateTimeFormat('en', { timeZone });
    } catch {
      throw new Error(`${where}: timeZone must be an IANA time zone such as Europe/Berlin, got: ${JSON.stringify(timeZone)}`);
    }
    if (!Number.isInteger(windowMinutes) || windowMinutes < 0 || windowMinutes > 1440) {
      throw new Error(`${where}: flexibleWindowMinutes must be an integer 0-1440, got: ${windowMinutes}`);
    }
    if (!Number.isInteger(retryAttempts) || retryAttempts < 0 || retryAttempts > 185) {
      throw new Error(`${where}: retryAttempts must be an integer 0-185, got: ${retryAttempts}`);
    }
    if (!Number.isInteger(maxEventAgeMinutes) || maxEventAgeMinutes < 1 || maxEventAgeMinutes > 1440) {
      throw new Error(`${where}: maxEventAgeMinutes must be an integer 1-1440, got: ${maxEventAgeMinutes}`);
    }

    if (props.shard !== undefined && !(Number.isInteger(props.shard) && props.shard >= 0)) {
      throw new Error(`${where}: shard must be a whole number from 0, got: ${props.shard}`);
    }
    const what = props.shard === undefined ? props.task : `${props.task} shard ${props.shard}`;
    this.role = new iam.Role(this, 'Role', {
      description: `EventBridge Scheduler invoking gpu-maint dispatch for ${what}`,
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com').withConditions({
        StringEquals: { 'aws:SourceAccount': Stack.of(this).account },
      }),
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `gpu-maint ${what}`,
      schedule: scheduler.ScheduleExpression.expression(props.expression, TimeZone.of(timeZone)),
      timeWindow: windowMinutes > 0 ? scheduler.TimeWindow.flexible(Duration.minutes(windowMinutes)) : scheduler.TimeWindow.off(),
      enabled: props.enabled ?? true,
      scheduleGroup: props.group,
      target: new targets.LambdaInvoke(props.target, {
        role: this.role,
        input: scheduler.ScheduleTargetInput.fromObject({ task: props.task, ...(props.shard === undefined ? {} : { shard: props.shard }) }),
        deadLetterQueue: props.deadLetterQueue,
        retryAttempts,
        maxEventAge: Duration.minutes(maxEventAgeMinutes),
      }),
    });
    // The schedule names its group by a literal name: without the dependency CloudFormation may create it first.
    if (props.group) this.schedule.node.addDependency(props.group);
    const fn = props.target.node.defaultChild;
    if (fn instanceof CfnElement) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(fn)}.Arn>:*]`,
        reason: 'LambdaInvoke grants lambda:InvokeFunction on the dispatch function and its versions (ARN:*); no other function.',
      });
    }
  }
}
