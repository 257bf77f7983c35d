/**
 * Remediation over ports: the collect path proposes (`recordProposal`, per result), the planner decides
 * (`runRemediation`, every remediation.intervalMinutes), an executor acts. The same code runs in the
 * remediation Lambda (DynamoDB, EC2, SSM Automation, EventBridge), locally (a JSON file, a configured command)
 * and in the simulator (memory).
 *
 * Order of effects in one run: plan → commit the ledger (version check: a lost race re-plans from the winner's
 * ledger, so no limit is spent twice) → execute → record executions → drop settled proposals → notify.
 */
import type { Notification } from '../alerts/model';
import type { Notifier } from '../alerts/ports';
import { METRICS } from '../metric-names';
import type { MetricsSink } from '../ports';
import type { MetricDatum, TaskResult } from '../types';
import { nextProposal } from './causes';
import type { HostFacts, Proposal, RecoveryEvidence, RemediationLedger, RemediationSettings } from './model';
import { planNotifications } from './notify';
import { type Decision, type Plan, planRemediation } from './plan';

/** Thrown by {@link LedgerStore.save} when another planner committed since the ledger was loaded. */
export class LedgerConflictError extends Error {
  constructor(detail: string) {
    super(`remediation ledger changed while it was being planned (${detail})`);
    this.name = 'LedgerConflictError';
  }
}

export interface ProposalStore {
  get(host: string): Promise<Proposal | null>;
  put(proposal: Proposal): Promise<void>;
  list(): Promise<readonly Proposal[]>;
  delete(hosts: readonly string[]): Promise<void>;
}

export interface LedgerStore {
  load(): Promise<RemediationLedger>;
  /** Replaces `previous` with `next` (next.version = previous.version + 1); throws {@link LedgerConflictError} on a lost race. */
  save(previous: RemediationLedger, next: RemediationLedger): Promise<void>;
}

/** What the planner reads about the fleet: its size, and the alert state of hosts in remediation. */
export interface FleetView {
  fleetSize(now: Date): Promise<number>;
  recoveryEvidence(hosts: readonly string[]): Promise<ReadonlyMap<string, RecoveryEvidence>>;
}

export interface HostFactsSource {
  facts(hosts: readonly string[]): Promise<ReadonlyMap<string, HostFacts>>;
}

export type ActDecision = Extract<Decision, { kind: 'act' }>;

export interface RemediationExecutor {
  /** Runs one decided action; returns what to quote (Automation execution ids, the command's exit). Throws when it could not start. */
  execute(decision: ActDecision, settings: RemediationSettings): Promise<string>;
}

export interface RemediationDeps {
  readonly settings: RemediationSettings;
  readonly proposals: ProposalStore;
  readonly ledger: LedgerStore;
  readonly fleet: FleetView;
  readonly hosts: HostFactsSource;
  readonly executor: RemediationExecutor;
  readonly notifier: Notifier;
  readonly metrics?: MetricsSink;
  readonly log?: { warn(message: string, details?: Record<string, unknown>): void };
}

/** Records the host's proposal when the result shows remediable causes. Returns the stored proposal, if any. */
export async function recordProposal(result: TaskResult, store: ProposalStore, settings: RemediationSettings): Promise<Proposal | null> {
  if (!settings.enabled || result.task !== 'gpu-check' || !result.findings.some((f) => f.severity === 'critical')) return null;
  const previous = await store.get(result.host);
  const next = nextProposal(previous, result, settings.confirmWithinMinutes * 60_000);
  if (next) await store.put(next);
  return next;
}

export interface RemediationRun {
  readonly plan: Plan;
  readonly fleetSize: number;
  /** Executions that could not start: record id → error. */
  readonly failedToStart: ReadonlyMap<string, string>;
  readonly notifications: readonly Notification[];
}

const MAX_ATTEMPTS = 5;

async function planAndCommit(deps: RemediationDeps, now: Date): Promise<{ plan: Plan; fleetSize: number }> {
  for (let attempt = 1; ; attempt++) {
    const ledger = await deps.ledger.load();
    const proposals = await deps.proposals.list();
    const fleetSize = await deps.fleet.fleetSize(now);
    const started = ledger.records.filter((r) => r.status === 'started').map((r) => r.host);
    const hosts = [...new Set([...proposals.map((p) => p.host), ...started])];
    const facts = hosts.length ? await deps.hosts.facts(hosts) : new Map<string, HostFacts>();
    const recovery = started.length ? await deps.fleet.recoveryEvidence(started) : new Map<string, RecoveryEvidence>();
    const plan = planRemediation({ settings: deps.settings, now, ledger, proposals, fleetSize, facts, recovery });
    try {
      await deps.ledger.save(ledger, plan.ledger);
      return { plan, fleetSize };
    } catch (err) {
      if (!(err instanceof LedgerConflictError) || attempt >= MAX_ATTEMPTS) throw err;
      deps.log?.warn('remediation ledger conflict; planning again', { attempt });
    }
  }
}

/** Writes execution outcomes into the committed ledger (re-reading on a lost race). */
async function recordExecutions(deps: RemediationDeps, executions: ReadonlyMap<string, string>, failed: ReadonlyMap<string, string>) {
  if (executions.size === 0 && failed.size === 0) return;
  for (let attempt = 1; ; attempt++) {
    const ledger = await deps.ledger.load();
    const records = ledger.records.map((r) => {
      if (failed.has(r.id)) return { ...r, status: 'not-started' as const, reason: `could not start: ${failed.get(r.id)}` };
      const execution = executions.get(r.id);
      return execution ? { ...r, execution } : r;
    });
    try {
      await deps.ledger.save(ledger, { ...ledger, version: ledger.version + 1, records });
      return;
    } catch (err) {
      if (!(err instanceof LedgerConflictError) || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}

function metricsOf(run: { plan: Plan; failedToStart: ReadonlyMap<string, string> }, fleet: string): MetricDatum[] {
  const out: MetricDatum[] = [];
  const count = (name: string, value: number, extra: Record<string, string> = {}) =>
    out.push({ name, value, unit: 'Count', dimensions: { Fleet: fleet, ...extra } });
  for (const d of run.plan.decisions) {
    if (d.kind === 'act' && !run.failedToStart.has(d.recordId))
      count(METRICS.RemediationActions, 1, { Action: d.dryRun ? `${d.action} (dry run)` : d.action });
    if (d.kind === 'human') count(METRICS.RemediationActions, 1, { Action: 'human' });
  }
  for (const o of run.plan.recoveries) count(METRICS.RemediationOutcomes, 1, { Outcome: o.outcome });
  count(METRICS.RemediationHeld, run.plan.decisions.filter((d) => d.kind === 'hold').length);
  count(METRICS.RemediationStorms, run.plan.newStorms.length);
  return out;
}

/** One planner run. Off (remediation.enabled false): does nothing at all. */
export async function runRemediation(deps: RemediationDeps, now: Date): Promise<RemediationRun | null> {
  if (!deps.settings.enabled) return null;
  const { plan, fleetSize } = await planAndCommit(deps, now);
  const executions = new Map<string, string>();
  const failedToStart = new Map<string, string>();
  for (const d of plan.decisions) {
    if (d.kind !== 'act' || d.dryRun) continue;
    try {
      executions.set(d.recordId, await deps.executor.execute(d, deps.settings));
    } catch (err) {
      failedToStart.set(d.recordId, (err as Error)?.message ?? String(err));
    }
  }
  await recordExecutions(deps, executions, failedToStart);
  // A proposal whose action could not start stays, so the next run tries again.
  const failedHosts = new Set(plan.decisions.filter((d) => d.kind === 'act' && failedToStart.has(d.recordId)).map((d) => d.host));
  const consumed = plan.consumed.filter((h) => !failedHosts.has(h));
  if (consumed.length) await deps.proposals.delete(consumed);
  const at = now.toISOString();
  const notifications = planNotifications(plan, deps.settings, fleetSize, at).map((n) => {
    const failed = plan.decisions.find((d) => d.kind === 'act' && d.host === n.host && failedToStart.has(d.recordId));
    if (failed?.kind !== 'act') return n;
    const error = failedToStart.get(failed.recordId);
    return {
      ...n,
      severity: 'critical' as const,
      alerts: n.alerts.map((a) => ({ ...a, severity: 'critical' as const, message: `${a.message} — FAILED TO START: ${error}` })),
    };
  });
  for (const n of notifications) await deps.notifier.send(n);
  const run = { plan, fleetSize, failedToStart, notifications };
  if (deps.metrics) await deps.metrics.put(metricsOf(run, deps.settings.fleet), now);
  return run;
}
