/**
 * The one monitoring entry point: the CloudWatch dashboard (fleet overview from the fleet-level
 * metrics, per-host drill-down from the collector's per-result log lines, SEARCH widgets when
 * per-instance or per-GPU metrics are on, pipeline health) and the pipeline alarms, each with SNS
 * actions and an explicit TreatMissingData, Warning and Critical side by side where both make sense.
 *
 * Later features add to it: `monitorFunction` (a Lambda's widgets and error alarms), `addAlarm`
 * (actions + alarm status widget) and `addSection` (their own dashboard rows).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { ThresholdLevels, Thresholds } from '../../lambda/config/schema';
import { BYTES_FREED_BY_CATEGORY, METRICS } from '../../lambda/core/metric-names';
import type { MaintenanceFunction } from './maintenance-function';
import type { ResultCollector } from './result-collector';
import { HOST_VARIABLE_PATTERN, hostVariable, ResultLogWidgets } from './result-log-widgets';
import type { TaskScheduleGroup } from './task-schedule-group';

/** Fleet-level metric names the dashboard and alarms read (named once in lambda/core/metric-names.ts). */
export const FLEET_METRICS = {
  resultsReported: METRICS.ResultsReported,
  taskFailed: METRICS.TaskFailed,
  findingsCritical: METRICS.FindingsCritical,
  findingsWarning: METRICS.FindingsWarning,
  gpuTemperatureMax: METRICS.GpuTemperatureMax,
  gpusUnhealthy: METRICS.GpusUnhealthy,
  xidEvents: METRICS.XidEvents,
  diskUsedPctMax: METRICS.DiskUsedPctMax,
  memoryAvailablePct: METRICS.MemoryAvailablePct,
  loadPerCpu: METRICS.LoadPerCpu,
} as const;

/** Fleet-level metric names of cleanup results. */
export const CLEANUP_METRICS = {
  bytesFreedByCategory: BYTES_FREED_BY_CATEGORY,
  deletedFiles: METRICS.CleanupDeletedFiles,
  diskUsedPctAfter: METRICS.DiskUsedPctAfter,
  bytesReclaimable: METRICS.BytesReclaimable,
} as const;

/** Per-GPU series (metrics.detail `gpu`). */
export const GPU_METRICS = { temperature: METRICS.GpuTemperature } as const;

export type AlarmSeverity = 'warning' | 'critical';

export interface MonitoringProps {
  /** Dashboard name (letters, digits, - and _). */
  readonly dashboardName: string;
  /** CloudWatch namespace of the fleet metrics. */
  readonly namespace: string;
  /** Value of the Fleet dimension. */
  readonly fleet: string;
  /** `instance` and `gpu` add SEARCH widgets over the per-instance and per-GPU series. */
  readonly metricDetail: 'fleet' | 'instance' | 'gpu';
  /** Tasks with documents in this stack (one "results reported" line each). */
  readonly tasks: readonly string[];
  /** Drawn as warning/critical lines on the fleet graphs. */
  readonly thresholds: Thresholds;
  /** Topic every alarm notifies (ALARM and OK). */
  readonly alarmTopic: sns.ITopic;
  readonly dispatcher: MaintenanceFunction;
  readonly collector: ResultCollector;
  readonly schedules: TaskScheduleGroup;
  /**
   * Minutes between gpu-check runs; the stale-hosts table and "instances reporting" use it.
   * @default 5
   */
  readonly gpuCheckPeriodMinutes?: number;
  /**
   * Base of the runbook links on the dashboard (`#<check>` is appended); links are clickable when it
   * is a web address (alerts.runbookUrl).
   * @default 'docs/runbook.md'
   */
  readonly runbookUrl?: string;
}

const FIVE_MINUTES = Duration.minutes(5);

function thresholdLines(levels: ThresholdLevels, unit: string): cloudwatch.HorizontalAnnotation[] {
  const lines: cloudwatch.HorizontalAnnotation[] = [];
  if (levels.warning !== null)
    lines.push({ value: levels.warning, label: `warning ${levels.warning}${unit}`, color: cloudwatch.Color.ORANGE });
  if (levels.critical !== null)
    lines.push({ value: levels.critical, label: `critical ${levels.critical}${unit}`, color: cloudwatch.Color.RED });
  return lines;
}

export class Monitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm registered here (all have actions). */
  readonly alarms: cloudwatch.Alarm[] = [];
  private readonly props: MonitoringProps;
  private readonly alarmAction: actions.SnsAction;
  private readonly runbookUrl: string;
  private readonly resultLogs: ResultLogWidgets;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(props.dashboardName)) {
      throw new Error(
        `Monitoring ${this.node.path}: dashboardName must be letters, digits, - and _, got: ${JSON.stringify(props.dashboardName)}`,
      );
    }
    const gpuCheckPeriodMinutes = props.gpuCheckPeriodMinutes ?? 5;
    if (!Number.isInteger(gpuCheckPeriodMinutes) || gpuCheckPeriodMinutes < 1 || gpuCheckPeriodMinutes > 1440) {
      throw new Error(`Monitoring ${this.node.path}: gpuCheckPeriodMinutes must be an integer 1-1440, got: ${gpuCheckPeriodMinutes}`);
    }
    this.props = props;
    this.runbookUrl = props.runbookUrl ?? 'docs/runbook.md';
    this.alarmAction = new actions.SnsAction(props.alarmTopic);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(6),
      variables: [hostVariable()],
    });
    const logs = new ResultLogWidgets({ logGroupName: props.collector.handler.logGroup.logGroupName, gpuCheckPeriodMinutes });

    // "What is broken now" first: alarms, hosts with findings, stale hosts, reporting vs expected.
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms: pipeline and fleet',
        alarms: this.alarms,
        width: 16,
        height: 5,
      }),
      new cloudwatch.TextWidget({
        markdown: [
          `# GPU fleet \`${props.fleet}\``,
          `Now: ${this.runbookLink('findings by check', '')} · ${this.runbookLink('stale hosts', 'host.stale')} · ${this.runbookLink('failed runs', 'task.failed')}.`,
          `Metrics: \`${props.namespace}\`, detail \`${props.metricDetail}\`; fleet graphs aggregate every host (Maximum = worst host).`,
          `Per-host views: set the **host** variable (a regex) above; they read the collector's result log.`,
        ].join('\n\n'),
        width: 8,
        height: 5,
      }),
    );
    this.dashboard.addWidgets(
      logs.findingsNow({ width: 12, height: 7 }),
      logs.staleHosts({ width: 6, height: 7 }),
      this.reportingVersusExpected(gpuCheckPeriodMinutes),
    );

    this.addSection('Fleet', ...this.fleetOverview());
    this.addSection(`Drill-down (host variable: /${HOST_VARIABLE_PATTERN}/)`, ...logs.fleetTables(), ...logs.hostDrillDown());
    if (props.metricDetail !== 'fleet') this.addDetailSearches();
    this.resultLogs = logs;

    this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: '## Pipeline', width: 24, height: 1 }));
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Results queue: oldest message age (s) / dead letters',
        left: [props.collector.metricQueueAge({ period: FIVE_MINUTES, label: 'oldest result age (s)' })],
        right: [props.collector.metricDeadLetterMessages({ period: FIVE_MINUTES, label: 'results DLQ' })],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Schedules: target errors / dropped / DLQ',
        left: [
          props.schedules.metricTargetErrors({ period: FIVE_MINUTES, label: 'target errors' }),
          props.schedules.metricDropped({ period: FIVE_MINUTES, label: 'dropped' }),
        ],
        right: [props.schedules.metricDeadLetterMessages({ period: FIVE_MINUTES, label: 'schedule DLQ' })],
        width: 12,
      }),
    );
    // Pipeline alarms (the alarm status widget at the top lists them all, including ones added later).
    this.monitorFunction('dispatch', props.dispatcher);
    this.monitorFunction('collect', props.collector.handler);
    this.addWarningCritical('results-queue-age', {
      metric: props.collector.metricQueueAge({ period: FIVE_MINUTES }),
      warning: 600,
      critical: 1800,
      what: 'oldest uncollected result (seconds)',
      runbook: 'results-queue-backlog',
    });
    this.addAnyOccurrenceAlarm('ResultsDeadLetterAlarm', props.collector.metricDeadLetterMessages({ period: FIVE_MINUTES }), {
      name: 'results-dlq-not-empty',
      severity: 'critical',
      description:
        'Task results failed collection repeatedly and wait in the results dead-letter queue. Runbook: docs/troubleshooting.md#results-dead-letter-queue',
    });
    this.addAnyOccurrenceAlarm('ScheduleDeadLetterAlarm', props.schedules.metricDeadLetterMessages({ period: FIVE_MINUTES }), {
      name: 'schedule-dlq-not-empty',
      severity: 'critical',
      description:
        'Scheduled task runs could not invoke the dispatch Lambda and wait in the schedule dead-letter queue. Runbook: docs/troubleshooting.md#schedule-failures',
    });
    this.addAnyOccurrenceAlarm('ScheduleTargetErrorsAlarm', props.schedules.metricTargetErrors({ period: Duration.minutes(15) }), {
      name: 'schedule-target-errors-warning',
      severity: 'warning',
      description:
        'EventBridge Scheduler failed to invoke the dispatch Lambda (it retries). Runbook: docs/troubleshooting.md#schedule-failures',
    });
    this.addAnyOccurrenceAlarm('ScheduleDroppedAlarm', props.schedules.metricDropped({ period: FIVE_MINUTES }), {
      name: 'schedule-dropped-critical',
      severity: 'critical',
      description: 'A scheduled task run was given up after all retries. Runbook: docs/troubleshooting.md#schedule-failures',
    });
  }

  /** A fleet-level metric of this stack's namespace. */
  metricFleet(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      period: FIVE_MINUTES,
      ...props,
      namespace: this.props.namespace,
      metricName,
      dimensionsMap: { Fleet: this.props.fleet, ...props.dimensionsMap },
    });
  }

  /** Results reported for one task (Sum = results, i.e. hosts reporting per period). */
  metricResults(task: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.metricFleet(FLEET_METRICS.resultsReported, { statistic: 'Sum', ...props, dimensionsMap: { Task: task } });
  }

  /**
   * Adds actions (ALARM and OK to the alert topic) to an alarm and lists it on the dashboard. An alarm
   * whose construct already notifies the topic (AlertStaleSweep, AlertForwarder) keeps its one action.
   * The alarm must state its TreatMissingData.
   */
  addAlarm(alarm: cloudwatch.Alarm, severity: AlarmSeverity): cloudwatch.Alarm {
    const cfn = alarm.node.defaultChild as cloudwatch.CfnAlarm;
    if (!cfn.treatMissingData)
      throw new Error(`Monitoring ${this.node.path}: alarm ${alarm.node.path} must set treatMissingData explicitly`);
    if (this.alarms.includes(alarm)) throw new Error(`Monitoring ${this.node.path}: alarm ${alarm.node.path} was already added`);
    const stack = Stack.of(this);
    const topicArn = JSON.stringify(stack.resolve(this.props.alarmTopic.topicArn));
    const notifiesTopic = (actionArns: unknown) =>
      ((stack.resolve(actionArns) as unknown[] | undefined) ?? []).some((arn) => JSON.stringify(arn) === topicArn);
    if (!notifiesTopic(cfn.alarmActions)) alarm.addAlarmAction(this.alarmAction);
    if (!notifiesTopic(cfn.okActions)) alarm.addOkAction(this.alarmAction);
    this.alarms.push(alarm);
    alarm.node.addMetadata('gpu-maint:severity', severity);
    return alarm;
  }

  /** A Lambda's errors, throttles and duration on the dashboard, and warning/critical error alarms. */
  monitorFunction(label: string, fn: MaintenanceFunction): void {
    if (!/^[a-z0-9-]+$/.test(label))
      throw new Error(`Monitoring ${this.node.path}: label must be lowercase letters, digits and -, got: ${JSON.stringify(label)}`);
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `${label} Lambda: errors / throttles`,
        left: [
          fn.metricErrors({ period: FIVE_MINUTES, label: 'errors' }),
          fn.metricThrottles({ period: FIVE_MINUTES, label: 'throttles' }),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: `${label} Lambda: duration (ms, max)`,
        left: [fn.metricDuration({ period: FIVE_MINUTES, label: 'max duration' })],
        leftAnnotations: [{ value: fn.function.timeout?.toMilliseconds() ?? 0, label: 'timeout', color: cloudwatch.Color.RED }],
        width: 12,
      }),
    );
    this.addWarningCritical(`${label}-errors`, {
      metric: fn.metricErrors({ period: FIVE_MINUTES }),
      warning: 1,
      critical: 1,
      criticalPeriods: 3,
      what: `${label} Lambda errors per 5 minutes`,
      runbook: 'lambda-errors',
    });
  }

  /**
   * The cleanup row: bytes freed per category (stacked, per day), files deleted in the last 7 days, the
   * fullest disk after cleanup, what dry runs would free, the largest cleanups from the collector's
   * log lines, and failed log rotation runs when a logrotate association exists.
   */
  addCleanupSection(options: { readonly logrotateFailedRuns?: cloudwatch.Metric } = {}): void {
    const day = Duration.days(1);
    const m = CLEANUP_METRICS;
    const widgets: cloudwatch.IWidget[] = [
      new cloudwatch.GraphWidget({
        title: 'Cleanup: bytes freed (per day, by category)',
        left: m.bytesFreedByCategory.map((name) =>
          this.metricFleet(name, { statistic: 'Sum', period: day, label: name.replace(/^BytesFreed/, '') }),
        ),
        stacked: true,
        leftYAxis: { min: 0, label: 'bytes' },
        width: 8,
      }),
      new cloudwatch.SingleValueWidget({
        title: 'Cleanup: files deleted (7 days)',
        metrics: [this.metricFleet(m.deletedFiles, { statistic: 'Sum', period: Duration.days(7), label: 'files deleted' })],
        width: 4,
      }),
      new cloudwatch.GraphWidget({
        title: 'Fullest disk after cleanup (% used, worst host)',
        left: [this.metricFleet(m.diskUsedPctAfter, { statistic: 'Maximum', period: day, label: 'max disk used % after cleanup' })],
        leftAnnotations: thresholdLines(this.props.thresholds.diskUsedPct, ' %'),
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Dry runs: bytes a real cleanup would free (per day)',
        left: [this.metricFleet(m.bytesReclaimable, { statistic: 'Sum', period: day, label: 'reclaimable bytes' })],
        leftYAxis: { min: 0, label: 'bytes' },
        width: 6,
      }),
      this.resultLogs.largestCleanups({ width: options.logrotateFailedRuns ? 16 : 24, height: 6 }),
    ];
    if (options.logrotateFailedRuns) {
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'Log rotation: failed association runs (per day)',
          left: [options.logrotateFailedRuns.with({ statistic: 'Sum', period: day, label: 'failed runs' })],
          width: 8,
          height: 6,
        }),
      );
    }
    this.addSection(options.logrotateFailedRuns ? 'Cleanup and log rotation' : 'Cleanup', ...widgets);
  }

  /** Appends a titled dashboard row. */
  addSection(title: string, ...widgets: cloudwatch.IWidget[]): void {
    this.dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: `## ${title}`, width: 24, height: 1 }));
    this.dashboard.addWidgets(...widgets);
  }

  /**
   * An alarm raised by any occurrence (one period with a value ≥ 1) of a metric that is normally
   * absent or zero; missing data is not breaching. Keeps the construct id of the alarm it replaced.
   */
  private addAnyOccurrenceAlarm(
    id: string,
    metric: cloudwatch.Metric,
    o: { readonly name: string; readonly severity: AlarmSeverity; readonly description: string },
  ): void {
    const alarm = metric.createAlarm(this, id, {
      alarmName: `${Stack.of(this).stackName}-${o.name}`,
      alarmDescription: `[${o.severity.toUpperCase()}] ${o.description}`,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.addAlarm(alarm, o.severity);
  }

  /**
   * A warning alarm (one period at or above `warning`) and a critical one (`criticalPeriods`
   * consecutive periods at or above `critical`), both not breaching when data is missing.
   */
  private addWarningCritical(
    slug: string,
    o: { metric: cloudwatch.IMetric; warning: number; critical: number; criticalPeriods?: number; what: string; runbook: string },
  ): void {
    const stackName = Stack.of(this).stackName;
    const id = slug.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
    for (const severity of ['warning', 'critical'] as const) {
      const periods = severity === 'critical' ? (o.criticalPeriods ?? 1) : 1;
      const threshold = severity === 'critical' ? o.critical : o.warning;
      const alarm = new cloudwatch.Alarm(this, `${id}${severity === 'critical' ? 'Critical' : 'Warning'}Alarm`, {
        alarmName: `${stackName}-${slug}-${severity}`,
        alarmDescription: `[${severity.toUpperCase()}] ${o.what} ≥ ${threshold}${periods > 1 ? ` for ${periods} periods in a row` : ''}. Runbook: docs/troubleshooting.md#${o.runbook}`,
        metric: o.metric,
        threshold,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.addAlarm(alarm, severity);
    }
  }

  /** The fleet graphs: every host's readings as one series each (worst host, sums). */
  private fleetOverview(): cloudwatch.IWidget[] {
    const t = this.props.thresholds;
    const m = FLEET_METRICS;
    const widgets: cloudwatch.IWidget[] = [
      new cloudwatch.GraphWidget({
        title: 'Hottest GPU in the fleet (°C)',
        left: [this.metricFleet(m.gpuTemperatureMax, { statistic: 'Maximum', label: 'max GPU temperature' })],
        leftAnnotations: thresholdLines(t.gpuTemperatureC, ' °C'),
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Unhealthy GPUs (sum of host reports per 5 min)',
        left: [this.metricFleet(m.gpusUnhealthy, { statistic: 'Sum', label: 'unhealthy GPUs' })],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Results per task (per 5 min)',
        left: this.props.tasks.map((task) => this.metricResults(task, { label: task })),
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Xid events',
        left: [this.metricFleet(m.xidEvents, { statistic: 'Sum', label: 'Xid events' })],
        width: 6,
      }),
    ];
    const findingsSearch = (metricName: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{"${this.props.namespace}",Fleet,Task} Fleet="${this.props.fleet}" MetricName="${metricName}"', 'Sum', 300)`,
        label,
        period: FIVE_MINUTES,
      });
    widgets.push(
      new cloudwatch.GraphWidget({
        title: 'Fullest disk (% used, worst host)',
        left: [this.metricFleet(m.diskUsedPctMax, { statistic: 'Maximum', label: 'max disk used %' })],
        leftAnnotations: thresholdLines(t.diskUsedPct, ' %'),
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Memory available (% , lowest host)',
        left: [this.metricFleet(m.memoryAvailablePct, { statistic: 'Minimum', label: 'min memory available %' })],
        leftAnnotations: thresholdLines(t.memoryAvailablePct, ' %'),
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Load per CPU (busiest host)',
        left: [this.metricFleet(m.loadPerCpu, { statistic: 'Maximum', label: 'max load per CPU' })],
        leftAnnotations: thresholdLines(t.loadPerCpu, ''),
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Findings and failed runs per task',
        left: [
          findingsSearch(m.findingsCritical, 'critical'),
          findingsSearch(m.findingsWarning, 'warning'),
          findingsSearch(m.taskFailed, 'failed runs'),
        ],
        width: 6,
      }),
    );
    return widgets;
  }

  /**
   * gpu-check results per period against the instances the dispatcher targeted (ExpectedResults,
   * published per dispatch): a gap between the two lines is hosts that went silent.
   */
  private reportingVersusExpected(periodMinutes: number): cloudwatch.GraphWidget {
    const period = Duration.minutes(periodMinutes);
    return new cloudwatch.GraphWidget({
      title: `Instances reporting gpu-check vs expected (per ${periodMinutes} min)`,
      left: [
        this.metricResults('gpu-check', { period, label: 'reporting (gpu-check results)' }),
        this.metricFleet(METRICS.ExpectedResults, {
          statistic: 'Maximum',
          period,
          dimensionsMap: { Task: 'gpu-check' },
          label: 'expected (fleet-tagged managed instances)',
        }),
      ],
      leftYAxis: { min: 0 },
      width: 6,
      height: 7,
    });
  }

  /** A runbook link: markdown when runbookUrl is a web address, the path in code otherwise. */
  private runbookLink(text: string, anchor: string): string {
    const target = anchor ? `${this.runbookUrl}#${anchor}` : this.runbookUrl;
    return /^https?:\/\//.test(target) ? `[${text}](${target})` : `${text} (\`${target}\`)`;
  }

  private addDetailSearches(): void {
    const ns = this.props.namespace;
    const fleet = this.props.fleet;
    const search = (dims: string, metricName: string, stat: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{"${ns}",${dims}} Fleet="${fleet}" MetricName="${metricName}"', '${stat}', 300)`,
        label,
        period: FIVE_MINUTES,
      });
    const widgets: cloudwatch.IWidget[] = [
      new cloudwatch.GraphWidget({
        title: 'GPU temperature max per instance (°C)',
        left: [search('Fleet,InstanceId', FLEET_METRICS.gpuTemperatureMax, 'Maximum', '')],
        leftAnnotations: thresholdLines(this.props.thresholds.gpuTemperatureC, ' °C'),
        legendPosition: cloudwatch.LegendPosition.RIGHT,
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Disk used max per instance (%)',
        left: [search('Fleet,InstanceId', FLEET_METRICS.diskUsedPctMax, 'Maximum', '')],
        leftAnnotations: thresholdLines(this.props.thresholds.diskUsedPct, ' %'),
        legendPosition: cloudwatch.LegendPosition.RIGHT,
        width: 12,
      }),
    ];
    if (this.props.metricDetail === 'gpu') {
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'Temperature per GPU (°C)',
          left: [search('Fleet,InstanceId,Gpu', GPU_METRICS.temperature, 'Maximum', '')],
          leftAnnotations: thresholdLines(this.props.thresholds.gpuTemperatureC, ' °C'),
          legendPosition: cloudwatch.LegendPosition.RIGHT,
          width: 24,
        }),
      );
    }
    this.addSection(
      `Per-${this.props.metricDetail === 'gpu' ? 'GPU' : 'instance'} metrics (metrics.detail = ${this.props.metricDetail})`,
      ...widgets,
    );
  }
}
