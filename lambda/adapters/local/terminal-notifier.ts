/**
 * Local notifications: one line per changed alert on the terminal, and, when `local.webhookUrl` is set,
 * a POST to it (Slack Block Kit for Slack incoming webhooks, the structured JSON otherwise).
 */
import type { Notification } from '../../core/alerts/model';
import type { Notifier } from '../../core/alerts/ports';
import { slackPayload, structuredNotification, terminalLines } from '../../core/alerts/render';

export interface TerminalNotifierOptions {
  readonly webhookUrl?: string;
  /** @default 10000 */
  readonly webhookTimeoutMs?: number;
  /** Injected in tests. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
}

export function isSlackWebhook(url: string): boolean {
  return /^https:\/\/hooks\.slack\.com\//.test(url);
}

export class TerminalNotifier implements Notifier {
  constructor(
    private readonly write: (line: string) => void,
    private readonly options: TerminalNotifierOptions = {},
  ) {}

  async send(n: Notification): Promise<void> {
    for (const line of terminalLines(n)) this.write(line);
    const url = this.options.webhookUrl;
    if (!url) return;
    const body = JSON.stringify(isSlackWebhook(url) ? slackPayload(n) : structuredNotification(n));
    const doFetch = this.options.fetch ?? fetch;
    let response: Response;
    try {
      response = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.options.webhookTimeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new Error(`webhook ${redact(url)}: ${(err as Error).message}`);
    }
    if (!response.ok) {
      const text = (await response.text().catch(() => '')).slice(0, 200);
      throw new Error(`webhook ${redact(url)}: HTTP ${response.status}${text ? ` ${text}` : ''}`);
    }
  }
}

/** Webhook URLs are credentials (Slack's path is the secret): errors show only the origin. */
export function redact(url: string): string {
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return '(invalid URL)';
  }
}
