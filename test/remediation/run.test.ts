/** The planner run over its ports: commit before acting, lost races re-plan, notifications say what happened. */
import { describe, expect, test } from 'vitest';
import type { Notification } from '../../lambda/core/alerts/model';
import { MemoryLedgerStore, MemoryProposalStore } from '../../lambda/core/remediation/memory';
import type { RemediationSettings } from '../../lambda/core/remediation/model';
import { type RemediationDeps, runRemediation } from '../../lambda/core/remediation/run';
import { date, ec2, proposal, settingsFor } from './helpers';

function deps(
  settings: RemediationSettings,
  proposals: MemoryProposalStore,
  ledger: MemoryLedgerStore,
  sent: Notification[],
  started: string[],
): RemediationDeps {
  return {
    settings,
    proposals,
    ledger,
    fleet: { fleetSize: async () => 100, recoveryEvidence: async () => new Map() },
    hosts: { facts: async (hosts) => new Map(hosts.map((h) => [h, ec2])) },
    executor: {
      execute: async (d) => {
        started.push(d.host);
        return `exec-${d.host}`;
      },
    },
    notifier: { send: async (n) => void sent.push(n) },
  };
}

async function fleetWith(hosts: number) {
  const proposals = new MemoryProposalStore();
  for (let i = 0; i < hosts; i++) await proposals.put(proposal(`i-${i}`, 0));
  return proposals;
}

describe('runRemediation', () => {
  test('with remediation off it reads nothing and does nothing', async () => {
    const started: string[] = [];
    const run = await runRemediation(
      deps(settingsFor({ enabled: false }), await fleetWith(1), new MemoryLedgerStore(), [], started),
      date(5),
    );
    expect([run, started]).toEqual([null, []]);
  });

  test('two planners racing start no more hosts than the at-once limit', async () => {
    const settings = settingsFor({ maxHostsAtOnce: 2, stormMinHosts: 50 });
    const proposals = await fleetWith(6);
    const ledger = new MemoryLedgerStore();
    const started: string[] = [];
    await Promise.all([
      runRemediation(deps(settings, proposals, ledger, [], started), date(5)),
      runRemediation(deps(settings, proposals, ledger, [], started), date(5)),
    ]);
    expect([started.length, ledger.ledger.records.filter((r) => r.status === 'started').length]).toEqual([2, 2]);
  });

  test('the execution id is recorded in the ledger and the proposal is dropped', async () => {
    const proposals = await fleetWith(1);
    const ledger = new MemoryLedgerStore();
    await runRemediation(deps(settingsFor(), proposals, ledger, [], []), date(5));
    expect([ledger.ledger.records.map((r) => r.execution), await proposals.list()]).toEqual([['exec-i-0'], []]);
  });

  test('a runbook that cannot start is a critical notification, counts towards no limit, and its proposal stays', async () => {
    const proposals = await fleetWith(1);
    const ledger = new MemoryLedgerStore();
    const sent: Notification[] = [];
    const d = deps(settingsFor(), proposals, ledger, sent, []);
    const run = await runRemediation({ ...d, executor: { execute: async () => Promise.reject(new Error('AccessDenied')) } }, date(5));
    expect([
      run?.failedToStart.size,
      sent.map((n) => n.severity),
      ledger.ledger.records.map((r) => r.status),
      (await proposals.list()).length,
    ]).toEqual([1, ['critical'], ['not-started'], 1]);
  });

  test('a storm sends exactly one notification for the fleet', async () => {
    const sent: Notification[] = [];
    await runRemediation(deps(settingsFor(), await fleetWith(20), new MemoryLedgerStore(), sent, []), date(5));
    expect(sent.map((n) => [n.host, n.severity])).toEqual([['fleet:default', 'critical']]);
  });

  test('the next run tries a runbook that could not start again', async () => {
    const proposals = await fleetWith(1);
    const ledger = new MemoryLedgerStore();
    const started: string[] = [];
    const d = deps(settingsFor(), proposals, ledger, [], started);
    await runRemediation({ ...d, executor: { execute: async () => Promise.reject(new Error('throttled')) } }, date(5));
    await runRemediation(d, date(10));
    expect(started).toEqual(['i-0']);
  });
});
