/**
 * The remediation planner: one pure step over the fleet's proposals and ledger that decides, under hard
 * limits, which hosts are acted on now. It runs every remediation.intervalMinutes (a schedule in AWS, the
 * virtual clock in the simulator, after a local run) and its ledger is committed before anything is executed,
 * with a version check, so two planners can never both spend the same slot.
 *
 * Limits, each one a reason to hold a proposal (it waits, up to proposalMaxAgeHours):
 * - at once: hosts in remediation (started, or dry-run within recoveryTimeoutMinutes) stay within
 *   min(maxHostsAtOnce, max(1, ⌊maxPercentAtOnce% × fleet⌋));
 * - per hour: remediations started in the last 60 minutes stay within min(maxPerHour, max(1, ⌊maxPercentPerHour% × fleet⌋));
 * - storm: a cause shown within stormWindowMinutes by at least stormMinHosts hosts and by more than
 *   stormShare of the fleet is fleet-wide: no host is acted on for it, and one storm alert is raised;
 * - cooldown: nothing within cooldownMinutes of the host's last remediation;
 * - repeat: a host remediated within repeatWindowHours escalates to replace (when allowed and possible),
 *   else to a human, never to a second reboot; a failed recovery escalates the same way;
 * - maintenance window and exclusion tag.
 */

import type { CheckName } from '../types';
import { confirmedCauses, decidingCause } from './causes';
import {
  actionRank,
  type HostFacts,
  type Proposal,
  type ProposedCause,
  type RecoveryEvidence,
  type RemediationAction,
  type RemediationLedger,
  type RemediationRecord,
  type RemediationSettings,
  type ReplaceMethod,
  type StormRecord,
} from './model';
import { inMaintenanceWindow } from './window';

export interface PlanInput {
  readonly settings: RemediationSettings;
  readonly now: Date;
  readonly ledger: RemediationLedger;
  readonly proposals: readonly Proposal[];
  /** Hosts of the fleet (those reporting gpu-check), the base of the percentage limits and the storm guard. */
  readonly fleetSize: number;
  /** Facts of every proposed host and every host in remediation; a host without facts is not acted on. */
  readonly facts: ReadonlyMap<string, HostFacts>;
  /** Alert-state evidence of every host in remediation. */
  readonly recovery: ReadonlyMap<string, RecoveryEvidence>;
}

export type HoldReason = 'storm' | 'limit-at-once' | 'limit-per-hour' | 'cooldown' | 'maintenance-window';
export type SkipReason = 'excluded' | 'in-remediation' | 'awaiting-human' | 'gone';

export type Decision =
  | {
      readonly kind: 'act';
      readonly host: string;
      readonly action: RemediationAction;
      readonly cause: ProposedCause;
      readonly dryRun: boolean;
      readonly replaceBy?: ReplaceMethod;
      readonly recordId: string;
      /** Why this is not the cause's own rung (escalation, or a rung above maxAction: a human finishes). */
      readonly reason?: string;
    }
  | { readonly kind: 'human'; readonly host: string; readonly cause: ProposedCause; readonly reason: string; readonly recordId: string }
  | { readonly kind: 'hold'; readonly host: string; readonly cause: ProposedCause; readonly reason: HoldReason; readonly detail: string }
  | { readonly kind: 'skip'; readonly host: string; readonly cause: ProposedCause; readonly reason: SkipReason; readonly detail: string };

export interface RecoveryOutcome {
  readonly record: RemediationRecord;
  readonly outcome: 'recovered' | 'failed';
  /** Minutes from the action to the verifying gpu-check (recovered) or to the timeout (failed). */
  readonly minutes: number;
}

export interface Plan {
  readonly decisions: readonly Decision[];
  readonly recoveries: readonly RecoveryOutcome[];
  /** Storms that start now (one alert each). */
  readonly newStorms: readonly StormRecord[];
  /** The ledger to commit (version + 1) before executing anything. */
  readonly ledger: RemediationLedger;
  /** Hosts whose proposals are settled (acted on, handed to a human, stale): the store drops them. */
  readonly consumed: readonly string[];
}

const MIN = 60_000;
const HOUR = 3_600_000;

/** A limit as a count: the absolute cap and the fleet share (rounded down), never below one host. */
export function limitFor(max: number, percent: number, fleetSize: number): number {
  return Math.min(max, Math.max(1, Math.floor((percent / 100) * fleetSize)));
}

/** Records that took a host out of the scheduler's hands (everything but a human hand-off or a failed start). */
function acted(r: RemediationRecord): boolean {
  return r.status !== 'human' && r.status !== 'not-started';
}

/** Hosts in remediation now: started and not yet verified, or a dry run within the recovery timeout. */
export function activeRecords(ledger: RemediationLedger, settings: RemediationSettings, now: Date): RemediationRecord[] {
  const since = now.getTime() - settings.recoveryTimeoutMinutes * MIN;
  return ledger.records.filter((r) => r.status === 'started' || (r.status === 'dry-run' && Date.parse(r.at) > since));
}

/** Remediations started in the hour up to `now`. */
export function startedWithinHour(ledger: RemediationLedger, now: Date): RemediationRecord[] {
  const since = now.getTime() - HOUR;
  return ledger.records.filter((r) => acted(r) && Date.parse(r.at) > since && Date.parse(r.at) <= now.getTime());
}

/** Verifies started remediations against the alert state: healthy gpu-check → recovered; timeout → failed. */
function verify(input: PlanInput): { closed: Map<string, RemediationRecord>; outcomes: RecoveryOutcome[] } {
  const { settings, now, ledger } = input;
  const closed = new Map<string, RemediationRecord>();
  const outcomes: RecoveryOutcome[] = [];
  for (const r of ledger.records) {
    if (r.status !== 'started') continue;
    const atMs = Date.parse(r.at);
    const verifyFrom = atMs + settings.verifyAfterMinutes * MIN;
    const ev = input.recovery.get(r.host) ?? {};
    const checked = ev.lastGpuCheckAt !== undefined && Date.parse(ev.lastGpuCheckAt) >= verifyFrom;
    const faultAgain = ev.lastFaultAt !== undefined && Date.parse(ev.lastFaultAt) >= verifyFrom;
    if (checked && !faultAgain) {
      const minutes = Math.round((Date.parse(ev.lastGpuCheckAt as string) - atMs) / MIN);
      const record: RemediationRecord = { ...r, status: 'recovered', closedAt: now.toISOString() };
      closed.set(r.id, record);
      outcomes.push({ record, outcome: 'recovered', minutes });
    } else if (faultAgain || now.getTime() >= atMs + settings.recoveryTimeoutMinutes * MIN) {
      const reason = faultAgain
        ? `the fault was seen again at ${ev.lastFaultAt} after the ${r.action}`
        : `no healthy gpu-check within ${settings.recoveryTimeoutMinutes} min of the ${r.action}`;
      const record: RemediationRecord = { ...r, status: 'failed', reason, closedAt: now.toISOString() };
      closed.set(r.id, record);
      outcomes.push({ record, outcome: 'failed', minutes: Math.round((now.getTime() - atMs) / MIN) });
    }
  }
  return { closed, outcomes };
}

interface Candidate {
  readonly host: string;
  readonly cause: ProposedCause;
  readonly firstSeenAt: string;
  /** Set for a failed recovery: the rung above what failed, or a human. */
  readonly escalation?: string;
}

/** Storming cause keys: shown within the storm window by ≥ stormMinHosts hosts and > stormShare of the fleet. */
export function stormingCauses(
  proposals: readonly Proposal[],
  settings: RemediationSettings,
  fleetSize: number,
  now: Date,
): Map<string, { readonly hosts: number; readonly check: CheckName }> {
  const since = now.getTime() - settings.stormWindowMinutes * MIN;
  const hostsPerCause = new Map<string, { hosts: Set<string>; check: CheckName }>();
  for (const p of proposals) {
    for (const c of confirmedCauses(p)) {
      if (Date.parse(c.lastSeenAt) <= since) continue;
      const entry = hostsPerCause.get(c.key) ?? { hosts: new Set<string>(), check: c.check };
      entry.hosts.add(p.host);
      hostsPerCause.set(c.key, entry);
    }
  }
  const storms = new Map<string, { hosts: number; check: CheckName }>();
  for (const [key, { hosts, check }] of hostsPerCause) {
    if (hosts.size >= settings.stormMinHosts && hosts.size > settings.stormShare * fleetSize) storms.set(key, { hosts: hosts.size, check });
  }
  return storms;
}

/** The rung after a remediation that did not hold: replace when allowed and possible (and not already tried), else a human. */
function escalate(settings: RemediationSettings, facts: HostFacts, previous: RemediationAction | undefined): RemediationAction | null {
  const canReplace = actionRank(settings.maxAction) >= actionRank('replace') && facts.replaceBy !== null && previous !== 'replace';
  return canReplace ? 'replace' : null;
}

export function planRemediation(input: PlanInput): Plan {
  const { settings, now, ledger } = input;
  const nowMs = now.getTime();
  const { closed, outcomes } = verify(input);
  let records: RemediationRecord[] = ledger.records.map((r) => closed.get(r.id) ?? r);
  const decisions: Decision[] = [];
  const consumed = new Set<string>();

  // ---- candidates: failed recoveries first (their hosts are already out of service), then proposals
  const candidates: Candidate[] = [];
  for (const o of outcomes) {
    if (o.outcome !== 'failed') continue;
    const cause: ProposedCause = {
      key: o.record.cause,
      check: o.record.check,
      ...(o.record.gpu !== undefined ? { gpu: o.record.gpu } : {}),
      action: o.record.action,
      confirmations: 1,
      evidence: o.record.evidence,
      seen: 1,
      lastSeenAt: o.record.at,
    };
    candidates.push({ host: o.record.host, cause, firstSeenAt: o.record.at, escalation: `recovery failed: ${o.record.reason}` });
  }
  const escalated = new Set(candidates.map((c) => c.host));
  const maxAgeMs = settings.proposalMaxAgeHours * HOUR;
  const live = input.proposals.filter((p) => nowMs - Date.parse(p.lastSeenAt) <= maxAgeMs);
  for (const p of [...input.proposals].filter((p) => !live.includes(p))) consumed.add(p.host);
  for (const p of [...live].sort((a, b) => a.firstSeenAt.localeCompare(b.firstSeenAt) || a.host.localeCompare(b.host))) {
    if (escalated.has(p.host)) continue;
    const cause = decidingCause(confirmedCauses(p));
    if (!cause) continue; // waiting for confirmation
    // Already handled: a remediation decided after this proposal's latest result.
    if (records.some((r) => r.host === p.host && r.status !== 'not-started' && r.at >= p.lastSeenAt)) {
      consumed.add(p.host);
      continue;
    }
    candidates.push({ host: p.host, cause, firstSeenAt: p.firstSeenAt });
  }

  // ---- storm guard
  const storms = stormingCauses(live, settings, input.fleetSize, now);
  // A host stays held for a storm it was part of (its cause seen while the storm lasted), even once the
  // storm window has passed; a fault after the storm is judged on its own.
  const stormWindowMs = settings.stormWindowMinutes * MIN;
  const partOfStorm = (c: ProposedCause): boolean =>
    storms.has(c.key) ||
    ledger.storms.some(
      (s) => s.cause === c.key && Date.parse(c.lastSeenAt) >= Date.parse(s.since) - stormWindowMs && c.lastSeenAt <= s.lastSeenAt,
    );
  const stormOf = (host: string): string | undefined => {
    const p = live.find((x) => x.host === host);
    return p ? confirmedCauses(p).find(partOfStorm)?.key : undefined;
  };

  const limitAtOnce = limitFor(settings.maxHostsAtOnce, settings.maxPercentAtOnce, input.fleetSize);
  const limitPerHour = limitFor(settings.maxPerHour, settings.maxPercentPerHour, input.fleetSize);
  const windowOpen = inMaintenanceWindow(now, settings.maintenanceWindow, settings.timeZone);
  const at = now.toISOString();

  for (const c of candidates) {
    const { host, cause } = c;
    const facts = input.facts.get(host);
    const hold = (reason: HoldReason, detail: string) => decisions.push({ kind: 'hold', host, cause, reason, detail });
    const skip = (reason: SkipReason, detail: string) => decisions.push({ kind: 'skip', host, cause, reason, detail });
    if (!facts?.exists) {
      skip('gone', `${host} is not a known running instance`);
      consumed.add(host);
      continue;
    }
    if (facts.excluded) {
      skip('excluded', `${host} carries the exclusion tag ${settings.excludeTagKey}`);
      continue;
    }
    if (records.some((r) => r.host === host && r.status === 'started')) {
      skip('in-remediation', `${host} is already in remediation`);
      continue;
    }
    if (records.some((r) => r.host === host && r.status === 'human' && nowMs - Date.parse(r.at) < settings.repeatWindowHours * HOUR)) {
      skip('awaiting-human', `${host} was handed to a human within the last ${settings.repeatWindowHours} h`);
      consumed.add(host);
      continue;
    }
    const storm = c.escalation ? undefined : stormOf(host);
    if (storm) {
      hold('storm', `${storms.get(storm)?.hosts ?? 'many'} hosts show ${storm}: a fleet-wide cause, not this host's`);
      continue;
    }
    if (!windowOpen) {
      hold('maintenance-window', 'outside remediation.maintenanceWindow');
      continue;
    }
    // A dry run's records count towards its own repeats, never towards live ones.
    const recent = records.filter(
      (r) =>
        r.host === host &&
        r.status !== 'not-started' &&
        (settings.dryRun || r.status !== 'dry-run') &&
        nowMs - Date.parse(r.at) < settings.repeatWindowHours * HOUR,
    );
    const last = recent.reduce<RemediationRecord | undefined>((a, r) => (!a || r.at > a.at ? r : a), undefined);
    if (!c.escalation && last && nowMs - Date.parse(last.at) < settings.cooldownMinutes * MIN) {
      hold('cooldown', `${host} was remediated at ${last.at} (cooldown ${settings.cooldownMinutes} min)`);
      continue;
    }
    let action: RemediationAction = cause.action;
    let reason: string | undefined;
    const recordId = `${host}/${at}`;
    const previous = recent.filter(acted);
    if (c.escalation || previous.length > 0) {
      const why =
        c.escalation ??
        `second fault within ${settings.repeatWindowHours} h of the ${previous[previous.length - 1].action} at ${previous[previous.length - 1].at}`;
      const next = escalate(settings, facts, previous.length ? previous[previous.length - 1].action : undefined);
      if (next === null) {
        const human = `${why}; no rung left (replace ${actionRank(settings.maxAction) < actionRank('replace') ? 'is above remediation.maxAction' : facts.replaceBy === null ? 'is not possible for this host' : 'already tried'}): a human must act`;
        decisions.push({ kind: 'human', host, cause, reason: human, recordId });
        records.push(record(recordId, host, cause, cause.action, at, 'human', human));
        consumed.add(host);
        continue;
      }
      action = next;
      reason = `${why}: escalated to ${next}`;
    }
    if (actionRank(action) > actionRank(settings.maxAction)) {
      reason = `${reason ? `${reason}; ` : ''}${action} is above remediation.maxAction (${settings.maxAction}): a human must finish`;
      action = settings.maxAction;
    }
    if (action === 'replace' && facts.replaceBy === null) {
      reason = `${reason ? `${reason}; ` : ''}replace is not possible for this host: a human must finish`;
      action = actionRank(settings.maxAction) >= actionRank('notify-scheduler') ? 'notify-scheduler' : 'tag';
    }
    const active = activeRecords({ ...ledger, records }, settings, now).length;
    if (active >= limitAtOnce) {
      hold('limit-at-once', `${active} host(s) in remediation, limit ${limitAtOnce}`);
      continue;
    }
    const hour = startedWithinHour({ ...ledger, records }, now).length;
    if (hour >= limitPerHour) {
      hold('limit-per-hour', `${hour} remediation(s) in the last hour, limit ${limitPerHour}`);
      continue;
    }
    const replaceBy = action === 'replace' && facts.replaceBy ? facts.replaceBy : undefined;
    decisions.push({
      kind: 'act',
      host,
      action,
      cause,
      dryRun: settings.dryRun,
      recordId,
      ...(replaceBy ? { replaceBy } : {}),
      ...(reason ? { reason } : {}),
    });
    records.push({
      ...record(recordId, host, cause, action, at, settings.dryRun ? 'dry-run' : 'started', reason),
      ...(replaceBy ? { replaceBy } : {}),
    });
    consumed.add(host);
  }

  // ---- storms: alert once per storm; forget a storm quiet for the repeat window
  const newStorms: StormRecord[] = [];
  const stormRecords: StormRecord[] = [];
  for (const s of ledger.storms) {
    const current = storms.get(s.cause);
    if (current !== undefined) stormRecords.push({ ...s, lastSeenAt: at, hosts: current.hosts });
    else if (nowMs - Date.parse(s.lastSeenAt) < settings.repeatWindowHours * HOUR) stormRecords.push(s);
  }
  for (const [cause, { hosts, check }] of storms) {
    if (stormRecords.some((s) => s.cause === cause)) continue;
    const s: StormRecord = { cause, check, since: at, lastSeenAt: at, hosts };
    newStorms.push(s);
    stormRecords.push(s);
  }

  // ---- keep what the limits and the repeat rule still need
  const keepMs = Math.max(settings.repeatWindowHours * HOUR, HOUR, settings.recoveryTimeoutMinutes * MIN);
  records = records.filter((r) => r.status === 'started' || nowMs - Date.parse(r.at) < keepMs);
  return {
    decisions,
    recoveries: outcomes,
    newStorms,
    ledger: { version: ledger.version + 1, records, storms: stormRecords },
    consumed: [...consumed],
  };
}

function record(
  id: string,
  host: string,
  cause: ProposedCause,
  action: RemediationAction,
  at: string,
  status: RemediationRecord['status'],
  reason: string | undefined,
): RemediationRecord {
  return {
    id,
    host,
    cause: cause.key,
    check: cause.check,
    ...(cause.gpu !== undefined ? { gpu: cause.gpu } : {}),
    evidence: cause.evidence,
    action,
    at,
    status,
    ...(reason ? { reason } : {}),
  };
}

/** True for decisions that run something now (dry-run decisions are recorded, not run). */
export function executes(d: Decision): d is Extract<Decision, { kind: 'act' }> {
  return d.kind === 'act' && !d.dryRun;
}
