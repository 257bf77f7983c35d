/**
 * MetricsSink for CloudWatch. Buffers datapoints and flushes them in as few PutMetricData calls as the
 * API allows: datapoints of the same series and minute are merged into one datum with Values/Counts
 * (so 1,000 hosts reporting GpuTemperatureMax on the fleet series cost one datum, not 1,000), and calls
 * hold at most 1,000 datums and 1 MB.
 */
import { type CloudWatchClient, type MetricDatum as CwDatum, PutMetricDataCommand, type StandardUnit } from '@aws-sdk/client-cloudwatch';
import type { MetricsBatch } from '../../core/collect';
import { seriesKey } from '../../core/metrics';
import type { MetricDatum } from '../../core/types';

export const MAX_DATUMS_PER_PUT = 1000;
export const MAX_PUT_BYTES = 1_000_000;
/** PutMetricData takes at most 150 distinct values per datum. */
export const MAX_VALUES_PER_DATUM = 150;

interface SeriesBucket {
  readonly name: string;
  readonly unit: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly timestamp: Date;
  /** value → how many datapoints had it */
  readonly counts: Map<number, number>;
}

const enc = (s: string) => encodeURIComponent(s).length;
/** Worst-case key overhead of one field in the query encoding: `&MetricData.member.1000.<field>=`. */
const FIELD = '&MetricData.member.1000.='.length;

/**
 * Upper bound of a datum's size on the wire. The query protocol is the most verbose encoding the SDK
 * may use, so a request packed by this estimate is under 1 MB whatever the protocol.
 */
export function estimateDatumBytes(d: CwDatum): number {
  let n = FIELD + 'MetricName'.length + enc(d.MetricName ?? '');
  n += FIELD + 'Unit'.length + (d.Unit?.length ?? 0);
  n += FIELD + 'Timestamp'.length + 24;
  for (const dim of d.Dimensions ?? []) {
    n += 2 * (FIELD + 'Dimensions.member.30.Value'.length) + enc(dim.Name ?? '') + enc(dim.Value ?? '');
  }
  if (d.Value !== undefined) n += FIELD + 'Value'.length + 24;
  n += (d.Values?.length ?? 0) * (FIELD + 'Values.member.150'.length + 24);
  n += (d.Counts?.length ?? 0) * (FIELD + 'Counts.member.150'.length + 24);
  return n;
}

/** Splits datums into PutMetricData-sized requests (≤1,000 datums, ≤1 MB with room for the envelope). */
export function packRequests(datums: readonly CwDatum[], maxBytes = MAX_PUT_BYTES): CwDatum[][] {
  const envelope = 200;
  const requests: CwDatum[][] = [];
  let current: CwDatum[] = [];
  let bytes = envelope;
  for (const d of datums) {
    const size = estimateDatumBytes(d);
    if (current.length > 0 && (current.length >= MAX_DATUMS_PER_PUT || bytes + size > maxBytes)) {
      requests.push(current);
      current = [];
      bytes = envelope;
    }
    current.push(d);
    bytes += size;
  }
  if (current.length) requests.push(current);
  return requests;
}

export class CloudWatchMetricsSink implements MetricsBatch {
  private readonly buffer = new Map<string, SeriesBucket>();

  constructor(
    private readonly cloudwatch: CloudWatchClient,
    private readonly namespace: string,
  ) {}

  async put(metrics: readonly MetricDatum[], at: Date): Promise<void> {
    // One-minute resolution: datapoints within a minute aggregate exactly as they would separately.
    const minute = new Date(Math.floor(at.getTime() / 60_000) * 60_000);
    for (const m of metrics) {
      if (!Number.isFinite(m.value)) continue;
      const key = `${seriesKey(m)}|${m.unit}|${minute.getTime()}`;
      let bucket = this.buffer.get(key);
      if (!bucket) {
        bucket = { name: m.name, unit: m.unit, dimensions: m.dimensions, timestamp: minute, counts: new Map() };
        this.buffer.set(key, bucket);
      }
      bucket.counts.set(m.value, (bucket.counts.get(m.value) ?? 0) + 1);
    }
  }

  /** Datums for what is buffered (a series with more than 150 distinct values spans several datums). */
  pendingDatums(): CwDatum[] {
    const datums: CwDatum[] = [];
    for (const b of this.buffer.values()) {
      const entries = [...b.counts];
      for (let i = 0; i < entries.length; i += MAX_VALUES_PER_DATUM) {
        const part = entries.slice(i, i + MAX_VALUES_PER_DATUM);
        datums.push({
          MetricName: b.name,
          Unit: b.unit as StandardUnit,
          Timestamp: b.timestamp,
          Dimensions: Object.entries(b.dimensions).map(([Name, Value]) => ({ Name, Value })),
          Values: part.map(([v]) => v),
          Counts: part.map(([, c]) => c),
        });
      }
    }
    return datums;
  }

  async flush(): Promise<void> {
    const requests = packRequests(this.pendingDatums());
    this.buffer.clear();
    for (const MetricData of requests) {
      await this.cloudwatch.send(new PutMetricDataCommand({ Namespace: this.namespace, MetricData }));
    }
  }
}
