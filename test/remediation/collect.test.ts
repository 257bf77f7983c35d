/** The collect path proposes: a gpu-check result with a remediable cause writes its host's proposal. */
import { describe, expect, test } from 'vitest';
import { type CollectedResult, deliverResults } from '../../lambda/core/collect';
import type { InvocationRef } from '../../lambda/core/collect/event';
import { MemoryProposalStore } from '../../lambda/core/remediation/memory';
import type { TaskResult } from '../../lambda/core/types';
import { at, settingsFor } from './helpers';

const ref = { instanceId: 'i-1', commandId: 'c1', documentName: 'd', status: 'Success' } as unknown as InvocationRef;
const xid79: TaskResult = {
  task: 'gpu-check',
  host: 'i-1',
  status: 'critical',
  at: at(0),
  findings: [{ check: 'gpu.xid', severity: 'critical', gpu: 5, message: 'GPU 5: Xid 79', reading: '79' }],
  metrics: [],
};

function deps(store: MemoryProposalStore, settings = settingsFor()) {
  return {
    metrics: { put: async () => {}, flush: async () => {} },
    alerts: { publish: async () => {} },
    clock: { now: () => new Date(at(1)) },
    remediation: { store, settings },
  };
}

const item = (result: TaskResult): { id: string; collected: CollectedResult } => ({ id: 'm1', collected: { ref, result } });

describe('collect proposes', () => {
  test('a critical Xid 79 result writes a proposal for its host', async () => {
    const store = new MemoryProposalStore();
    await deliverResults([item(xid79)], deps(store));
    expect((await store.list()).map((p) => [p.host, p.causes.map((c) => c.key)])).toEqual([['i-1', ['xid-79']]]);
  });

  test('with remediation off nothing is proposed', async () => {
    const store = new MemoryProposalStore();
    await deliverResults([item(xid79)], deps(store, settingsFor({ enabled: false })));
    expect(await store.list()).toEqual([]);
  });

  test('a failing proposal store does not fail the record', async () => {
    const store = new MemoryProposalStore();
    store.put = async () => {
      throw new Error('throttled');
    };
    const delivery = await deliverResults([item(xid79)], deps(store));
    expect([delivery.failedIds, delivery.errors]).toEqual([[], ['remediation proposal for i-1: throttled']]);
  });
});
