/**
 * Silences from the instance tag `gpu-maint:silence-until=<ISO time>` (EC2 DescribeTags).
 *
 * Read once for the whole account (filter `key` = the silence tag: only silenced instances are listed,
 * up to 1,000 per page) and kept for `cacheMs`, never once per host: EC2 throttles DescribeTags with a
 * token bucket per account and Region, shared by every caller
 * (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html), and one call per result
 * breaks it from about 1,000 hosts (docs/scale.md). One snapshot per minute per collector container
 * stays a handful of calls per sweep at any fleet size.
 *
 * Best effort by design: when the tag cannot be read (permissions, throttling) the last snapshot is kept
 * (or, with none, no host is silenced) and the problem is logged, because a silence suppresses noise and
 * must never block alerting.
 */
import { DescribeTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { AlertLog } from '../../core/alerts/engine';
import type { Silence } from '../../core/alerts/model';
import type { SilenceSource } from '../../core/alerts/ports';
import { SILENCE_TAG_KEY, silenceFromTag } from '../../core/alerts/silences';

export interface Ec2InstanceSilencesOptions {
  /** How long one account-wide snapshot of the tag is used. @default 60000 */
  readonly cacheMs?: number;
  readonly log?: AlertLog;
}

const EC2_INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
/** DescribeTags' largest page. */
const PAGE_SIZE = 1000;

export class Ec2InstanceSilences implements SilenceSource {
  private snapshot: { readonly fetchedAtMs: number; readonly values: ReadonlyMap<string, string> } | undefined;
  private refreshing: Promise<ReadonlyMap<string, string>> | undefined;

  constructor(
    private readonly client: EC2Client,
    private readonly options: Ec2InstanceSilencesOptions = {},
  ) {}

  async activeSilences(host: string, now: Date): Promise<readonly Silence[]> {
    // Hybrid-activated servers (mi-...) have no EC2 tags; they use `gpu-maint silence`.
    if (!EC2_INSTANCE_ID.test(host)) return [];
    const value = (await this.tagValues(now)).get(host);
    if (value === undefined) return [];
    const silence = silenceFromTag(host, value, now);
    if (silence === null) return [];
    if ('error' in silence) {
      this.options.log?.warn(silence.error, { host });
      return [];
    }
    return [silence];
  }

  /** Instance id → tag value, for every instance carrying the tag; concurrent callers share one refresh. */
  private async tagValues(now: Date): Promise<ReadonlyMap<string, string>> {
    const fresh = this.snapshot && now.getTime() - this.snapshot.fetchedAtMs < (this.options.cacheMs ?? 60_000);
    if (fresh && this.snapshot) return this.snapshot.values;
    this.refreshing ??= this.refresh(now).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refresh(now: Date): Promise<ReadonlyMap<string, string>> {
    try {
      const values = new Map<string, string>();
      let nextToken: string | undefined;
      do {
        const page = await this.client.send(
          new DescribeTagsCommand({
            Filters: [
              { Name: 'key', Values: [SILENCE_TAG_KEY] },
              { Name: 'resource-type', Values: ['instance'] },
            ],
            MaxResults: PAGE_SIZE,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
        );
        for (const tag of page.Tags ?? []) {
          if (tag.Key === SILENCE_TAG_KEY && tag.ResourceId && tag.Value !== undefined) values.set(tag.ResourceId, tag.Value);
        }
        nextToken = page.NextToken;
      } while (nextToken);
      this.snapshot = { fetchedAtMs: now.getTime(), values };
      return values;
    } catch (err) {
      this.options.log?.warn(
        `cannot read tag ${SILENCE_TAG_KEY}; ${this.snapshot ? 'using the last snapshot' : 'treating every instance as not silenced'}`,
        { error: (err as Error).message },
      );
      return this.snapshot?.values ?? new Map();
    }
  }
}
