/**
 * The call budget of one sweep: for each AWS API the pipeline (or the SSM agent on the hosts, for this
 * pipeline) calls, how many calls a sweep of N hosts makes, the quota AWS documents for it, and the
 * headroom left. The per-result and per-batch counts are not written here by hand: the call-budget test
 * (test/lambda/call-budget.test.ts) measures them by running the real collector over synthetic results
 * with counting SDK mocks, and fails when a code change makes a sweep of 10,000 hosts break a quota.
 * docs/scale.md prints the table; bench/scale/ simulates the same quotas as token buckets over time.
 *
 * Rates are worst-case bursts: a sweep's results are assumed to arrive within `arrivalSeconds` (Run
 * Command's rate control spreads them over longer), and quotas are shared with everything else in the
 * account and Region, hence the required headroom.
 */
import { HOSTS_INDEX_SHARDS } from './alerts/ports';
import type { RateLimit } from './call-rate';

/** Quotas are shared with the rest of the account: a sweep may use at most 1/REQUIRED_HEADROOM of any of them. */
export const REQUIRED_HEADROOM = 2;

/** A documented (or, where AWS publishes none, assumed) request quota. */
export interface ApiQuota {
  /** Sustained requests per second, per account and Region unless `scope` says otherwise. */
  readonly perSecond: number;
  /** Token-bucket size, where documented. */
  readonly burst?: number;
  readonly scope: string;
  /** Where the figure comes from. */
  readonly source: string;
  /** False where AWS publishes no figure and `perSecond` is an assumption (est.). */
  readonly documented: boolean;
}

/** Who makes the call. */
export type Caller = 'collector' | 'dispatcher' | 'agent' | 'sweep' | 'notifier';

export interface ApiBudgetEntry {
  readonly api: string;
  readonly caller: Caller;
  readonly quota: ApiQuota;
}

/** The APIs of one sweep and their quotas. */
export const API_QUOTAS: Readonly<Record<string, ApiBudgetEntry>> = {
  'ssm:SendCommand': {
    api: 'ssm:SendCommand',
    caller: 'dispatcher',
    quota: {
      perSecond: 5,
      scope: 'account and Region (not published; assumed)',
      source: 'https://docs.aws.amazon.com/general/latest/gr/ssm.html (Run Command API rates are not listed)',
      documented: false,
    },
  },
  'ssm:ListCommands': {
    api: 'ssm:ListCommands',
    caller: 'dispatcher',
    quota: {
      perSecond: 5,
      scope: 'account and Region (not published; assumed)',
      source: 'https://docs.aws.amazon.com/general/latest/gr/ssm.html',
      documented: false,
    },
  },
  'ssm:GetCommandInvocation': {
    api: 'ssm:GetCommandInvocation',
    caller: 'collector',
    quota: {
      perSecond: 10,
      scope: 'account and Region (not published; assumed)',
      // Neither the quotas page nor the API reference gives a figure: the collector keeps to its share of
      // this assumption with a client-side limiter (callerRateLimit).
      source: 'https://docs.aws.amazon.com/general/latest/gr/ssm.html',
      documented: false,
    },
  },
  's3:GetObject': {
    api: 's3:GetObject',
    caller: 'collector',
    quota: {
      perSecond: 5500,
      scope: 'per partitioned prefix of the output bucket',
      source: 'https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html',
      documented: true,
    },
  },
  'ec2:DescribeTags': {
    api: 'ec2:DescribeTags',
    caller: 'collector',
    quota: {
      perSecond: 20,
      burst: 100,
      scope: 'account and Region, token bucket (non-mutating actions)',
      source: 'https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html',
      documented: true,
    },
  },
  'cloudwatch:PutMetricData': {
    api: 'cloudwatch:PutMetricData',
    caller: 'collector',
    quota: {
      perSecond: 500,
      scope: 'account and Region',
      source: 'https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html',
      documented: true,
    },
  },
  'dynamodb:Query': {
    api: 'dynamodb:Query',
    caller: 'collector',
    quota: {
      perSecond: 40_000,
      scope: 'read request units per second per on-demand table (each host is its own partition key)',
      source: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html',
      documented: true,
    },
  },
  'dynamodb:TransactWriteItems': {
    api: 'dynamodb:TransactWriteItems',
    caller: 'collector',
    quota: {
      perSecond: 1000 * HOSTS_INDEX_SHARDS,
      scope: 'write units per second per partition: the `hosts` index key (sharded, lambda/core/alerts/ports.ts HOSTS_INDEX_SHARDS)',
      source: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html',
      documented: true,
    },
  },
  'dynamodb:PutItem': {
    api: 'dynamodb:PutItem',
    caller: 'collector',
    quota: {
      perSecond: 1000 * HOSTS_INDEX_SHARDS,
      scope: 'write units per second per partition: the `hosts` index key (sharded, lambda/core/alerts/ports.ts HOSTS_INDEX_SHARDS)',
      source: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html',
      documented: true,
    },
  },
  'sns:Publish': {
    api: 'sns:Publish',
    caller: 'collector',
    quota: {
      perSecond: 300,
      scope: 'account and Region (the smallest Regional default; us-east-1 allows 30,000)',
      source: 'https://docs.aws.amazon.com/general/latest/gr/sns.html',
      documented: true,
    },
  },
  'logs:CreateLogGroup': {
    api: 'logs:CreateLogGroup',
    caller: 'agent',
    quota: {
      perSecond: 5,
      scope: 'account and Region (control plane)',
      source: 'https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html',
      documented: true,
    },
  },
  'logs:CreateLogStream': {
    api: 'logs:CreateLogStream',
    caller: 'agent',
    quota: {
      perSecond: 50,
      scope: 'account and Region (control plane)',
      source: 'https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html',
      documented: true,
    },
  },
  'logs:DescribeLogStreams': {
    api: 'logs:DescribeLogStreams',
    caller: 'agent',
    quota: {
      perSecond: 5,
      scope: 'account and Region (control plane)',
      source:
        'https://docs.aws.amazon.com/sdkfornet/latest/apidocs/items/MCloudWatchLogsCloudWatchLogsDescribeLogStreamsDescribeLogStreamsRequestNET45.html',
      documented: true,
    },
  },
};

/**
 * The client-side rate each of `callers` concurrent processes (the collector's containers: its event
 * source's maxConcurrency) may use for `api`: its share of the quota (1/REQUIRED_HEADROOM) split evenly,
 * with a burst of one second's worth, and at least one call.
 */
export function callerRateLimit(api: string, callers: number): RateLimit {
  const entry = API_QUOTAS[api];
  if (!entry) throw new Error(`call budget: ${api} has no quota in API_QUOTAS (lambda/core/call-budget.ts)`);
  if (!(Number.isInteger(callers) && callers >= 1)) throw new Error(`call budget: callers must be an integer ≥ 1, got: ${callers}`);
  const perSecond = entry.quota.perSecond / REQUIRED_HEADROOM / callers;
  return { perSecond, burst: Math.max(1, perSecond) };
}

/**
 * What the SSM agent calls per invocation when a command streams its output to CloudWatch Logs, read
 * from the agent's source (https://github.com/aws/amazon-ssm-agent, commit 1c217c89):
 * agent/framework/processor/executer/iohandler/iohandler.go calls CreateLogGroup once per step;
 * agent/agentlogstocloudwatch/cloudwatchlogspublisher/cloudwatchlogsservice.go StreamData creates a
 * stream for stdout and one for stderr (CreateLogStream) and reads each stream's sequence token
 * (DescribeLogStreams) before its first PutLogEvents. With S3 output only it calls none of them.
 */
export const AGENT_CLOUDWATCH_CALLS_PER_INVOCATION: Readonly<Record<string, number>> = {
  'logs:CreateLogGroup': 1,
  'logs:CreateLogStream': 2,
  'logs:DescribeLogStreams': 2,
};

/** Calls measured (or read from the agent's source) per unit of work. */
export interface CallProfile {
  /** Calls per collected result (averaged over a representative mix). */
  readonly perResult: Readonly<Record<string, number>>;
  /** Calls per SQS batch the collector handles. */
  readonly perBatch?: Readonly<Record<string, number>>;
  /** Calls per dispatched sweep, whatever its size. */
  readonly perSweep?: Readonly<Record<string, number>>;
}

export interface SweepShape {
  readonly hosts: number;
  /** Results per collector invocation (SQS batch size). */
  readonly batchSize: number;
  /** Seconds within which a sweep's results are assumed to arrive (the burst the quotas must take). */
  readonly arrivalSeconds: number;
}

export interface BudgetRow {
  readonly api: string;
  readonly caller: Caller;
  readonly callsPerSweep: number;
  /** callsPerSweep / arrivalSeconds. */
  readonly peakPerSecond: number;
  readonly quota: ApiQuota;
  /** quota / peak; Infinity when the sweep makes no call. */
  readonly headroom: number;
}

/** Calls per sweep and headroom per API for a sweep of `shape.hosts` hosts. */
export function sweepBudget(profile: CallProfile, shape: SweepShape): BudgetRow[] {
  const batches = Math.ceil(shape.hosts / shape.batchSize);
  const apis = new Set([...Object.keys(profile.perResult), ...Object.keys(profile.perBatch ?? {}), ...Object.keys(profile.perSweep ?? {})]);
  const rows: BudgetRow[] = [];
  for (const api of [...apis].sort()) {
    const entry = API_QUOTAS[api];
    if (!entry)
      throw new Error(`call budget: ${api} is called but has no quota in API_QUOTAS (lambda/core/call-budget.ts); add it with its source`);
    const calls = (profile.perResult[api] ?? 0) * shape.hosts + (profile.perBatch?.[api] ?? 0) * batches + (profile.perSweep?.[api] ?? 0);
    const peak = calls / shape.arrivalSeconds;
    rows.push({
      api,
      caller: entry.caller,
      callsPerSweep: calls,
      peakPerSecond: peak,
      quota: entry.quota,
      headroom: peak === 0 ? Number.POSITIVE_INFINITY : entry.quota.perSecond / peak,
    });
  }
  return rows;
}

/** A markdown table of a budget (docs/scale.md). */
export function budgetTable(rows: readonly BudgetRow[]): string {
  const lines = ['| API | caller | calls per sweep | peak calls/s | quota/s | headroom | source |', '|---|---|---:|---:|---:|---:|---|'];
  for (const r of rows) {
    const quota = `${r.quota.perSecond}${r.quota.burst ? ` (burst ${r.quota.burst})` : ''}${r.quota.documented ? '' : ' est.'}`;
    const headroom = Number.isFinite(r.headroom) ? `${r.headroom.toFixed(1)}x` : '-';
    lines.push(
      `| ${r.api} | ${r.caller} | ${Math.round(r.callsPerSweep)} | ${r.peakPerSecond.toFixed(2)} | ${quota} | ${headroom} | ${r.quota.source} |`,
    );
  }
  return lines.join('\n');
}
