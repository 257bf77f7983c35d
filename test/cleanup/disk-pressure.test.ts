/** The disk-pressure trigger: which health results dispatch a cleanup, the cooldown, the alert note. */
import { describe, expect, test } from 'vitest';
import {
  type CleanupDispatcher,
  type DiskPressurePolicy,
  diskPressureDecision,
  memoryCooldownStore,
  triggerCleanupOnDiskPressure,
} from '../../lambda/core/cleanup/disk-pressure';
import type { Finding, TaskResult } from '../../lambda/core/types';

const NOW = new Date('2026-11-29T12:00:00Z');
const POLICY: DiskPressurePolicy = { enabled: true, cooldownHours: 6, dryRun: false };

function health(findings: Finding[], task: TaskResult['task'] = 'health-check'): TaskResult {
  return { task, host: 'i-0abc', status: 'critical', findings, metrics: [] };
}

const CRITICAL_DISK: Finding = {
  check: 'health.disk',
  severity: 'critical',
  message: '/data is 97% full (30 GiB free of 1 TiB)',
  reading: 97,
};

function recordingDispatcher(): CleanupDispatcher & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async dispatchCleanup(host) {
      calls.push(host);
      return { id: `cmd-${calls.length}` };
    },
  };
}

describe('diskPressureDecision', () => {
  test.each([
    ['health.disk critical', [CRITICAL_DISK], 'health-check', POLICY, true],
    ['health.disk warning only', [{ ...CRITICAL_DISK, severity: 'warning' as const }], 'health-check', POLICY, false],
    [
      'another check critical',
      [{ check: 'health.memory' as const, severity: 'critical' as const, message: 'low' }],
      'health-check',
      POLICY,
      false,
    ],
    ['the trigger switched off', [CRITICAL_DISK], 'health-check', { ...POLICY, enabled: false }, false],
    ['a gpu-check result', [CRITICAL_DISK], 'gpu-check', POLICY, false],
  ] as const)('%s → eligible %s', (_name, findings, task, policy, eligible) => {
    expect(diskPressureDecision(health([...findings], task), policy).eligible).toBe(eligible);
  });
});

describe('triggerCleanupOnDiskPressure', () => {
  test('a critical disk dispatches cleanup to that host and says so', async () => {
    const dispatcher = recordingDispatcher();
    const outcome = await triggerCleanupOnDiskPressure(health([CRITICAL_DISK]), POLICY, {
      store: memoryCooldownStore(),
      dispatcher,
      now: NOW,
    });
    expect(dispatcher.calls).toEqual(['i-0abc']);
    expect(outcome).toEqual({ action: 'dispatched', id: 'cmd-1', note: 'disk critical: cleanup dispatched to i-0abc (cmd-1)' });
  });

  test('within the cooldown a second critical result does not dispatch again', async () => {
    const dispatcher = recordingDispatcher();
    const store = memoryCooldownStore({ 'i-0abc': new Date(NOW.getTime() - 5 * 3_600_000) });
    const outcome = await triggerCleanupOnDiskPressure(health([CRITICAL_DISK]), POLICY, { store, dispatcher, now: NOW });
    expect(dispatcher.calls).toEqual([]);
    expect(outcome).toEqual({
      action: 'cooldown',
      note: 'cleanup not dispatched again: one was dispatched to i-0abc within the last 6 h (cleanup.cooldownHours)',
    });
  });

  test('after the cooldown the next critical result dispatches again', async () => {
    const dispatcher = recordingDispatcher();
    const store = memoryCooldownStore({ 'i-0abc': new Date(NOW.getTime() - 7 * 3_600_000) });
    const outcome = await triggerCleanupOnDiskPressure(health([CRITICAL_DISK]), POLICY, { store, dispatcher, now: NOW });
    expect(outcome.action).toBe('dispatched');
    expect(store.last.get('i-0abc')).toEqual(NOW);
  });

  test('in dry-run mode the note says the cleanup frees nothing', async () => {
    const outcome = await triggerCleanupOnDiskPressure(
      health([CRITICAL_DISK]),
      { ...POLICY, dryRun: true },
      {
        store: memoryCooldownStore(),
        dispatcher: recordingDispatcher(),
        now: NOW,
      },
    );
    expect(outcome.action === 'dispatched' && outcome.note).toContain(
      'in dry-run mode (cleanup.dryRun is true: it reports what it could free and deletes nothing)',
    );
  });

  test('a failed dispatch is reported and gives the cooldown back', async () => {
    const store = memoryCooldownStore();
    const failing: CleanupDispatcher = {
      dispatchCleanup: async () => {
        throw new Error('InvalidInstanceId: i-0abc is not connected');
      },
    };
    const outcome = await triggerCleanupOnDiskPressure(health([CRITICAL_DISK]), POLICY, { store, dispatcher: failing, now: NOW });
    expect(outcome).toEqual({
      action: 'failed',
      error: 'InvalidInstanceId: i-0abc is not connected',
      note: 'disk critical: dispatching cleanup to i-0abc failed: InvalidInstanceId: i-0abc is not connected',
    });
    expect(store.last.has('i-0abc')).toBe(false);
  });

  test('a failed dispatch whose claim cannot be given back still reports the dispatch error', async () => {
    const store = {
      ...memoryCooldownStore(),
      release: async () => {
        throw new Error('ProvisionedThroughputExceeded');
      },
    };
    const failing: CleanupDispatcher = {
      dispatchCleanup: async () => {
        throw new Error('InvalidInstanceId: i-0abc is not connected');
      },
    };
    const outcome = await triggerCleanupOnDiskPressure(health([CRITICAL_DISK]), POLICY, { store, dispatcher: failing, now: NOW });
    expect(outcome).toMatchObject({ action: 'failed', error: 'InvalidInstanceId: i-0abc is not connected' });
    expect(outcome.action === 'failed' && outcome.note).toContain(
      'could not be given back (ProvisionedThroughputExceeded), so no retry within 6 h',
    );
  });

  test('a healthy result does nothing', async () => {
    const dispatcher = recordingDispatcher();
    const outcome = await triggerCleanupOnDiskPressure(health([{ ...CRITICAL_DISK, severity: 'ok' }]), POLICY, {
      store: memoryCooldownStore(),
      dispatcher,
      now: NOW,
    });
    expect(outcome).toEqual({ action: 'none', reason: 'no critical health.disk finding' });
    expect(dispatcher.calls).toEqual([]);
  });
});
