/**
 * Remediation notifications: every action, its outcome, a hand-off to a human and a storm go out as alert
 * notifications (lambda/core/alerts/model.ts), so email, Slack, PagerDuty and Chatbot carry them with no
 * renderer of their own: "rebooted i-0abc after Xid 79 on GPU 5; healthy again 6 min later".
 */
import type { AlertSeverity, Notification } from '../alerts/model';
import type { CheckName } from '../types';
import type { RemediationAction, RemediationRecord, RemediationSettings, ReplaceMethod, StormRecord } from './model';
import type { Decision, Plan, RecoveryOutcome } from './plan';

/** `Xid 79 on GPU 5`, `gpu-count-lost`. */
export function causeLabel(cause: string, gpu?: number): string {
  const xid = /^xid-(\d+)$/.exec(cause);
  const name = xid ? `Xid ${xid[1]}` : cause;
  return gpu === undefined ? name : `${name} on GPU ${gpu}`;
}

/** What a rung does, in the past tense. */
export function actionVerb(action: RemediationAction, replaceBy?: ReplaceMethod): string {
  switch (action) {
    case 'tag':
      return 'quarantined (tagged)';
    case 'notify-scheduler':
      return "quarantined and reported to the scheduler's drain automation";
    case 'reboot':
      return 'rebooted';
    case 'replace':
      return replaceBy === 'asg' ? 'replaced (Auto Scaling: marked unhealthy)' : 'stopped and started onto new hardware';
  }
}

function notification(
  settings: RemediationSettings,
  host: string,
  at: string,
  severity: AlertSeverity,
  check: CheckName,
  gpu: number | undefined,
  message: string,
  key: string,
): Notification {
  return {
    id: `${host}/remediation/${key}`,
    at,
    fleet: settings.fleet,
    host,
    status: 'firing',
    severity,
    tasks: ['gpu-check'],
    alerts: [
      {
        change: 'firing',
        check,
        ...(gpu !== undefined ? { gpu } : {}),
        task: 'gpu-check',
        severity,
        message,
        since: at,
        runbook: `${settings.runbookUrl}#${check}`,
      },
    ],
    stillFiring: [],
  };
}

/** One line per decision that did or would do something; holds and skips are logged, not sent. */
export function decisionMessage(d: Decision): string | null {
  const cause = causeLabel(d.cause.key, d.cause.gpu);
  if (d.kind === 'act') {
    const what = `${actionVerb(d.action, d.replaceBy)} ${d.host} after ${cause}`;
    const why = d.reason ? ` (${d.reason})` : '';
    return d.dryRun
      ? `remediation dry run: would have ${what}${why}; nothing was done (remediation.dryRun)`
      : `remediation: ${what}${why}; the next gpu-check verifies recovery. Evidence: ${d.cause.evidence}`;
  }
  if (d.kind === 'human') return `remediation: ${d.host} needs a human after ${cause}: ${d.reason}. Evidence: ${d.cause.evidence}`;
  return null;
}

export function recoveryMessage(o: RecoveryOutcome): string {
  const r: RemediationRecord = o.record;
  const what = `${actionVerb(r.action, r.replaceBy)} ${r.host} after ${causeLabel(r.cause, r.gpu)}`;
  return o.outcome === 'recovered'
    ? `remediation: ${what}; healthy again ${o.minutes} min later`
    : `remediation: ${what}; it did not recover: ${r.reason}`;
}

export function stormMessage(s: StormRecord, settings: RemediationSettings, fleetSize: number): string {
  return (
    `remediation held fleet-wide: ${s.hosts} of ${fleetSize} hosts show ${causeLabel(s.cause)} (more than ${Math.round(settings.stormShare * 100)}% ` +
    'of the fleet at once): a common cause such as a driver rollout or a bad config, not failing hardware; no host is remediated for it'
  );
}

/** Every notification a plan calls for: actions and hand-offs, recovery outcomes, one per new storm. */
export function planNotifications(plan: Plan, settings: RemediationSettings, fleetSize: number, at: string): Notification[] {
  const out: Notification[] = [];
  for (const o of plan.recoveries) {
    out.push(
      notification(
        settings,
        o.record.host,
        at,
        o.outcome === 'recovered' ? 'warning' : 'critical',
        o.record.check,
        o.record.gpu,
        recoveryMessage(o),
        `${o.record.at}/${o.outcome}`,
      ),
    );
  }
  for (const d of plan.decisions) {
    const message = decisionMessage(d);
    if (message === null || (d.kind !== 'act' && d.kind !== 'human')) continue;
    const severity: AlertSeverity = d.kind === 'human' || d.reason ? 'critical' : 'warning';
    out.push(notification(settings, d.host, at, severity, d.cause.check, d.cause.gpu, message, `${at}/${d.kind}`));
  }
  for (const s of plan.newStorms) {
    out.push(
      notification(
        settings,
        `fleet:${settings.fleet}`,
        at,
        'critical',
        s.check,
        undefined,
        stormMessage(s, settings, fleetSize),
        `${at}/storm/${s.cause}`,
      ),
    );
  }
  return out;
}

/** The "GPU host unhealthy" event: its source and detail type are a contract with users' EventBridge rules. */
export const UNHEALTHY_EVENT = { source: 'gpu-maint.remediation', detailType: 'GPU host unhealthy' } as const;

/** The event's detail: what the users' drain automation needs to cordon the host and why. */
export function unhealthyEventDetail(d: Extract<Decision, { kind: 'act' }>, settings: RemediationSettings): Record<string, unknown> {
  return {
    fleet: settings.fleet,
    host: d.host,
    action: d.action,
    cause: d.cause.key,
    check: d.cause.check,
    ...(d.cause.gpu !== undefined ? { gpu: d.cause.gpu } : {}),
    evidence: d.cause.evidence.slice(0, 500),
    ...(d.reason ? { reason: d.reason } : {}),
    quarantineTag: settings.quarantineTagKey,
  };
}
