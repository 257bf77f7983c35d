/** The remediation planner and the cause table, one rule per test. */
import { describe, expect, test } from 'vitest';
import { causesOf, nextProposal } from '../../lambda/core/remediation/causes';
import { emptyLedger, type RemediationLedger, type RemediationRecord } from '../../lambda/core/remediation/model';
import { limitFor, type PlanInput, planRemediation } from '../../lambda/core/remediation/plan';
import { inMaintenanceWindow } from '../../lambda/core/remediation/window';
import type { Finding, TaskResult } from '../../lambda/core/types';
import { at, cause, date, ec2, factsFor, proposal, settingsFor } from './helpers';

const xid = (codes: string, message = 'GPU 5: Xid'): Finding => ({
  check: 'gpu.xid',
  severity: 'critical',
  gpu: 5,
  message,
  reading: codes,
});

function input(overrides: Partial<PlanInput> = {}): PlanInput {
  const proposals = overrides.proposals ?? [proposal('i-1', 0)];
  return {
    settings: settingsFor(),
    now: date(5),
    ledger: emptyLedger(),
    proposals,
    fleetSize: 100,
    facts: factsFor(proposals.map((p) => p.host)),
    recovery: new Map(),
    ...overrides,
  };
}

function rec(host: string, minutes: number, overrides: Partial<RemediationRecord> = {}): RemediationRecord {
  return {
    id: `${host}/${at(minutes)}`,
    host,
    cause: 'xid-79',
    check: 'gpu.xid',
    gpu: 5,
    evidence: 'Xid 79',
    action: 'reboot',
    at: at(minutes),
    status: 'recovered',
    ...overrides,
  };
}

const ledgerOf = (...records: RemediationRecord[]): RemediationLedger => ({ version: 3, records, storms: [] });

describe('causes', () => {
  test.each([
    ['79', 'xid-79', 'reboot'],
    ['48', 'xid-48', 'reboot'],
    ['95', 'xid-95', 'reboot'],
    ['119', 'xid-119', 'reboot'],
    ['54', 'xid-54', 'replace'],
    ['56', 'xid-56', 'tag'],
  ])('critical Xid %s is cause %s with rung %s', (codes, key, action) => {
    expect(causesOf(xid(codes)).map((c) => [c.key, c.action])).toEqual([[key, action]]);
  });

  test.each(['13', '31', '94', '43'])('application Xid %s is not remediable', (codes) => {
    expect(causesOf(xid(codes))).toEqual([]);
  });

  test('a warning finding is never remediable', () => {
    expect(causesOf({ ...xid('79'), severity: 'warning' })).toEqual([]);
  });

  test('the driver asking for a reboot is a reboot cause', () => {
    expect(causesOf(xid('Reboot')).map((c) => [c.key, c.action])).toEqual([['recovery-reboot', 'reboot']]);
  });

  test.each([
    ['gpu.count', 'gpu-count-lost', 'reboot', 2],
    ['gpu.unresponsive', 'gpu-unresponsive', 'reboot', 2],
    ['gpu.ecc', 'ecc-uncorrectable', 'reboot', 1],
    ['gpu.row-remap', 'row-remap-failure', 'replace', 1],
  ] as const)('critical %s is cause %s (%s, %i confirmation(s))', (check, key, action, confirmations) => {
    expect(causesOf({ check, severity: 'critical', message: 'm' }).map((c) => [c.key, c.action, c.confirmations])).toEqual([
      [key, action, confirmations],
    ]);
  });

  test('a GPU-count loss counts as confirmed only in consecutive gpu-checks', () => {
    const result = (minutes: number): TaskResult => ({
      task: 'gpu-check',
      host: 'i-1',
      status: 'critical',
      at: at(minutes),
      findings: [{ check: 'gpu.count', severity: 'critical', message: '7 of 8' }],
      metrics: [],
    });
    const first = nextProposal(null, result(0), 11 * 60_000);
    const consecutive = nextProposal(first, result(5), 11 * 60_000);
    const afterGap = nextProposal(first, result(60), 11 * 60_000);
    expect([first?.causes[0].seen, consecutive?.causes[0].seen, afterGap?.causes[0].seen]).toEqual([1, 2, 1]);
  });
});

describe('planner', () => {
  test('a confirmed Xid 79 on an ordinary host is rebooted', () => {
    const plan = planRemediation(input());
    expect(plan.decisions).toMatchObject([{ kind: 'act', host: 'i-1', action: 'reboot', dryRun: false }]);
  });

  test('a dry run records the decision as dry-run', () => {
    const plan = planRemediation(input({ settings: settingsFor({ dryRun: true }) }));
    expect(plan.ledger.records.map((r) => r.status)).toEqual(['dry-run']);
  });

  test('an unconfirmed gauge cause waits for its second result', () => {
    const plan = planRemediation(
      input({ proposals: [proposal('i-1', 0, [cause('gpu-count-lost', 0, { check: 'gpu.count', confirmations: 2 })])] }),
    );
    expect(plan.decisions).toEqual([]);
  });

  test('an excluded host is skipped', () => {
    const plan = planRemediation(input({ facts: factsFor(['i-1'], { ...ec2, excluded: true }) }));
    expect(plan.decisions).toMatchObject([{ kind: 'skip', reason: 'excluded' }]);
  });

  test('a host remediated within the cooldown is held', () => {
    const plan = planRemediation(input({ ledger: ledgerOf(rec('i-1', -30)) }));
    expect(plan.decisions).toMatchObject([{ kind: 'hold', reason: 'cooldown' }]);
  });

  test('a second fault within the repeat window escalates to replace, not a second reboot', () => {
    const plan = planRemediation(input({ settings: settingsFor({ maxAction: 'replace' }), ledger: ledgerOf(rec('i-1', -180)) }));
    expect(plan.decisions).toMatchObject([{ kind: 'act', action: 'replace', replaceBy: 'asg' }]);
  });

  test('a second fault within the repeat window goes to a human when replace is not allowed', () => {
    const plan = planRemediation(input({ ledger: ledgerOf(rec('i-1', -180)) }));
    expect(plan.decisions).toMatchObject([{ kind: 'human', host: 'i-1' }]);
  });

  test('a remedy above maxAction stops at maxAction', () => {
    const plan = planRemediation(input({ settings: settingsFor({ maxAction: 'notify-scheduler' }) }));
    expect(plan.decisions).toMatchObject([{ kind: 'act', action: 'notify-scheduler' }]);
  });

  test('hosts beyond the at-once limit are held', () => {
    const proposals = ['i-1', 'i-2', 'i-3'].map((h) => proposal(h, 0));
    const plan = planRemediation(
      input({ settings: settingsFor({ stormMinHosts: 10 }), proposals, facts: factsFor(['i-1', 'i-2', 'i-3']) }),
    );
    expect(plan.decisions.map((d) => d.kind)).toEqual(['act', 'act', 'hold']);
  });

  test('remediations beyond the per-hour limit are held', () => {
    const ledger = ledgerOf(rec('i-7', -50), rec('i-8', -40), rec('i-9', -30), rec('i-6', -20));
    const plan = planRemediation(input({ ledger }));
    expect(plan.decisions).toMatchObject([{ kind: 'hold', reason: 'limit-per-hour' }]);
  });

  test('a cause shown by more than the storm share of the fleet is held on every host with one storm', () => {
    const hosts = Array.from({ length: 12 }, (_, i) => `i-${i}`);
    const plan = planRemediation(input({ proposals: hosts.map((h) => proposal(h, 0)), facts: factsFor(hosts), fleetSize: 100 }));
    expect([plan.decisions.every((d) => d.kind === 'hold' && d.reason === 'storm'), plan.newStorms.length]).toEqual([true, 1]);
  });

  test('a storm already alerted is not alerted again', () => {
    const hosts = Array.from({ length: 12 }, (_, i) => `i-${i}`);
    const ledger: RemediationLedger = {
      version: 1,
      records: [],
      storms: [{ cause: 'xid-79', check: 'gpu.xid', since: at(-5), lastSeenAt: at(-5), hosts: 12 }],
    };
    const plan = planRemediation(input({ ledger, proposals: hosts.map((h) => proposal(h, 0)), facts: factsFor(hosts) }));
    expect(plan.newStorms).toEqual([]);
  });

  test('outside the maintenance window nothing starts', () => {
    const settings = settingsFor({ maintenanceWindow: { start: '02:00', end: '04:00' } });
    const plan = planRemediation(input({ settings, now: date(12 * 60), proposals: [proposal('i-1', 12 * 60 - 5)] }));
    expect(plan.decisions).toMatchObject([{ kind: 'hold', reason: 'maintenance-window' }]);
  });

  test('a healthy gpu-check after the action verifies recovery', () => {
    const ledger = ledgerOf(rec('i-1', 0, { status: 'started' }));
    const plan = planRemediation(input({ now: date(15), ledger, proposals: [], recovery: new Map([['i-1', { lastGpuCheckAt: at(10) }]]) }));
    expect(plan.recoveries).toMatchObject([{ outcome: 'recovered', minutes: 10 }]);
  });

  test('the fault seen again after the action fails recovery and escalates', () => {
    const ledger = ledgerOf(rec('i-1', 0, { status: 'started' }));
    const recovery = new Map([['i-1', { lastGpuCheckAt: at(10), lastFaultAt: at(10) }]]);
    const plan = planRemediation(
      input({ settings: settingsFor({ maxAction: 'replace' }), now: date(15), ledger, proposals: [], recovery, facts: factsFor(['i-1']) }),
    );
    expect([plan.recoveries[0]?.outcome, plan.decisions[0]?.kind, plan.decisions[0]?.kind === 'act' && plan.decisions[0].action]).toEqual([
      'failed',
      'act',
      'replace',
    ]);
  });

  test('no gpu-check within the recovery timeout fails recovery', () => {
    const ledger = ledgerOf(rec('i-1', 0, { status: 'started' }));
    const plan = planRemediation(input({ now: date(31), ledger, proposals: [] }));
    expect(plan.recoveries).toMatchObject([{ outcome: 'failed' }]);
  });

  test.each([
    [100, 5, 2, 2],
    [10, 5, 2, 1],
    [1000, 1, 50, 10],
  ])('a fleet of %i hosts, percent %i, cap %i: limit %i', (fleet, percent, max, expected) => {
    expect(limitFor(max, percent, fleet)).toBe(expected);
  });

  test.each([
    ['2026-11-28T02:30:00Z', { days: ['Sat'] as const, start: '02:00', end: '04:00' }, true],
    ['2026-11-28T04:00:00Z', { days: ['Sat'] as const, start: '02:00', end: '04:00' }, false],
    ['2026-11-29T01:00:00Z', { days: ['Sat'] as const, start: '22:00', end: '02:00' }, true],
    ['2026-11-29T23:00:00Z', { days: ['Sat'] as const, start: '22:00', end: '02:00' }, false],
  ])('%s in window %j is %s', (iso, window, expected) => {
    expect(inMaintenanceWindow(new Date(iso), { ...window, days: [...window.days] }, 'UTC')).toBe(expected);
  });
});
