/**
 * Remediation vocabulary: the action ladder, what a host is proposed for (causes from its findings), the
 * fleet's remediation ledger (what was done, when, and how it ended) and the planner's settings. Plain data,
 * stored as JSON (one DynamoDB item in AWS, a file locally) and replayed by the simulator.
 */
import { z } from 'zod';
import type { Config } from '../../config/schema';
import { parseScheduleExpression, rateSeconds } from '../schedule/expression';
import type { CheckName } from '../types';

/**
 * The ladder, least disruptive first: `tag` sets the quarantine tag (schedulers and humans see it),
 * `notify-scheduler` also emits a "GPU host unhealthy" event for the users' drain automation, `reboot` also
 * reboots, `replace` also hands the host back (Auto Scaling SetInstanceHealth Unhealthy, or stop/start onto
 * new hardware). Each rung includes the ones below it.
 */
export const REMEDIATION_ACTIONS = ['tag', 'notify-scheduler', 'reboot', 'replace'] as const;
export type RemediationAction = (typeof REMEDIATION_ACTIONS)[number];

export function actionRank(action: RemediationAction): number {
  return REMEDIATION_ACTIONS.indexOf(action);
}

export function higherAction(a: RemediationAction, b: RemediationAction): RemediationAction {
  return actionRank(a) >= actionRank(b) ? a : b;
}

/** The rungs an action runs, in order: `reboot` → tag, notify-scheduler, reboot. */
export function rungsOf(action: RemediationAction): readonly RemediationAction[] {
  return REMEDIATION_ACTIONS.slice(0, actionRank(action) + 1);
}

/** Rungs that take the host out of service. */
export function isDisruptive(action: RemediationAction): boolean {
  return action === 'reboot' || action === 'replace';
}

/** One remediable finding: what it is (`key`, the storm guard's unit) and the rung it calls for. */
export interface Cause {
  /** Stable name of the fault, e.g. `xid-79`, `gpu-count-lost`, `row-remap-failure`. */
  readonly key: string;
  readonly check: CheckName;
  readonly gpu?: number;
  readonly action: RemediationAction;
  /** Consecutive results that must show it before acting (1: the event itself is proof). */
  readonly confirmations: number;
  /** The finding's message, quoted in notifications. */
  readonly evidence: string;
}

/** A cause as a proposal holds it: how often in a row, and when last, a result showed it. */
export interface ProposedCause extends Cause {
  /** Consecutive results of the host that showed it (acting needs `confirmations`). */
  readonly seen: number;
  readonly lastSeenAt: string;
}

/** A host's standing request for remediation, refreshed by each result that shows remediable causes. */
export interface Proposal {
  readonly host: string;
  readonly causes: readonly ProposedCause[];
  /** First result of this run of consecutive results with remediable causes. */
  readonly firstSeenAt: string;
  /** Latest such result. */
  readonly lastSeenAt: string;
}

/**
 * How a remediation ended: `started` (acting, not verified yet), `recovered` (a later gpu-check was healthy),
 * `failed` (no healthy gpu-check within recoveryTimeoutMinutes, or the action could not start), `human` (a
 * person must act: no rung left), `dry-run` (recorded only), `not-started` (the execution could not be
 * started: it counts towards no limit, and the proposal stays for the next run).
 */
export type RecordStatus = 'started' | 'recovered' | 'failed' | 'human' | 'dry-run' | 'not-started';

export interface RemediationRecord {
  /** `<host>/<at>`: unique, stable across retries. */
  readonly id: string;
  readonly host: string;
  /** Key of the deciding cause (the one with the highest rung). */
  readonly cause: string;
  readonly check: CheckName;
  readonly gpu?: number;
  readonly evidence: string;
  readonly action: RemediationAction;
  /** How the replace rung hands the host back, when action is replace. */
  readonly replaceBy?: ReplaceMethod;
  readonly at: string;
  readonly status: RecordStatus;
  /** Why it escalated (second fault within the repeat window, failed recovery) or needs a human. */
  readonly reason?: string;
  /** Automation execution id(s) or local command outcome. */
  readonly execution?: string;
  /** When recovery was verified or declared failed. */
  readonly closedAt?: string;
}

/** A fleet-wide cause the storm guard held back: alerted once while it lasts. */
export interface StormRecord {
  readonly cause: string;
  readonly check: CheckName;
  readonly since: string;
  readonly lastSeenAt: string;
  readonly hosts: number;
}

/** The fleet's remediation state, replaced as a unit under `version` (two planners never both act). */
export interface RemediationLedger {
  readonly version: number;
  readonly records: readonly RemediationRecord[];
  readonly storms: readonly StormRecord[];
}

export function emptyLedger(): RemediationLedger {
  return { version: 0, records: [], storms: [] };
}

/** `asg`: Auto Scaling SetInstanceHealth Unhealthy; `stop-start`: an EBS-backed instance moves to new hardware. */
export type ReplaceMethod = 'asg' | 'stop-start';

/** What the planner needs to know about a proposed host (EC2 DescribeInstances in AWS; locally: this machine). */
export interface HostFacts {
  /** Carries the exclusion tag: never remediated. */
  readonly excluded: boolean;
  /** How the host can be replaced; null when it cannot be (instance-store root, hybrid node, local machine). */
  readonly replaceBy: ReplaceMethod | null;
  /** The host still exists and can be acted on (a terminated instance cannot). */
  readonly exists: boolean;
}

/** What the alert state says about a host in remediation, for verifying recovery. */
export interface RecoveryEvidence {
  /** Latest gpu-check result of the host. */
  readonly lastGpuCheckAt?: string;
  /** Latest breach of a remediable check (critical) on the host. */
  readonly lastFaultAt?: string;
}

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/);

/** The planner's settings: from config `remediation.*` locally, one JSON variable in the Lambda. */
export const remediationSettingsSchema = z.strictObject({
  fleet: z.string().min(1),
  enabled: z.boolean(),
  dryRun: z.boolean(),
  maxAction: z.enum(REMEDIATION_ACTIONS),
  maxHostsAtOnce: z.number().int().min(1),
  maxPercentAtOnce: z.number().gt(0).max(100),
  maxPerHour: z.number().int().min(1),
  maxPercentPerHour: z.number().gt(0).max(100),
  stormShare: z.number().gt(0).max(1),
  stormMinHosts: z.number().int().min(2),
  stormWindowMinutes: z.number().int().min(1),
  cooldownMinutes: z.number().int().min(0),
  repeatWindowHours: z.number().positive(),
  verifyAfterMinutes: z.number().int().min(1),
  recoveryTimeoutMinutes: z.number().int().min(1),
  proposalMaxAgeHours: z.number().positive(),
  intervalMinutes: z.number().int().min(1),
  /** A cause counts as seen again (confirmed) only this soon after its last sighting: two gpu-check periods. */
  confirmWithinMinutes: z.number().int().min(1),
  timeZone: z.string().min(1),
  maintenanceWindow: z
    .strictObject({ days: z.array(z.enum(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'])).min(1), start: hhmm, end: hhmm })
    .optional(),
  excludeTagKey: z.string().min(1),
  quarantineTagKey: z.string().min(1),
  runbookUrl: z.string().min(1),
});
export type RemediationSettings = z.infer<typeof remediationSettingsSchema>;

/** Two gpu-check periods and a minute of slack; 30 min for a cron schedule. */
function confirmWithinMinutes(config: Config): number {
  const schedule = parseScheduleExpression(config.gpuCheck.schedule.expression);
  return schedule.kind === 'rate' ? Math.ceil((2 * rateSeconds(schedule)) / 60) + 1 : 30;
}

/** Settings from the validated config. */
export function remediationSettings(config: Config): RemediationSettings {
  const r = config.remediation;
  return {
    fleet: config.fleet.name,
    enabled: r.enabled,
    dryRun: r.dryRun,
    maxAction: r.maxAction,
    maxHostsAtOnce: r.maxHostsAtOnce,
    maxPercentAtOnce: r.maxPercentAtOnce,
    maxPerHour: r.maxPerHour,
    maxPercentPerHour: r.maxPercentPerHour,
    stormShare: r.stormShare,
    stormMinHosts: r.stormMinHosts,
    stormWindowMinutes: r.stormWindowMinutes,
    cooldownMinutes: r.cooldownMinutes,
    repeatWindowHours: r.repeatWindowHours,
    verifyAfterMinutes: r.verifyAfterMinutes,
    recoveryTimeoutMinutes: r.recoveryTimeoutMinutes,
    proposalMaxAgeHours: r.proposalMaxAgeHours,
    intervalMinutes: r.intervalMinutes,
    confirmWithinMinutes: confirmWithinMinutes(config),
    timeZone: config.timeZone,
    ...(r.maintenanceWindow ? { maintenanceWindow: r.maintenanceWindow } : {}),
    excludeTagKey: r.excludeTagKey,
    quarantineTagKey: r.quarantineTagKey,
    runbookUrl: config.alerts.runbookUrl,
  };
}
