/**
 * Replays recorded evaluations (the alert simulator's JSON lines, ../alerts/simulate.ts) through the
 * remediation policy on a virtual clock: each gpu-check result proposes, the planner runs every
 * remediation.intervalMinutes, and every decision is reported. The replay acts as if remediation were on
 * and live (that is what it is for: trying a policy before switching it on); hosts are taken to exist,
 * to carry no exclusion tag and to be replaceable as `replaceBy` says.
 */
import type { Notifier } from '../alerts/ports';
import type { ScenarioEvent } from '../alerts/simulate';
import type { TaskResult } from '../types';
import { REMEDIABLE_CHECKS, resultCauses } from './causes';
import { MemoryLedgerStore, MemoryProposalStore } from './memory';
import type { HostFacts, RecoveryEvidence, RemediationSettings, ReplaceMethod } from './model';
import { causeLabel, decisionMessage, recoveryMessage, stormMessage } from './notify';
import { recordProposal, runRemediation } from './run';

export interface SimulatedRemediation {
  readonly at: string;
  /** `fleet:<name>` for a storm. */
  readonly host: string;
  readonly kind: 'act' | 'human' | 'hold' | 'recovered' | 'failed' | 'storm';
  readonly action?: string;
  readonly cause: string;
  readonly message: string;
}

export interface RemediationSimulationOptions {
  /** How the simulated hosts can be replaced. @default 'asg' */
  readonly replaceBy?: ReplaceMethod | null;
}

export async function simulateRemediation(
  events: readonly ScenarioEvent[],
  configured: RemediationSettings,
  options: RemediationSimulationOptions = {},
): Promise<SimulatedRemediation[]> {
  const settings: RemediationSettings = { ...configured, enabled: true, dryRun: false };
  const proposals = new MemoryProposalStore();
  const ledger = new MemoryLedgerStore();
  const lastGpuCheck = new Map<string, string>();
  const lastFault = new Map<string, string>();
  const facts: HostFacts = { excluded: false, exists: true, replaceBy: options.replaceBy === undefined ? 'asg' : options.replaceBy };
  const silent: Notifier = { send: async () => {} };
  const out: SimulatedRemediation[] = [];
  const held = new Set<string>();
  let fleetSize = 0;

  const deps = {
    settings,
    proposals,
    ledger,
    fleet: {
      fleetSize: async () => fleetSize,
      recoveryEvidence: async (hosts: readonly string[]) =>
        new Map<string, RecoveryEvidence>(
          hosts.map((h) => [
            h,
            {
              ...(lastGpuCheck.has(h) ? { lastGpuCheckAt: lastGpuCheck.get(h) } : {}),
              ...(lastFault.has(h) ? { lastFaultAt: lastFault.get(h) } : {}),
            },
          ]),
        ),
    },
    hosts: { facts: async (hosts: readonly string[]) => new Map(hosts.map((h) => [h, facts])) },
    executor: { execute: async () => 'simulated' },
    notifier: silent,
  };

  const plan = async (now: Date) => {
    const run = await runRemediation(deps, now);
    if (!run) return;
    const at = now.toISOString();
    for (const o of run.plan.recoveries) {
      out.push({ at, host: o.record.host, kind: o.outcome, action: o.record.action, cause: o.record.cause, message: recoveryMessage(o) });
    }
    for (const d of run.plan.decisions) {
      if (d.kind === 'act' || d.kind === 'human') {
        out.push({
          at,
          host: d.host,
          kind: d.kind,
          ...(d.kind === 'act' ? { action: d.action } : {}),
          cause: d.cause.key,
          message: decisionMessage(d) ?? '',
        });
        held.delete(d.host);
      } else if (d.kind === 'hold') {
        // A proposal held run after run is reported once per reason.
        const key = `${d.host}|${d.reason}`;
        if (held.has(key)) continue;
        held.add(key);
        out.push({
          at,
          host: d.host,
          kind: 'hold',
          cause: d.cause.key,
          message: `held (${d.reason}): ${d.detail}; ${causeLabel(d.cause.key, d.cause.gpu)}`,
        });
      }
    }
    for (const s of run.plan.newStorms) {
      out.push({ at, host: `fleet:${settings.fleet}`, kind: 'storm', cause: s.cause, message: stormMessage(s, settings, run.fleetSize) });
    }
  };

  const results = events
    .filter((e): e is Extract<ScenarioEvent, { kind: 'result' }> => e.kind === 'result')
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.line - b.line);
  if (results.length === 0) return out;
  const stepMs = settings.intervalMinutes * 60_000;
  let next = Math.floor(Date.parse(results[0].at) / stepMs) * stepMs + stepMs;
  const fleet = new Set<string>();
  const observe = async (r: TaskResult) => {
    if (r.task !== 'gpu-check') return;
    fleet.add(r.host);
    fleetSize = fleet.size;
    lastGpuCheck.set(r.host, r.at as string);
    if (r.findings.some((f) => f.severity === 'critical' && REMEDIABLE_CHECKS.includes(f.check)) && resultCauses(r).length > 0) {
      lastFault.set(r.host, r.at as string);
    }
    await recordProposal(r, proposals, settings);
  };
  for (const e of results) {
    while (next <= Date.parse(e.at)) {
      await plan(new Date(next));
      next += stepMs;
    }
    await observe(e.result);
  }
  // Let the last results be planned and verified.
  const end = Date.parse(results[results.length - 1].at) + (settings.recoveryTimeoutMinutes + settings.intervalMinutes) * 60_000;
  while (next <= end) {
    await plan(new Date(next));
    next += stepMs;
  }
  return out;
}
