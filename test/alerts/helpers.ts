/** Builders shared by the alert tests: settings, results and a recording notifier. */

import type { ConfigInput } from '../../lambda/config/schema';
import type { Notification } from '../../lambda/core/alerts/model';
import type { Notifier } from '../../lambda/core/alerts/ports';
import { type AlertSettings, alertSettings } from '../../lambda/core/alerts/settings';
import type { Finding, TaskName, TaskResult } from '../../lambda/core/types';
import { parseConfigForTest } from '../helpers/config';

export const T0 = Date.parse('2026-11-28T00:00:00Z');

/** ISO time `minutes` after T0. */
export const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();
export const date = (minutes: number): Date => new Date(T0 + minutes * 60_000);

export function settingsFor(alerts: NonNullable<ConfigInput['alerts']> = {}): AlertSettings {
  return alertSettings(parseConfigForTest({ alerts }));
}

export function result(
  host: string,
  minutes: number,
  findings: Finding[],
  task: TaskName = 'gpu-check',
  status?: TaskResult['status'],
): TaskResult {
  const severities = findings.map((f) => f.severity);
  return {
    task,
    host,
    at: at(minutes),
    status: status ?? (severities.includes('critical') ? 'critical' : severities.includes('warning') ? 'warning' : 'ok'),
    findings,
    metrics: [],
  };
}

export const hot = (severity: 'warning' | 'critical' = 'warning', gpu = 3): Finding => ({
  check: 'gpu.temperature',
  severity,
  gpu,
  message: `GPU ${gpu} at ${severity === 'critical' ? 91 : 86} °C`,
  reading: severity === 'critical' ? 91 : 86,
  threshold: 'warn ≥ 83, crit ≥ 90 °C',
});

export const xid = (gpu = 5): Finding => ({
  check: 'gpu.xid',
  severity: 'critical',
  gpu,
  message: `Xid 79 GPU ${gpu} fell off the bus`,
  reading: 79,
});
export const disk = (severity: 'warning' | 'critical' = 'warning'): Finding => ({
  check: 'health.disk',
  severity,
  message: `/ at ${severity === 'critical' ? 96 : 88}% used`,
  reading: 88,
  threshold: 'warn ≥ 85, crit ≥ 95 %',
});

export class RecordingNotifier implements Notifier {
  readonly sent: Notification[] = [];
  failuresLeft = 0;

  async send(n: Notification): Promise<void> {
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error('SNS is down');
    }
    this.sent.push(n);
  }
}

/**
 * A flapping gpu.temperature (for 2) on GPU 3: breaching in two of every three 5-minute checks for an
 * hour, then clear for an hour. The policy notifies it as {@link FLAP_CHANGES}, whatever the store.
 */
export function flapSequence(host: string): TaskResult[] {
  return Array.from({ length: 25 }, (_, i) => result(host, i * 5, i < 12 && i % 3 !== 2 ? [hot()] : []));
}

/** Minutes and changes of {@link flapSequence}: fire, resolve, start again as flapping, resolve 30 min after the last breach. */
export const FLAP_CHANGES: readonly [number, string][] = [
  [5, 'firing'],
  [10, 'resolved'],
  [20, 'flapping'],
  [80, 'resolved'],
];
