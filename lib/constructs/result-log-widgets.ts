/**
 * Logs Insights widgets over the collector's result log (one `task result` line per evaluated result,
 * lambda/core/collect.ts#resultLogRecord): per-host detail at no per-series cost. The field names used
 * here are checked against the log line the code builds (test/cdk/dashboard-body.test.ts).
 *
 * Logs Insights has no "now" function, so "now" means the latest result per host within the
 * dashboard's time range (`stats latest(...) by host`).
 * Query syntax: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax.html
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/**
 * Text the dashboard's `host` variable replaces in every widget (a pattern variable rewrites the
 * dashboard JSON). Its default, `.`, is a regex that matches every host.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_dashboard_variables.html
 */
export const HOST_VARIABLE_PATTERN = 'gpuMaintHost';

/** The dashboard variable that narrows the drill-down widgets to hosts matching a regex. */
export function hostVariable(): cloudwatch.DashboardVariable {
  return new cloudwatch.DashboardVariable({
    id: 'host',
    type: cloudwatch.VariableType.PATTERN,
    inputType: cloudwatch.VariableInputType.INPUT,
    value: HOST_VARIABLE_PATTERN,
    label: 'host (regex)',
    defaultValue: cloudwatch.DefaultValue.value('.'),
  });
}

const RESULT_LINE = 'message = "task result"';

export interface ResultLogWidgetsProps {
  /** The collector's log group. */
  readonly logGroupName: string;
  /** Minutes between gpu-check runs: a host is stale after two of them. */
  readonly gpuCheckPeriodMinutes: number;
}

export class ResultLogWidgets {
  constructor(private readonly props: ResultLogWidgetsProps) {}

  /** Hosts whose latest result (per task) has a critical or warning finding, worst first. */
  findingsNow(o: { width: number; height: number }): cloudwatch.LogQueryWidget {
    return this.table('Hosts with a critical or warning finding now (latest result per host and task)', o, [
      'fields result.host as host, result.task as task, result.critical as critical, result.warning as warning, result.checks as checks',
      `filter ${RESULT_LINE}`,
      'stats latest(critical) as crit, latest(warning) as warn, latest(checks) as failing, max(@timestamp) as lastSeen by host, task',
      'filter crit > 0 or warn > 0',
      'sort crit desc',
      'limit 100',
    ]);
  }

  /**
   * Hosts by their latest gpu-check, oldest first: those on top whose last report is older than two
   * gpu-check periods have stopped reporting (the stale-host sweep alerts on them, host.stale).
   */
  staleHosts(o: { width: number; height: number }): cloudwatch.LogQueryWidget {
    const twoPeriods = 2 * this.props.gpuCheckPeriodMinutes;
    return this.table(`Stale hosts: last gpu-check per host, oldest first (stale when older than ${twoPeriods} min)`, o, [
      'fields result.host as host',
      `filter ${RESULT_LINE} and result.task = "gpu-check"`,
      'stats max(@timestamp) as lastSeen, count(*) as results by host',
      'sort lastSeen asc',
      'limit 50',
    ]);
  }

  /** Fleet-wide drill-down tables (hottest GPUs, latest Xids). */
  fleetTables(): cloudwatch.IWidget[] {
    const o = { width: 12, height: 8 };
    return [
      this.table('Hottest GPUs (per host, highest reading in range)', o, [
        'fields @timestamp, result.host as host, result.hottestGpu as gpu, result.hottestGpuTemperatureC as temperatureC',
        `filter ${RESULT_LINE} and result.task = "gpu-check" and ispresent(result.hottestGpuTemperatureC)`,
        'sort temperatureC desc',
        'dedup host',
        'limit 20',
      ]),
      this.table('Latest Xid errors', o, [
        'fields @timestamp, result.host as host, result.xidSummary as xids',
        `filter ${RESULT_LINE} and result.xidCount > 0`,
        'sort @timestamp desc',
        'limit 50',
      ]),
    ];
  }

  /** Per-host views narrowed by the dashboard's `host` variable (a regex over host ids). */
  hostDrillDown(): cloudwatch.IWidget[] {
    const hostFilter = `result.host like /${HOST_VARIABLE_PATTERN}/`;
    return [
      new cloudwatch.LogQueryWidget({
        title: `Hottest GPU over time (°C), hosts matching /${HOST_VARIABLE_PATTERN}/`,
        logGroupNames: [this.props.logGroupName],
        queryLines: [
          'fields result.host as host, result.hottestGpuTemperatureC as temperatureC',
          `filter ${RESULT_LINE} and result.task = "gpu-check" and ${hostFilter}`,
          'stats max(temperatureC) as maxTemperatureC by bin(15m)',
        ],
        view: cloudwatch.LogQueryVisualizationType.LINE,
        width: 12,
        height: 7,
      }),
      this.table(`Results of hosts matching /${HOST_VARIABLE_PATTERN}/ (newest first)`, { width: 12, height: 7 }, [
        'fields @timestamp, result.host as host, result.task as task, result.status as status, result.checks as checks, result.xidSummary as xids',
        `filter ${RESULT_LINE} and ${hostFilter}`,
        'sort @timestamp desc',
        'limit 100',
      ]),
      this.table(`Non-ok findings of hosts matching /${HOST_VARIABLE_PATTERN}/`, { width: 24, height: 7 }, [
        'fields @timestamp, result.host as host, result.task as task, result.findings.0.check as check, result.findings.0.severity as severity, result.findings.0.message as finding',
        `filter ${RESULT_LINE} and ${hostFilter} and ispresent(result.findings.0.check)`,
        'sort @timestamp desc',
        'limit 100',
      ]),
    ];
  }

  /** The largest cleanups (dry runs: what a real run would free). */
  largestCleanups(o: { width: number; height: number }): cloudwatch.LogQueryWidget {
    // readings come before details in the log line, so they stay within the fields Logs Insights extracts.
    return this.table('Largest cleanups (dry runs: what a real run would free)', o, [
      'fields @timestamp, result.host as host, coalesce(result.readings.BytesReclaimable, result.readings.BytesFreed) as bytes, result.details.cleanup.dryRun as dryRun, result.readings.CleanupDeletedFiles as deletedFiles',
      `filter ${RESULT_LINE} and result.task = "cleanup"`,
      'sort bytes desc',
      'limit 20',
    ]);
  }

  private table(title: string, o: { width: number; height: number }, queryLines: string[]): cloudwatch.LogQueryWidget {
    return new cloudwatch.LogQueryWidget({
      title,
      logGroupNames: [this.props.logGroupName],
      queryLines,
      view: cloudwatch.LogQueryVisualizationType.TABLE,
      width: o.width,
      height: o.height,
    });
  }
}
