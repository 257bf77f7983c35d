/**
 * The alert policy's settings: derived from config `alerts.*` locally, and passed to Lambdas as one
 * JSON environment variable (GPU_MAINT_ALERT_SETTINGS) that {@link parseAlertSettings} validates.
 */
import { z } from 'zod';
import type { Config } from '../../config/schema';
import { CHECK_NAMES, type CheckName } from '../types';

/** Environment variables through which constructs hand alerting to Lambdas (names and ARNs only, never secrets). */
export const ALERT_ENV = {
  /** The alert settings JSON ({@link parseAlertSettings}). */
  settings: 'GPU_MAINT_ALERT_SETTINGS',
  table: 'GPU_MAINT_ALERT_TABLE',
  topicArn: 'GPU_MAINT_ALERT_TOPIC_ARN',
  /** Optional: topic AWS Chatbot listens on (custom notification schema). */
  chatbotTopicArn: 'GPU_MAINT_ALERT_CHATBOT_TOPIC_ARN',
  /** Forwarder: Secrets Manager name/ARN of the Slack webhook URL. */
  slackWebhookSecret: 'GPU_MAINT_SLACK_WEBHOOK_SECRET',
  /** Forwarder: Secrets Manager name/ARN of the PagerDuty routing key. */
  pagerDutyRoutingKeySecret: 'GPU_MAINT_PAGERDUTY_ROUTING_KEY_SECRET',
  pagerDutyMinSeverity: 'GPU_MAINT_PAGERDUTY_MIN_SEVERITY',
} as const;

/** Checks whose single breach is often noise: a gauge crossing its threshold for one sample. */
export const DEFAULT_FOR: Readonly<Partial<Record<CheckName, number>>> = {
  'gpu.temperature': 2,
  'gpu.power': 2,
  'health.load': 2,
};

/** Event checks: reported once per incident, so they must not resolve at the next run. */
export const DEFAULT_KEEP_FIRING_FOR_MINUTES: Readonly<Partial<Record<CheckName, number>>> = { 'gpu.xid': 60 };

export const alertSettingsSchema = z.strictObject({
  fleet: z.string().min(1),
  repeatIntervalHours: z.strictObject({ critical: z.number().positive(), warning: z.number().positive() }),
  for: z.partialRecord(z.enum(CHECK_NAMES), z.number().int().min(1)),
  keepFiringForMinutes: z.partialRecord(z.enum(CHECK_NAMES), z.number().int().min(0)),
  /** Flap damping: an alert that starts firing `firings` times within `windowMinutes` is flapping. */
  flapping: z.strictObject({
    enabled: z.boolean(),
    firings: z.number().int().min(2),
    windowMinutes: z.number().int().min(1),
    stableMinutes: z.number().int().min(1),
  }),
  staleAfterMinutes: z.number().int().min(1),
  staleSeverity: z.enum(['warning', 'critical']),
  /** Hosts silent this long are forgotten: no more host.stale repeats, state expires. */
  forgetHostAfterDays: z.number().positive(),
  /** Period of the stale-host sweep (the simulator sweeps on this virtual period too). */
  sweepIntervalMinutes: z.number().int().min(1),
  /** Base of runbook links; `#<check>` is appended. */
  runbookUrl: z.string().min(1),
});

export type AlertSettings = z.infer<typeof alertSettingsSchema>;

/** Settings from the validated config; an unknown check name in `alerts.for` is an error naming it. */
export function alertSettings(config: Config): AlertSettings {
  const a = config.alerts;
  for (const [key, map] of [
    ['for', a.for],
    ['keepFiringForMinutes', a.keepFiringForMinutes],
  ] as const) {
    for (const check of Object.keys(map)) {
      if (!(CHECK_NAMES as readonly string[]).includes(check)) {
        throw new Error(`alerts.${key}: unknown check ${JSON.stringify(check)}; expected one of: ${CHECK_NAMES.join(', ')}`);
      }
    }
  }
  return {
    fleet: config.fleet.name,
    repeatIntervalHours: { critical: a.repeatIntervalHours.critical, warning: a.repeatIntervalHours.warning },
    // The configured map refines the defaults: `for: {gpu.xid: 2}` keeps gpu.temperature at 2.
    for: { ...DEFAULT_FOR, ...(a.for as Partial<Record<CheckName, number>>) },
    keepFiringForMinutes: { ...DEFAULT_KEEP_FIRING_FOR_MINUTES, ...(a.keepFiringForMinutes as Partial<Record<CheckName, number>>) },
    flapping: { ...a.flapping },
    staleAfterMinutes: a.staleAfterMinutes,
    staleSeverity: a.staleSeverity,
    forgetHostAfterDays: a.forgetHostAfterDays,
    sweepIntervalMinutes: a.sweepIntervalMinutes,
    runbookUrl: a.runbookUrl,
  };
}

/** Validates the JSON a construct put into the environment; the error names the variable and the problem. */
export function parseAlertSettings(json: string | undefined, variable = 'GPU_MAINT_ALERT_SETTINGS'): AlertSettings {
  if (!json) throw new Error(`${variable} is not set: expected the alert settings JSON set by the stack`);
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch (err) {
    throw new Error(`${variable} is not JSON: ${(err as Error).message}`);
  }
  const parsed = alertSettingsSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new Error(`${variable} is not valid alert settings: ${issues}`);
  }
  return parsed.data;
}

export function forCount(settings: AlertSettings, check: CheckName): number {
  return settings.for[check] ?? 1;
}

export function keepFiringForMs(settings: AlertSettings, check: CheckName): number {
  return (settings.keepFiringForMinutes[check] ?? 0) * 60_000;
}

/** The flap damping of `settings` in milliseconds; null when it is off. */
export function flapDamping(
  settings: AlertSettings,
): { readonly firings: number; readonly windowMs: number; readonly stableMs: number } | null {
  const f = settings.flapping;
  if (!f.enabled) return null;
  return { firings: f.firings, windowMs: f.windowMinutes * 60_000, stableMs: f.stableMinutes * 60_000 };
}

export function repeatIntervalMs(settings: AlertSettings, severity: 'warning' | 'critical'): number {
  return settings.repeatIntervalHours[severity] * 3_600_000;
}

export function runbookLink(settings: Pick<AlertSettings, 'runbookUrl'>, check: CheckName): string {
  return `${settings.runbookUrl}#${check}`;
}
