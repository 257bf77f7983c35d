/**
 * A discrete-event simulation of the whole result pipeline at fleet scale: schedule → dispatch →
 * SendCommand rate control (waves) → the SSM agent on each host (script, optional CloudWatch output
 * calls, S3 upload) → status-change event → SQS → collect Lambda (batches, concurrency, per-record AWS
 * calls, partial failures, visibility timeouts, DLQ) → stale-host sweep. AWS quotas are token buckets
 * (lambda/core/call-budget.ts API_QUOTAS: the same figures and sources), throttled calls are retried as
 * the SDKs do (exponential backoff with full jitter, maxAttempts) and a record whose call still fails
 * waits out the queue's visibility timeout. Each collector container spaces its GetCommandInvocation
 * calls out on the collector's own token bucket (lambda/core/call-rate.ts, sized by callerRateLimit).
 *
 * The collector's CPU time per result is measured by running the real collect path (evaluate and log
 * line) over a generated 8-GPU gpu-check output; its call pattern per result is the one this code makes
 * (`after`) or made before the scale work (`before`: agent CloudWatch output, GetCommandInvocation and
 * DescribeTags per result, batch 25 × concurrency 5, one `hosts` index partition, a fleet listing before
 * each dispatch).
 *
 * Prints, per pipeline and fleet size: sweep duration, result age p50/p99/max, throttled calls per API,
 * DLQ count, false stale alerts (every simulated host is alive), the coverage alarm and the monthly cost.
 *
 * Above 10,000 hosts it also runs this code with the settings docs/deploy.md gives for large fleets
 * (schedule shards, collector concurrency). A second table runs the coverage alarm's scenarios: a share
 * of the fleet stops reporting (its invocations end DeliveryTimedOut) and the alarm, evaluated as
 * CloudWatch does over the defaults of lib/constructs/coverage-alarm.ts, fires or stays OK.
 *
 * Usage: npx tsx bench/scale/simulate.ts [--hosts 1000,10000,50000] [--minutes 40] [--seed 1]
 *          [--coverage-hosts 10000] [--dark 0,0.1,0.3]
 */
import { validateConfig } from '../../lambda/config/load';
import { AGENT_CLOUDWATCH_CALLS_PER_INVOCATION, API_QUOTAS, callerRateLimit } from '../../lambda/core/call-budget';
import { TokenBucket as CallRateBucket } from '../../lambda/core/call-rate';
import { COLLECT_DELIVERY_RESERVE_MS, resultLogRecord } from '../../lambda/core/collect';
import { COVERAGE_ALARM_DEFAULTS } from '../../lambda/core/coverage';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { shardSchedules } from '../../lambda/core/schedule/shards';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import { taskDefinition } from '../../lambda/tasks/registry';
import { gpuCheckOutput } from '../../test/helpers/gpu-check-output';

// ---- parameters -------------------------------------------------------------------------------

interface Pipeline {
  readonly name: 'before' | 'after' | 'after, large-fleet settings';
  readonly agentCloudWatchOutput: boolean;
  /** GetCommandInvocation for every result (before) or only for failed runs (after). */
  readonly invocationCallPerResult: boolean;
  /** GetCommandInvocation waits for its container's share of the quota (lambda/core/call-rate.ts) before each call. */
  readonly invocationCallRate: boolean;
  /** DescribeTags per result (before) or one snapshot per container-minute (after). */
  readonly describeTagsPerResult: boolean;
  readonly batchSize: number;
  readonly maxConcurrency: number;
  /** SDK attempts per call (3 = SDK default; 8 = this stack's collector clients). */
  readonly maxAttempts: number;
  readonly indexShards: number;
  /** DescribeInstanceInformation pages (50 hosts each) read one after another before every dispatch. */
  readonly listsFleet: boolean;
  /** Schedule shards (fleet.shards), each a command of its own, staggered over the period (lambda/core/schedule/shards.ts). */
  readonly shards: number;
  /** Run Command MaxConcurrency as a share of each command's targets (aws.maxConcurrency). */
  readonly runCommandConcurrency: number;
}

/** Run Command MaxConcurrency (aws.maxConcurrency default 10%). */
const MAX_CONCURRENCY_SHARE = 0.1;

const PIPELINES: readonly Pipeline[] = [
  {
    name: 'before',
    agentCloudWatchOutput: true,
    invocationCallPerResult: true,
    invocationCallRate: false,
    describeTagsPerResult: true,
    batchSize: 25,
    maxConcurrency: 5,
    maxAttempts: 3,
    indexShards: 1,
    listsFleet: true,
    shards: 1,
    runCommandConcurrency: MAX_CONCURRENCY_SHARE,
  },
  {
    name: 'after',
    agentCloudWatchOutput: false,
    invocationCallPerResult: false,
    invocationCallRate: true,
    describeTagsPerResult: false,
    batchSize: 100,
    maxConcurrency: 10,
    maxAttempts: 8,
    indexShards: 16,
    listsFleet: false,
    shards: 1,
    runCommandConcurrency: MAX_CONCURRENCY_SHARE,
  },
];

/** What docs/deploy.md says to set above 10,000 hosts: fleet.shards, aws.collectorMaxConcurrency, aws.maxConcurrency (--large-shards, --large-collectors, --large-run-command try others). */
const LARGE_FLEET: Pipeline = {
  ...PIPELINES[1],
  name: 'after, large-fleet settings',
  shards: Number(arg('large-shards', '5')),
  maxConcurrency: Number(arg('large-collectors', '10')),
  runCommandConcurrency: Number(arg('large-run-command', '0.05')),
};

const GPU_CHECK_PERIOD_S = 300;
const HEALTH_CHECK_PERIOD_S = 900;
const SCRIPT_SECONDS = { 'gpu-check': [4, 12], 'health-check': [6, 20] } as const;
/** Share of runs that fail (read with GetCommandInvocation in both pipelines). */
const FAILED_SHARE = 0.02;
/** Share of results with a finding (an alert notification). */
const FINDING_SHARE = 0.02;
/** Status-change event to SQS message visible. */
const EVENT_LATENCY_S = 0.5;
const BATCH_WINDOW_S = 10;
const COLLECT_TIMEOUT_S = 120;
const VISIBILITY_TIMEOUT_S = 6 * COLLECT_TIMEOUT_S + BATCH_WINDOW_S;
const MAX_RECEIVE_COUNT = 5;
const STALE_AFTER_S = 20 * 60;
const SWEEP_INTERVAL_S = 5 * 60;
/** Round-trip latency of one API call, seconds. */
const CALL_LATENCY_S: Record<string, number> = {
  's3:GetObject': 0.02,
  'ssm:GetCommandInvocation': 0.04,
  'ec2:DescribeTags': 0.06,
  'dynamodb:Query': 0.008,
  'dynamodb:PutItem': 0.01,
  'cloudwatch:PutMetricData': 0.03,
  'sns:Publish': 0.02,
  'ssm:DescribeInstanceInformation': 0.15,
  'logs:CreateLogGroup': 0.05,
  'logs:CreateLogStream': 0.05,
  'logs:DescribeLogStreams': 0.05,
};
/** DescribeInstanceInformation has no published quota either; it is modelled as latency only. */
const LIST_PAGE_SIZE = 50;

/** us-east-1 list prices (2026). */
const PRICE = {
  lambdaGbSecond: 0.0000133334, // arm64
  lambdaRequest: 0.2 / 1e6,
  sqsRequest: 0.4 / 1e6,
  s3Get: 0.4 / 1e6,
  s3Put: 5 / 1e6,
  logsIngestGb: 0.5,
  putMetricDataPer1000: 0.01,
  metricMonth: 0.3,
  ddbWrite: 1.25 / 1e6,
  ddbRead: 0.25 / 1e6,
  snsPublish: 0.5 / 1e6,
};
const COLLECT_MEMORY_GB = 0.5;
const FLEET_SERIES = 15;

// ---- helpers ----------------------------------------------------------------------------------

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * An API's request quota, kept as a ledger of seconds: each second admits `rate` calls, and a second
 * after an idle one up to `burst` (AWS's token buckets refill `rate` tokens a second and save up to
 * `burst`: https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html). Calls may be asked
 * out of time order (a batch's concurrent records and their retries run ahead of the event clock),
 * which a single running bucket would misread as no refill at all.
 */
class TokenBucket {
  private readonly used = new Map<number, number>();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}
  take(now: number): boolean {
    if (!Number.isFinite(this.rate)) return true;
    const second = Math.floor(now);
    const taken = this.used.get(second) ?? 0;
    const capacity = (this.used.get(second - 1) ?? 0) === 0 ? Math.max(this.rate, this.burst) : this.rate;
    if (taken + 1 > Math.max(1, capacity)) return false;
    this.used.set(second, taken + 1);
    return true;
  }
}

class Heap<T> {
  private items: { t: number; seq: number; v: T }[] = [];
  private seq = 0;
  get size(): number {
    return this.items.length;
  }
  push(t: number, v: T): void {
    const a = this.items;
    a.push({ t, seq: this.seq++, v });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].t < a[i].t || (a[p].t === a[i].t && a[p].seq < a[i].seq)) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): { t: number; v: T } | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const less = (x: number, y: number) => a[x].t < a[y].t || (a[x].t === a[y].t && a[x].seq < a[y].seq);
        if (l < a.length && less(l, m)) m = l;
        if (r < a.length && less(r, m)) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return { t: top.t, v: top.v };
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

// ---- the real collector's CPU cost and log line --------------------------------------------------

function measureCollector(): { cpuMsPerResult: number; healthyLineBytes: number; fullLineBytes: number } {
  const settings = evaluationSettings(validateConfig({ fleet: { name: 'prod' } }));
  const evaluate = taskDefinition('gpu-check').evaluate;
  const ref = {
    commandId: '0b5f3c2e-1d4a-4c8e-9f61-2a7b8c9d0e1f',
    instanceId: 'i-0123456789abcdef0',
    documentName: 'd',
    status: 'Success',
  };
  const outputs = Array.from({ length: 50 }, (_, i) => gpuCheckOutput({ host: `i-${i.toString(16).padStart(17, '0')}` }));
  let line = '';
  let full = '';
  const runs = 400;
  const start = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const stdout = outputs[i % outputs.length];
    const result = evaluateTaskOutput(
      { task: 'gpu-check', host: ref.instanceId, stdout, stderr: '', exitCode: 0 },
      evaluate,
      settings,
      new Date(),
    );
    line = JSON.stringify(resultLogRecord(result, ref, true));
    // The line before this work: every field and the result's details, whatever its status.
    const { task, host, status, at, findings, metrics, ...details } = result;
    full = JSON.stringify({
      ...resultLogRecord({ ...result, status: 'warning' }, ref, true),
      status,
      task,
      host,
      at,
      findings: [],
      details,
      metrics: undefined,
    });
  }
  const used = process.cpuUsage(start);
  // Powertools' envelope: level, message, timestamp, service, sampling_rate (+ Lambda context before).
  return { cpuMsPerResult: (used.user + used.system) / 1000 / runs, healthyLineBytes: line.length + 120, fullLineBytes: full.length + 420 };
}

// ---- the simulation ---------------------------------------------------------------------------

type Task = 'gpu-check' | 'health-check';

interface Message {
  readonly host: number;
  readonly task: Task;
  /** When the script started: the result's `at`, its metrics' timestamp. */
  readonly startedAt: number;
  readonly producedAt: number;
  /** DeliveryTimedOut: the host stopped reporting; counts 0 in ResultsReported. */
  readonly neverRan: boolean;
  readonly failed: boolean;
  readonly finding: boolean;
  visibleAt: number;
  receives: number;
}

type Ev =
  | { kind: 'dispatch'; task: Task; shard: number }
  | { kind: 'agentStart'; task: Task; host: number; sweep: number }
  | { kind: 'agentDone'; task: Task; host: number; sweep: number; startedAt: number; neverRan: boolean }
  | { kind: 'visible'; msg: Message }
  | { kind: 'workerFree'; worker: number }
  | { kind: 'record'; batch: Batch; index: number }
  | { kind: 'poll' }
  | { kind: 'sweep' };

/** A batch in a collector invocation: its records are simulated one event each, in time order. */
interface Batch {
  /** The collector container running it. */
  readonly worker: number;
  readonly messages: Message[];
  readonly startedAt: number;
  readonly failed: Set<Message>;
  /** The batch processor runs records concurrently: their CPU is serial, their calls overlap. */
  cpuAt: number;
  /** When the last record's calls ended. */
  endAt: number;
}

interface Outcome {
  readonly pipeline: string;
  readonly hosts: number;
  sweepSeconds: number[];
  ages: number[];
  throttled: Record<string, number>;
  dlq: number;
  /** Records failed because their GetCommandInvocation got no call slot before the invocation's deadline. */
  rateDeadlineMisses: number;
  falseStale: number;
  collectorSeconds: number;
  calls: Record<string, number>;
  results: number;
  agentSlotSeconds: number;
  /** Hosts flagged stale that had stopped reporting (true alerts). */
  trueStale: number;
  /** gpu-check ExpectedResults per coverage-alarm period (by dispatch time). */
  expected: number[];
  /** gpu-check results reported: the period of their metric timestamp and when the collector published them. */
  reported: { period: number; at: number }[];
}

/** A share of the fleet stops reporting (hosts down, SSM agent dead) from a moment on. */
interface Scenario {
  readonly darkShare: number;
  readonly darkFromS: number;
}
const HEALTHY: Scenario = { darkShare: 0, darkFromS: 0 };
/** How long Run Command tries a host that does not answer before DeliveryTimedOut (the task's deliverySeconds). */
const DELIVERY_SECONDS: Record<Task, number> = {
  'gpu-check': taskDefinition('gpu-check').limits.deliverySeconds,
  'health-check': taskDefinition('health-check').limits.deliverySeconds,
};
const COVERAGE_PERIOD_S = COVERAGE_ALARM_DEFAULTS.periodMinutes * 60;

/** Spread evenly over the fleet, the same hosts in every run. */
function isDark(host: number, scenario: Scenario): boolean {
  return scenario.darkShare > 0 && ((host * 2_654_435_761) >>> 0) / 2 ** 32 < scenario.darkShare;
}

function simulate(
  p: Pipeline,
  hosts: number,
  minutes: number,
  seed: number,
  collector: ReturnType<typeof measureCollector>,
  scenario: Scenario = HEALTHY,
): Outcome {
  const random = rng(seed);
  const horizon = minutes * 60;
  const buckets = new Map<string, TokenBucket>();
  const bucket = (api: string): TokenBucket => {
    let b = buckets.get(api);
    if (!b) {
      const q = API_QUOTAS[api]?.quota;
      const rate = q ? q.perSecond * (api.startsWith('dynamodb:Put') ? p.indexShards / 16 : 1) : Number.POSITIVE_INFINITY;
      b = new TokenBucket(rate, q?.burst ?? Math.max(1, rate));
      buckets.set(api, b);
    }
    return b;
  };
  const out: Outcome = {
    pipeline: p.name,
    hosts,
    sweepSeconds: [],
    ages: [],
    throttled: {},
    dlq: 0,
    rateDeadlineMisses: 0,
    falseStale: 0,
    collectorSeconds: 0,
    calls: {},
    results: 0,
    agentSlotSeconds: 0,
    trueStale: 0,
    expected: [],
    reported: [],
  };
  /**
   * One call with SDK retries (full-jitter exponential backoff, base 0.1 s, cap 20 s). Returns the time
   * it took and whether it succeeded; throttled attempts are counted per API.
   */
  const call = (api: string, now: number, attempts: number): { seconds: number; ok: boolean } => {
    let t = now;
    for (let attempt = 1; ; attempt++) {
      out.calls[api] = (out.calls[api] ?? 0) + 1;
      t += CALL_LATENCY_S[api] ?? 0.02;
      if (bucket(api).take(t)) return { seconds: t - now, ok: true };
      out.throttled[api] = (out.throttled[api] ?? 0) + 1;
      if (attempt >= attempts) return { seconds: t - now, ok: false };
      t += random() * Math.min(20, 0.1 * 2 ** attempt);
    }
  };

  const events = new Heap<Ev>();
  const queue: Message[] = [];
  const lastReport = new Float64Array(hosts).fill(0);
  const sweepStart = new Map<string, number>();
  const sweepLeft = new Map<string, number>();
  const sweepOfMsg = new WeakMap<Message, string>();
  const waiting: { task: Task; host: number; sweep: number }[][] = [];
  const running: Record<string, number> = {};
  // Run Command's MaxConcurrency percentage applies to each command's own targets.
  const limits: number[] = [];
  let sweepSeq = 0;
  // The collector's containers, each with the call-rate bucket the adapter keeps per container.
  const freeWorkers = Array.from({ length: p.maxConcurrency }, (_, i) => i);
  const invocationRate = callerRateLimit('ssm:GetCommandInvocation', p.maxConcurrency);
  const invocationBuckets = new Map<number, CallRateBucket>();
  const invocationBucket = (worker: number, now: number): CallRateBucket => {
    let b = invocationBuckets.get(worker);
    if (!b) invocationBuckets.set(worker, (b = new CallRateBucket(invocationRate, now * 1000)));
    return b;
  };
  let pollScheduled = false;
  let lastSilenceSnapshot = Number.NEGATIVE_INFINITY;

  // One dispatch per shard, at the offsets the stack's shard schedules use.
  for (const [task, period, start] of [
    ['gpu-check', GPU_CHECK_PERIOD_S, 0],
    ['health-check', HEALTH_CHECK_PERIOD_S, 30],
  ] as const) {
    for (const { shard, offsetMinutes } of shardSchedules(`rate(${period / 60} minutes)`, 'sim', p.shards))
      for (let t = start + offsetMinutes * 60; t < horizon; t += period) events.push(t, { kind: 'dispatch', task, shard });
  }
  for (let t = SWEEP_INTERVAL_S; t < horizon; t += SWEEP_INTERVAL_S) events.push(t, { kind: 'sweep' });

  const startAgent = (now: number, sweep: number) => {
    const key = String(sweep);
    const list = waiting[sweep];
    while (list.length && (running[key] ?? 0) < limits[sweep]) {
      const next = list.pop()!;
      running[key] = (running[key] ?? 0) + 1;
      events.push(now, { kind: 'agentStart', ...next });
    }
  };
  const schedulePoll = (at: number) => {
    if (!pollScheduled) {
      pollScheduled = true;
      events.push(at, { kind: 'poll' });
    }
  };

  for (let ev = events.pop(); ev; ev = events.pop()) {
    const now = ev.t;
    const e = ev.v;
    if (now > horizon + 3600) break;
    switch (e.kind) {
      case 'dispatch': {
        let t = now;
        if (p.listsFleet)
          for (let page = 0; page < Math.ceil(hosts / LIST_PAGE_SIZE); page++) t += call('ssm:DescribeInstanceInformation', t, 3).seconds;
        const sweep = sweepSeq++;
        const key = String(sweep);
        const targets: { task: Task; host: number; sweep: number }[] = [];
        for (let host = e.shard; host < hosts; host += p.shards) targets.push({ task: e.task, host, sweep });
        sweepStart.set(key, now);
        sweepLeft.set(key, targets.length);
        waiting[sweep] = targets;
        limits[sweep] = Math.max(1, Math.floor(targets.length * p.runCommandConcurrency));
        // The dispatcher publishes the count SSM resolved the tag to: every target, reachable or not.
        if (e.task === 'gpu-check') {
          const period = Math.floor(now / COVERAGE_PERIOD_S);
          out.expected[period] = (out.expected[period] ?? 0) + targets.length;
        }
        // Run Command works through the targets in waves of MaxConcurrency.
        startAgent(t + 1, sweep);
        break;
      }
      case 'agentStart': {
        if (now >= scenario.darkFromS && isDark(e.host, scenario)) {
          // Nobody answers: the invocation holds its slot until DeliveryTimedOut.
          out.agentSlotSeconds += DELIVERY_SECONDS[e.task];
          events.push(now + DELIVERY_SECONDS[e.task], {
            kind: 'agentDone',
            task: e.task,
            host: e.host,
            sweep: e.sweep,
            startedAt: now,
            neverRan: true,
          });
          break;
        }
        const [lo, hi] = SCRIPT_SECONDS[e.task];
        let t = now + lo + random() * (hi - lo);
        if (p.agentCloudWatchOutput) {
          // The agent's Logs calls (Go SDK: 3 attempts); the slot stays held while it retries.
          for (const [api, n] of Object.entries(AGENT_CLOUDWATCH_CALLS_PER_INVOCATION))
            for (let i = 0; i < n; i++) t += call(api, t, 3).seconds;
        }
        out.agentSlotSeconds += t - now;
        events.push(t, { kind: 'agentDone', task: e.task, host: e.host, sweep: e.sweep, startedAt: now, neverRan: false });
        break;
      }
      case 'agentDone': {
        running[String(e.sweep)]--;
        startAgent(now, e.sweep);
        const msg: Message = {
          host: e.host,
          task: e.task,
          startedAt: e.startedAt,
          producedAt: now,
          neverRan: e.neverRan,
          failed: !e.neverRan && random() < FAILED_SHARE,
          finding: !e.neverRan && random() < FINDING_SHARE,
          visibleAt: now + EVENT_LATENCY_S,
          receives: 0,
        };
        sweepOfMsg.set(msg, String(e.sweep));
        events.push(msg.visibleAt, { kind: 'visible', msg });
        break;
      }
      case 'visible':
        queue.push(e.msg);
        schedulePoll(now);
        break;
      case 'workerFree':
        freeWorkers.push(e.worker);
        schedulePoll(now);
        break;
      case 'poll': {
        pollScheduled = false;
        while (freeWorkers.length > 0 && queue.length > 0) {
          // Lambda gathers up to batchSize messages or waits out the batching window.
          const oldest = queue[0].visibleAt;
          if (queue.length < p.batchSize && now < oldest + BATCH_WINDOW_S) {
            schedulePoll(oldest + BATCH_WINDOW_S);
            break;
          }
          const messages = queue.splice(0, p.batchSize);
          const worker = freeWorkers.pop()!;
          events.push(now + 0.05, {
            kind: 'record',
            batch: { worker, messages, startedAt: now, failed: new Set(), cpuAt: now + 0.05, endAt: now + 0.05 },
            index: 0,
          });
        }
        break;
      }
      case 'record': {
        const { batch, index } = e;
        if (index < batch.messages.length) {
          const msg = batch.messages[index];
          msg.receives++;
          // Records run concurrently (Powertools' BatchProcessor): each one's calls start after its CPU
          // slot, and the batch ends with its slowest record.
          let t = Math.max(now, batch.cpuAt) + collector.cpuMsPerResult / 1000;
          batch.cpuAt = t;
          let ok = true;
          if ((p.invocationCallPerResult && !msg.neverRan) || msg.failed) {
            // The container's limiter: wait for a slot, or fail the record when none comes before the
            // invocation's deadline (it is delivered again after the visibility timeout).
            const deadline = batch.startedAt + COLLECT_TIMEOUT_S - COLLECT_DELIVERY_RESERVE_MS / 1000;
            const waitMs = p.invocationCallRate ? invocationBucket(batch.worker, t).reserve(t * 1000, deadline * 1000) : 0;
            if (waitMs === null) {
              out.rateDeadlineMisses++;
              ok = false;
            } else {
              t += waitMs / 1000;
              const r = call('ssm:GetCommandInvocation', t, p.maxAttempts);
              // Now a failed run whose GetCommandInvocation stays throttled is evaluated from its event status.
              ok &&= r.ok || (!p.invocationCallPerResult && msg.failed);
              t += r.seconds;
            }
          }
          if (!msg.failed && !msg.neverRan && !p.invocationCallPerResult) {
            // Reads of a batch's records overlap (the batch processor runs them concurrently).
            const r = call('s3:GetObject', t, p.maxAttempts);
            ok &&= r.ok;
            t += r.seconds;
          }
          if (p.describeTagsPerResult)
            t += call('ec2:DescribeTags', t, p.maxAttempts).seconds; // throttled: silences ignored
          else if (t - lastSilenceSnapshot > 60 / p.maxConcurrency) {
            call('ec2:DescribeTags', t, p.maxAttempts);
            lastSilenceSnapshot = t;
          }
          t += call('dynamodb:Query', t, p.maxAttempts).seconds;
          const write = call('dynamodb:PutItem', t, p.maxAttempts);
          t += write.seconds;
          ok &&= write.ok;
          if (msg.finding) {
            const publish = call('sns:Publish', t, p.maxAttempts);
            ok &&= publish.ok;
            t += publish.seconds;
          }
          if (!ok) batch.failed.add(msg);
          batch.endAt = Math.max(batch.endAt, t);
          events.push(batch.cpuAt, { kind: 'record', batch, index: index + 1 });
          break;
        }
        const putAt = Math.max(now, batch.endAt);
        const put = call('cloudwatch:PutMetricData', putAt, p.maxAttempts);
        const end = Math.min(batch.startedAt + COLLECT_TIMEOUT_S, putAt + put.seconds);
        out.collectorSeconds += end - batch.startedAt;
        for (const msg of batch.messages) {
          if (!put.ok || batch.failed.has(msg)) {
            if (msg.receives >= MAX_RECEIVE_COUNT) out.dlq++;
            else {
              msg.visibleAt = batch.startedAt + VISIBILITY_TIMEOUT_S;
              events.push(msg.visibleAt, { kind: 'visible', msg });
            }
            continue;
          }
          if (!msg.neverRan) {
            out.results++;
            out.ages.push(end - msg.producedAt);
            if (msg.task === 'gpu-check') {
              lastReport[msg.host] = end;
              out.reported.push({ period: Math.floor(msg.startedAt / COVERAGE_PERIOD_S), at: end });
            }
          }
          const key = sweepOfMsg.get(msg)!;
          const left = (sweepLeft.get(key) ?? 1) - 1;
          sweepLeft.set(key, left);
          if (left === 0) out.sweepSeconds.push(end - (sweepStart.get(key) ?? 0));
        }
        events.push(end, { kind: 'workerFree', worker: batch.worker });
        break;
      }
      case 'sweep': {
        // Every simulated host is alive: each one flagged stale is a false alert.
        if (now < STALE_AFTER_S) break;
        for (let h = 0; h < hosts; h++) {
          if (now - lastReport[h] < STALE_AFTER_S) continue;
          if (isDark(h, scenario)) out.trueStale++;
          else out.falseStale++;
        }
        break;
      }
    }
    if (now > horizon && queue.length === 0 && events.size === 0) break;
  }
  return out;
}

function monthlyCost(o: Outcome, minutes: number, p: Pipeline, collector: ReturnType<typeof measureCollector>): number {
  const scale = (30 * 24 * 60) / minutes;
  const c = (api: string) => (o.calls[api] ?? 0) * scale;
  const results = o.results * scale;
  const invocations = results / p.batchSize;
  const lineBytes = p.name === 'before' ? collector.fullLineBytes : collector.healthyLineBytes;
  // Command output streamed to CloudWatch Logs by the agents (about the size of a gpu-check output).
  const agentLogBytes = p.agentCloudWatchOutput ? 6_000 : 0;
  return (
    o.collectorSeconds * scale * COLLECT_MEMORY_GB * PRICE.lambdaGbSecond +
    invocations * PRICE.lambdaRequest +
    results * 3 * PRICE.sqsRequest +
    c('s3:GetObject') * PRICE.s3Get +
    results * PRICE.s3Put +
    (results * (lineBytes + agentLogBytes) * PRICE.logsIngestGb) / 1e9 +
    (c('cloudwatch:PutMetricData') / 1000) * PRICE.putMetricDataPer1000 +
    FLEET_SERIES * PRICE.metricMonth +
    c('dynamodb:PutItem') * PRICE.ddbWrite * 2 +
    c('dynamodb:Query') * PRICE.ddbRead +
    c('sns:Publish') * PRICE.snsPublish
  );
}

/**
 * The coverage alarm as CloudWatch evaluates it (lib/constructs/coverage-alarm.ts, its defaults from
 * lambda/core/coverage.ts): per period, the results reported with a timestamp in it and published by one
 * minute after it ended, over the results expected by the dispatches in it; ALARM after
 * `evaluationPeriods` low periods in a row. Only periods that ended within the simulated time count.
 */
function coverageAlarm(o: Outcome, horizonS: number): { shares: number[]; alarmAtMinute?: number } {
  const { minShare, evaluationPeriods } = COVERAGE_ALARM_DEFAULTS;
  const shares: number[] = [];
  let low = 0;
  let alarmAtMinute: number | undefined;
  for (let k = 0; (k + 1) * COVERAGE_PERIOD_S <= horizonS; k++) {
    const evaluatedAt = (k + 1) * COVERAGE_PERIOD_S + 60;
    const expected = o.expected[k] ?? 0;
    const reported = o.reported.filter((r) => r.period === k && r.at <= evaluatedAt).length;
    const share = expected > 0 ? reported / expected : 1;
    shares.push(share);
    low = share < minShare ? low + 1 : 0;
    if (low >= evaluationPeriods && alarmAtMinute === undefined) alarmAtMinute = evaluatedAt / 60;
  }
  return { shares, alarmAtMinute };
}

function describeCoverage(o: Outcome, horizonS: number): string {
  const { shares, alarmAtMinute } = coverageAlarm(o, horizonS);
  const list = shares.map((x) => `${(x * 100).toFixed(0)}%`).join(', ');
  return `${list} → ${alarmAtMinute === undefined ? 'OK' : `ALARM at minute ${alarmAtMinute}`}`;
}

function main(): void {
  const sizes = arg('hosts', '1000,10000,50000').split(',').map(Number);
  const minutes = Number(arg('minutes', '40'));
  // The old pipeline is broken from 1,000 hosts; simulating its retries at 50,000 takes minutes.
  const beforeMax = Number(arg('before-max', '10000'));
  const seed = Number(arg('seed', '1'));
  // The coverage scenarios: a share of the fleet stops reporting at minute 15 of 60.
  const coverageHosts = Number(arg('coverage-hosts', '10000'));
  const darkShares = arg('dark', '0,0.1,0.3').split(',').map(Number);
  const collector = measureCollector();
  console.log(
    `pipeline simulation: gpu-check every ${GPU_CHECK_PERIOD_S / 60} min, health-check every ${HEALTH_CHECK_PERIOD_S / 60} min, ${minutes} simulated minutes, MaxConcurrency ${MAX_CONCURRENCY_SHARE * 100}%, ${FAILED_SHARE * 100}% failed runs, node ${process.version}`,
  );
  console.log(
    `real collector: ${collector.cpuMsPerResult.toFixed(2)} ms CPU per 8-GPU gpu-check result; log line ${collector.healthyLineBytes} B healthy now, ${collector.fullLineBytes} B before`,
  );
  const { minShare, periodMinutes, evaluationPeriods } = COVERAGE_ALARM_DEFAULTS;
  console.log(
    `coverage alarm: gpu-check reported / expected per ${periodMinutes}-minute period, ALARM after ${evaluationPeriods} periods below ${minShare * 100}%`,
  );
  console.log(
    `large-fleet settings: fleet.shards ${LARGE_FLEET.shards}, aws.collectorMaxConcurrency ${LARGE_FLEET.maxConcurrency}, aws.maxConcurrency ${LARGE_FLEET.runCommandConcurrency * 100}%`,
  );
  console.log('');
  console.log(
    '| pipeline | hosts | sweep s (p50 / max) | result age s p50 / p99 / max | throttled calls per sweep (by API) | DLQ | false stale | coverage per period | $/month |',
  );
  console.log('|---|---:|---|---|---|---:|---:|---|---:|');
  const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : 'never');
  for (const hosts of sizes) {
    for (const p of hosts > 10_000 ? [...PIPELINES, LARGE_FLEET] : PIPELINES) {
      if (p.name === 'before' && hosts > beforeMax) {
        console.log(`| ${p.name} | ${hosts} | not simulated (--before-max ${beforeMax}) | | | | | | |`);
        continue;
      }
      const started = Date.now();
      const o = simulate(p, hosts, minutes, seed, collector);
      const sweeps = [...o.sweepSeconds].sort((a, b) => a - b);
      const ages = [...o.ages].sort((a, b) => a - b);
      const perSweep = (n: number) => n / Math.max(1, Math.floor((minutes * 60) / GPU_CHECK_PERIOD_S));
      const throttled =
        Object.entries(o.throttled)
          .filter(([, n]) => n > 0)
          .map(([api, n]) => `${api} ${Math.round(perSweep(n))}`)
          .join(', ') || 'none';
      const missed = o.rateDeadlineMisses > 0 ? `; ${Math.round(perSweep(o.rateDeadlineMisses))} records past the call deadline` : '';
      const perShard = p.shards > 1 ? ` (each of ${p.shards} shards)` : '';
      console.log(
        `| ${p.name} | ${hosts} | ${fmt(percentile(sweeps, 0.5))} / ${fmt(sweeps.at(-1) ?? Number.NaN)}${sweeps.length ? '' : ' (none finished)'}${perShard} | ${fmt(percentile(ages, 0.5))} / ${fmt(percentile(ages, 0.99))} / ${fmt(ages.at(-1) ?? Number.NaN)} | ${throttled}${missed} | ${o.dlq} | ${o.falseStale} | ${describeCoverage(o, minutes * 60)} | ${monthlyCost(o, minutes, p, collector).toFixed(0)} |`,
      );
      if (process.env.SIM_DEBUG) console.error(`${p.name} ${hosts}: ${((Date.now() - started) / 1000).toFixed(1)} s wall`);
    }
  }

  if (coverageHosts > 0) {
    const coverageMinutes = 60;
    const darkFromS = 15 * 60;
    console.log('');
    console.log(
      `coverage alarm when hosts stop reporting: ${coverageHosts} hosts, this code's defaults, ${coverageMinutes} simulated minutes, the share stops at minute ${darkFromS / 60} (its invocations end DeliveryTimedOut)`,
    );
    console.log('');
    console.log('| hosts stopped | coverage per period | stale alerts (true / false) | result age s p99 |');
    console.log('|---:|---|---|---:|');
    for (const darkShare of darkShares) {
      const o = simulate(PIPELINES[1], coverageHosts, coverageMinutes, seed, collector, { darkShare, darkFromS });
      const ages = [...o.ages].sort((a, b) => a - b);
      console.log(
        `| ${(darkShare * 100).toFixed(0)}% | ${describeCoverage(o, coverageMinutes * 60)} | ${o.trueStale} / ${o.falseStale} | ${fmt(percentile(ages, 0.99))} |`,
      );
    }
  }
}

main();
