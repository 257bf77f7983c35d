/**
 * The forwarder's destinations: Slack incoming webhook and PagerDuty Events API v2, with the webhook URL
 * and routing key read at run time from Secrets Manager and cached (the environment holds only the secret
 * names; no value is ever in a parameter, an environment variable or the template).
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { PagerDutyDestination, SlackDestination } from '../../core/alerts/forward';
import type { AlertSeverity } from '../../core/alerts/model';
import { PAGERDUTY_EVENTS_URL, type PagerDutyEvent, type SlackPayload } from '../../core/alerts/render';

/** Rotation takes effect within this time. */
const SECRET_CACHE_MS = 5 * 60_000;
const HTTP_TIMEOUT_MS = 10_000;

export class CachedSecret {
  private cached: { readonly value: string; readonly atMs: number } | null = null;

  constructor(
    private readonly client: SecretsManagerClient,
    readonly secretId: string,
    private readonly ttlMs = SECRET_CACHE_MS,
  ) {}

  async value(): Promise<string> {
    if (this.cached && Date.now() - this.cached.atMs < this.ttlMs) return this.cached.value;
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (typeof out.SecretString !== 'string' || out.SecretString.trim() === '') {
      throw new Error(`secret ${this.secretId} has no SecretString; store the value as text`);
    }
    this.cached = { value: out.SecretString.trim(), atMs: Date.now() };
    return this.cached.value;
  }
}

/** A secret holds the value itself, or JSON with one of `keys` (as the console's key/value editor stores it). */
function secretField(raw: string, keys: readonly string[], secretId: string): string {
  if (!raw.startsWith('{')) return raw;
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new Error(`secret ${secretId} looks like JSON but does not parse`);
  }
  for (const key of keys) if (typeof data[key] === 'string') return (data[key] as string).trim();
  throw new Error(`secret ${secretId}: JSON without any of the keys ${keys.join(', ')}`);
}

export function slackWebhookUrl(raw: string, secretId: string): string {
  const url = secretField(raw, ['webhookUrl', 'url'], secretId);
  // The value is a credential: the error names the secret, never the value.
  if (!/^https:\/\/[^\s/]+\/\S+$/.test(url))
    throw new Error(`secret ${secretId}: expected an https webhook URL such as https://hooks.slack.com/services/...`);
  return url;
}

export function pagerDutyRoutingKey(raw: string, secretId: string): string {
  const key = secretField(raw, ['routingKey', 'routing_key', 'integrationKey'], secretId);
  if (!/^[A-Za-z0-9]{20,64}$/.test(key))
    throw new Error(`secret ${secretId}: expected a PagerDuty Events API v2 routing key (32 letters and digits)`);
  return key;
}

async function postJson(doFetch: typeof fetch, url: string, body: unknown, what: string): Promise<void> {
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  if (!response.ok) {
    const text = (await response.text().catch(() => '')).slice(0, 300);
    throw new Error(`${what}: HTTP ${response.status}${text ? ` ${text}` : ''}`);
  }
}

export class SlackWebhook implements SlackDestination {
  constructor(
    private readonly secret: CachedSecret,
    private readonly doFetch: typeof fetch = fetch,
  ) {}

  async post(payload: SlackPayload): Promise<void> {
    const url = slackWebhookUrl(await this.secret.value(), this.secret.secretId);
    await postJson(this.doFetch, url, payload, `Slack webhook (secret ${this.secret.secretId})`);
  }
}

export class PagerDutyEvents implements PagerDutyDestination {
  constructor(
    private readonly secret: CachedSecret,
    readonly minSeverity: AlertSeverity,
    private readonly doFetch: typeof fetch = fetch,
    private readonly url = PAGERDUTY_EVENTS_URL,
  ) {}

  async routingKey(): Promise<string> {
    return pagerDutyRoutingKey(await this.secret.value(), this.secret.secretId);
  }

  async send(event: PagerDutyEvent): Promise<void> {
    await postJson(this.doFetch, this.url, event, `PagerDuty ${event.event_action} ${event.dedup_key}`);
  }
}
