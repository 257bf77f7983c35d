/**
 * The delivery test of docs/troubleshooting.md reaches Slack: its message attributes pass the
 * forwarder subscription's filter policy, and its message is a notification the forwarder parses and
 * renders for Slack.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseNotificationMessage } from '../../lambda/core/alerts/forward';
import { slackPayload } from '../../lambda/core/alerts/render';
import { REPO_ROOT } from '../helpers/fixtures';

const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'troubleshooting.md'), 'utf8');
const section = doc.slice(doc.indexOf('<a id="delivery-test"></a>'));
const message = /gpu-maint-test-alert\.json <<'EOF'\n(.*)\nEOF/.exec(section)?.[1] ?? '';
const attributes = JSON.parse(/--message-attributes '(.*)'/.exec(section)?.[1] ?? '{}') as Record<string, { StringValue: string }>;

describe('the documented delivery test', () => {
  test('carries the status attribute the forwarder subscription filters on', () => {
    expect(['firing', 'resolved']).toContain(attributes.status?.StringValue);
  });

  test('is a notification the forwarder accepts and posts to Slack', () => {
    const notification = parseNotificationMessage(message);
    expect(notification.status).toBe(attributes.status.StringValue);
    expect(notification.severity).toBe(attributes.severity.StringValue);
    expect(JSON.stringify(slackPayload(notification))).toContain('delivery test');
  });
});
