/**
 * The delivery test of docs/troubleshooting.md reaches Slack: its message attributes pass the filter
 * policy of the forwarder's subscription in the synthesized stack (SNS filter semantics), and the
 * forwarder reads its message as a notification and posts it to Slack. Email subscribers get it or not as
 * the doc says.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { forwardMessage, parseForwardedMessage } from '../../lambda/core/alerts/forward';
import type { SlackPayload } from '../../lambda/core/alerts/render';
import { type Subscriber, subscribers } from '../contracts/lib/sns-delivery';
import { filterPolicyMatches, type MessageAttributes } from '../contracts/lib/sns-filter';
import { type CfnTemplate, synthGpuMaintStack, TEST_ENV } from '../helpers/cdk';
import { REPO_ROOT } from '../helpers/fixtures';

const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'troubleshooting.md'), 'utf8');
const section = doc.slice(doc.indexOf('<a id="delivery-test"></a>'));
/** The file the heredoc writes, as `--message file://` sends it (trailing newline included). */
const message = `${/gpu-maint-test-alert\.json <<'EOF'\n(.*)\nEOF/.exec(section)?.[1] ?? ''}\n`;
const attributes = JSON.parse(/--message-attributes '(.*)'/.exec(section)?.[1] ?? '{}') as MessageAttributes;

let subs: Subscriber[];
beforeAll(() => {
  const { template } = synthGpuMaintStack(
    {
      alerts: {
        slack: { webhookSecret: 'gpu-maint/slack-webhook' },
        emails: [{ address: 'team@example.com' }, { address: 'oncall@example.com', minSeverity: 'critical' }],
      },
    },
    { id: 'DeliveryTest', env: TEST_ENV },
  );
  subs = subscribers(template.toJSON() as CfnTemplate);
});

describe('the documented delivery test', () => {
  test("passes the filter of the forwarder's subscription (the queue the Lambda that posts to Slack reads)", () => {
    const forwarder = subs.filter((s) => s.protocol === 'sqs' && s.filterPolicy?.status);
    expect(forwarder).toHaveLength(1);
    expect(filterPolicyMatches(forwarder[0].filterPolicy as never, attributes)).toBe(true);
  });

  test('reaches the warning email subscriber and, being a warning, not the critical one', () => {
    const email = (address: string) => {
      const found = subs.find((s) => s.protocol === 'email' && s.endpoint.includes(address));
      expect(found, address).toBeDefined();
      return found;
    };
    expect(filterPolicyMatches(email('team@example.com')?.filterPolicy as never, attributes)).toBe(true);
    expect(filterPolicyMatches(email('oncall@example.com')?.filterPolicy as never, attributes)).toBe(false);
  });

  test('is read by the forwarder as a notification and posted to Slack', async () => {
    const posted: SlackPayload[] = [];
    const forwarded = parseForwardedMessage(message);
    expect(forwarded.kind).toBe('notification');
    const outcome = await forwardMessage(forwarded, { slack: { post: async (p) => void posted.push(p) } });
    expect(outcome.slack).toBe(true);
    expect(JSON.stringify(posted)).toContain('delivery test (docs/troubleshooting.md): ignore');
  });

  test('names a runbook section that exists', () => {
    const forwarded = parseForwardedMessage(message);
    if (forwarded.kind !== 'notification') throw new Error('not a notification');
    const runbook = readFileSync(path.join(REPO_ROOT, 'docs', 'runbook.md'), 'utf8');
    for (const a of forwarded.notification.alerts) expect(runbook).toContain(`<a id="${a.runbook.split('#')[1]}"></a>`);
  });
});
