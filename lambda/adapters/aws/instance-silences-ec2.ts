/**
 * Silences from the instance tag `gpu-maint:silence-until=<ISO time>` (EC2 DescribeTags), cached per
 * host for a minute. Best effort by design: when the tag cannot be read (permissions, throttling) the
 * host is treated as not silenced and the problem is logged, because a silence suppresses noise and must
 * never block alerting.
 */
import { DescribeTagsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { AlertLog } from '../../core/alerts/engine';
import type { Silence } from '../../core/alerts/model';
import type { SilenceSource } from '../../core/alerts/ports';
import { SILENCE_TAG_KEY, silenceFromTag } from '../../core/alerts/silences';

export interface Ec2InstanceSilencesOptions {
  /** @default 60000 */
  readonly cacheMs?: number;
  readonly log?: AlertLog;
}

const EC2_INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

export class Ec2InstanceSilences implements SilenceSource {
  private readonly cache = new Map<string, { readonly fetchedAtMs: number; readonly value: string | null }>();

  constructor(
    private readonly client: EC2Client,
    private readonly options: Ec2InstanceSilencesOptions = {},
  ) {}

  async activeSilences(host: string, now: Date): Promise<readonly Silence[]> {
    // Hybrid-activated servers (mi-...) have no EC2 tags; they use `gpu-maint silence`.
    if (!EC2_INSTANCE_ID.test(host)) return [];
    const value = await this.tagValue(host, now);
    if (value === null) return [];
    const silence = silenceFromTag(host, value, now);
    if (silence === null) return [];
    if ('error' in silence) {
      this.options.log?.warn(silence.error, { host });
      return [];
    }
    return [silence];
  }

  private async tagValue(host: string, now: Date): Promise<string | null> {
    const cached = this.cache.get(host);
    if (cached && now.getTime() - cached.fetchedAtMs < (this.options.cacheMs ?? 60_000)) return cached.value;
    try {
      const out = await this.client.send(
        new DescribeTagsCommand({
          Filters: [
            { Name: 'resource-id', Values: [host] },
            { Name: 'key', Values: [SILENCE_TAG_KEY] },
          ],
        }),
      );
      const value = out.Tags?.find((t) => t.Key === SILENCE_TAG_KEY)?.Value ?? null;
      this.cache.set(host, { fetchedAtMs: now.getTime(), value });
      return value;
    } catch (err) {
      this.options.log?.warn(`cannot read tag ${SILENCE_TAG_KEY} of ${host}; treating it as not silenced`, {
        error: (err as Error).message,
      });
      return null;
    }
  }
}
