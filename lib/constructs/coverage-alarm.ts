/**
 * The coverage alarm of a scheduled task: results reported (ResultsReported, one per host whose script
 * ran; DeliveryTimedOut and other never-ran invocations count 0) against the results the dispatcher
 * expected (ExpectedResults, the instances SSM resolved the fleet tag to). It fires when the share stays
 * below `minShare`, which a single healthy host cannot hide (the heartbeat it replaces needed one result
 * anywhere), and when nothing is dispatched or reported at all (missing data is breaching).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { COVERAGE_ALARM_DEFAULTS, coverageAlarmName, EXPECTED_RESULTS_METRIC } from '../../lambda/core/coverage';
import { METRICS } from '../../lambda/core/metric-names';

export interface CoverageAlarmProps {
  /** The fleet metrics' namespace (metrics.namespace). */
  readonly namespace: string;
  /** Fleet name (the Fleet dimension). */
  readonly fleet: string;
  /** Scheduled task whose coverage is watched, e.g. `gpu-check`. */
  readonly task: string;
  /**
   * Share of the expected results below which the alarm fires, 0-1.
   * @default 0.8
   */
  readonly minShare?: number;
  /**
   * Minutes per evaluated period; at least two of the task's schedule periods, so results that arrive
   * after their dispatch's period ends even out.
   * @default 15
   */
  readonly periodMinutes?: number;
  /**
   * Consecutive low periods before the alarm fires.
   * @default 2
   */
  readonly evaluationPeriods?: number;
}

export class CoverageAlarm extends Construct {
  readonly alarm: cloudwatch.Alarm;
  /** reported / expected per period, for dashboards. */
  readonly coverage: cloudwatch.MathExpression;

  constructor(scope: Construct, id: string, props: CoverageAlarmProps) {
    super(scope, id);
    const minShare = props.minShare ?? COVERAGE_ALARM_DEFAULTS.minShare;
    const periodMinutes = props.periodMinutes ?? COVERAGE_ALARM_DEFAULTS.periodMinutes;
    const evaluationPeriods = props.evaluationPeriods ?? COVERAGE_ALARM_DEFAULTS.evaluationPeriods;
    const where = `CoverageAlarm ${this.node.path}`;
    if (!(minShare > 0 && minShare <= 1)) throw new Error(`${where}: minShare must be in (0, 1], got: ${minShare}`);
    if (!Number.isInteger(periodMinutes) || periodMinutes < 1 || periodMinutes > 1440)
      throw new Error(`${where}: periodMinutes must be an integer 1-1440, got: ${periodMinutes}`);
    if (!Number.isInteger(evaluationPeriods) || evaluationPeriods < 1)
      throw new Error(`${where}: evaluationPeriods must be a positive integer, got: ${evaluationPeriods}`);
    const period = Duration.minutes(periodMinutes);
    const dimensionsMap = { Fleet: props.fleet, Task: props.task };
    const metric = (metricName: string) =>
      new cloudwatch.Metric({ namespace: props.namespace, metricName, dimensionsMap, statistic: 'Sum', period });
    this.coverage = new cloudwatch.MathExpression({
      // An empty fleet (expected 0) is fully covered; reported with no datapoint is 0.
      expression: 'IF(expected > 0, FILL(reported, 0) / expected, 1)',
      usingMetrics: { reported: metric(METRICS.ResultsReported), expected: metric(EXPECTED_RESULTS_METRIC) },
      period,
      label: `${props.task} coverage`,
    });
    this.alarm = this.coverage.createAlarm(this, 'Alarm', {
      alarmName: coverageAlarmName(Stack.of(this).stackName, props.task),
      alarmDescription:
        `[CRITICAL] Fewer than ${Math.round(minShare * 100)}% of the instances ${props.task} was dispatched to reported for ${evaluationPeriods} × ${periodMinutes} minutes ` +
        '(or nothing was dispatched): hosts down or unreachable by SSM, the schedule, dispatch or the collector broken. Runbook: docs/troubleshooting.md#no-results-on-the-dashboard',
      threshold: minShare,
      evaluationPeriods,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      // No dispatch and no result is the failure this alarm exists for.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}
