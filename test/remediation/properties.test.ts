/**
 * The blast-radius limits, proven over random fleets and fault sequences: a fleet of random size gets a
 * random sequence of sweeps (faults on random hosts, random recoveries, random exclusions), the planner runs
 * each sweep with the ledger it committed the sweep before, and every plan is checked against each limit.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  emptyLedger,
  type HostFacts,
  type Proposal,
  REMEDIATION_ACTIONS,
  type RecoveryEvidence,
  type RemediationLedger,
} from '../../lambda/core/remediation/model';
import { activeRecords, limitFor, type Plan, planRemediation, startedWithinHour, stormingCauses } from '../../lambda/core/remediation/plan';
import { inMaintenanceWindow } from '../../lambda/core/remediation/window';
import { at, cause, date, settingsFor } from './helpers';

const CAUSES = ['xid-79', 'xid-48', 'gpu-count-lost', 'row-remap-failure'] as const;

const settingsArb = fc.record({
  maxAction: fc.constantFrom(...REMEDIATION_ACTIONS),
  maxHostsAtOnce: fc.integer({ min: 1, max: 6 }),
  maxPercentAtOnce: fc.integer({ min: 1, max: 50 }),
  maxPerHour: fc.integer({ min: 1, max: 8 }),
  maxPercentPerHour: fc.integer({ min: 1, max: 50 }),
  stormShare: fc.double({ min: 0.05, max: 0.5, noNaN: true }),
  stormMinHosts: fc.integer({ min: 2, max: 5 }),
  cooldownMinutes: fc.integer({ min: 0, max: 180 }),
  dryRun: fc.boolean(),
  window: fc.boolean(),
});

const sweepArb = (hosts: number) =>
  fc.record({
    faults: fc.array(fc.record({ host: fc.integer({ min: 0, max: hosts - 1 }), cause: fc.constantFrom(...CAUSES) }), { maxLength: hosts }),
    healthy: fc.array(fc.integer({ min: 0, max: hosts - 1 }), { maxLength: hosts }),
  });

const scenarioArb = fc.integer({ min: 1, max: 60 }).chain((hosts) =>
  fc.record({
    hosts: fc.constant(hosts),
    excluded: fc.array(fc.integer({ min: 0, max: hosts - 1 }), { maxLength: 3 }),
    settings: settingsArb,
    sweeps: fc.array(sweepArb(hosts), { minLength: 1, maxLength: 40 }),
  }),
);

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Runs a scenario; calls `check` with each plan, the ledger before it and the proposals it saw. */
function replay(s: Scenario, check: (plan: Plan, before: RemediationLedger, proposals: readonly Proposal[], now: Date) => void): void {
  const settings = settingsFor({
    maxAction: s.settings.maxAction,
    maxHostsAtOnce: s.settings.maxHostsAtOnce,
    maxPercentAtOnce: s.settings.maxPercentAtOnce,
    maxPerHour: s.settings.maxPerHour,
    maxPercentPerHour: s.settings.maxPercentPerHour,
    stormShare: s.settings.stormShare,
    stormMinHosts: s.settings.stormMinHosts,
    cooldownMinutes: s.settings.cooldownMinutes,
    dryRun: s.settings.dryRun,
    ...(s.settings.window ? { maintenanceWindow: { start: '01:00', end: '03:00' } } : {}),
  });
  const names = Array.from({ length: s.hosts }, (_, i) => `i-${i}`);
  const excluded = new Set(s.excluded.map((i) => names[i]));
  const facts = new Map<string, HostFacts>(
    names.map((h, i) => [h, { excluded: excluded.has(h), exists: true, replaceBy: i % 3 === 0 ? null : 'asg' }]),
  );
  let ledger = emptyLedger();
  const proposals = new Map<string, Proposal>();
  const recovery = new Map<string, RecoveryEvidence>();
  s.sweeps.forEach((sweep, i) => {
    const minutes = i * 5;
    for (const f of sweep.faults) {
      const host = names[f.host];
      proposals.set(host, {
        host,
        causes: [cause(f.cause, minutes)],
        firstSeenAt: proposals.get(host)?.firstSeenAt ?? at(minutes),
        lastSeenAt: at(minutes),
      });
      recovery.set(host, { ...recovery.get(host), lastFaultAt: at(minutes) });
    }
    for (const h of sweep.healthy) recovery.set(names[h], { ...recovery.get(names[h]), lastGpuCheckAt: at(minutes) });
    const now = date(minutes + 1);
    const seen = [...proposals.values()];
    const plan = planRemediation({ settings, now, ledger, proposals: seen, fleetSize: s.hosts, facts, recovery });
    check(plan, ledger, seen, now);
    for (const h of plan.consumed) proposals.delete(h);
    ledger = plan.ledger;
  });
}

const acts = (plan: Plan) => plan.decisions.filter((d) => d.kind === 'act');
const RUNS = { numRuns: 100 };

describe('blast-radius limits hold over random fleets and fault sequences', () => {
  test('hosts in remediation never exceed the at-once limit when a plan acts', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        replay(s, (plan, _before, _p, now) => {
          if (acts(plan).length === 0) return;
          const settings = settingsFor({ maxHostsAtOnce: s.settings.maxHostsAtOnce, maxPercentAtOnce: s.settings.maxPercentAtOnce });
          expect(activeRecords(plan.ledger, settings, now).length).toBeLessThanOrEqual(
            limitFor(s.settings.maxHostsAtOnce, s.settings.maxPercentAtOnce, s.hosts),
          );
        });
      }),
      RUNS,
    );
  });

  test('remediations started in any hour never exceed the per-hour limit when a plan acts', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        replay(s, (plan, _before, _p, now) => {
          if (acts(plan).length === 0) return;
          expect(startedWithinHour(plan.ledger, now).length).toBeLessThanOrEqual(
            limitFor(s.settings.maxPerHour, s.settings.maxPercentPerHour, s.hosts),
          );
        });
      }),
      RUNS,
    );
  });

  test('no host with a storming cause is acted on', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        replay(s, (plan, _before, proposals, now) => {
          const settings = settingsFor({ stormShare: s.settings.stormShare, stormMinHosts: s.settings.stormMinHosts });
          const storms = stormingCauses(proposals, settings, s.hosts, now);
          const stormHosts = new Set(proposals.filter((p) => p.causes.some((c) => storms.has(c.key))).map((p) => p.host));
          // A failed recovery's escalation is not a new fault: the storm guard is about new proposals.
          const escalated = new Set(plan.recoveries.filter((r) => r.outcome === 'failed').map((r) => r.record.host));
          for (const d of acts(plan)) if (!escalated.has(d.host)) expect(stormHosts.has(d.host)).toBe(false);
        });
      }),
      RUNS,
    );
  });

  test('no host is rebooted twice within the repeat window', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const reboots = new Map<string, number>();
        replay(s, (plan, _before, _p, now) => {
          for (const d of acts(plan)) {
            if (d.action !== 'reboot') continue;
            const last = reboots.get(d.host);
            if (last !== undefined) expect(now.getTime() - last).toBeGreaterThanOrEqual(24 * 3_600_000);
            reboots.set(d.host, now.getTime());
          }
        });
      }),
      RUNS,
    );
  });

  test('no host is acted on again within its cooldown unless its recovery failed', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        replay(s, (plan, before, _p, now) => {
          const escalated = new Set(plan.recoveries.filter((r) => r.outcome === 'failed').map((r) => r.record.host));
          for (const d of acts(plan)) {
            if (escalated.has(d.host)) continue;
            const recent = before.records.filter(
              (r) =>
                r.host === d.host && r.status !== 'not-started' && now.getTime() - Date.parse(r.at) < s.settings.cooldownMinutes * 60_000,
            );
            expect(recent).toEqual([]);
          }
        });
      }),
      RUNS,
    );
  });

  test('excluded hosts are never acted on', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const excluded = new Set(s.excluded.map((i) => `i-${i}`));
        replay(s, (plan) => {
          for (const d of acts(plan)) expect(excluded.has(d.host)).toBe(false);
        });
      }),
      RUNS,
    );
  });

  test('nothing starts outside the maintenance window', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        replay(s, (plan, _b, _p, now) => {
          if (!s.settings.window) return;
          if (acts(plan).length > 0)
            expect(
              inMaintenanceWindow(now, { days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], start: '01:00', end: '03:00' }, 'UTC'),
            ).toBe(true);
        });
      }),
      RUNS,
    );
  });

  test('no action is ever above maxAction', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        replay(s, (plan) => {
          for (const d of acts(plan))
            expect(REMEDIATION_ACTIONS.indexOf(d.action)).toBeLessThanOrEqual(REMEDIATION_ACTIONS.indexOf(s.settings.maxAction));
        });
      }),
      RUNS,
    );
  });
});
