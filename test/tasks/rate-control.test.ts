/** Each task's rate control fits its duration: the last rollout wave starts before its delivery timeout. */
import { describe, expect, test } from 'vitest';
import { TASK_NAMES } from '../../lambda/core/types';
import { RATE_CONTROL, rateControlFor, rolloutWaves } from '../../lambda/tasks/rate-control';

describe('RATE_CONTROL', () => {
  test.each(TASK_NAMES.flatMap((task) => [10, 1000, 5000].map((fleet) => [task, fleet] as const)))(
    '%s on %i hosts: (waves - 1) × longest run ≤ delivery timeout',
    (task, fleet) => {
      const r = RATE_CONTROL[task];
      expect((rolloutWaves(r.maxConcurrency, fleet) - 1) * r.expectedRunSeconds).toBeLessThanOrEqual(r.deliveryTimeoutSeconds);
    },
  );

  test.each(TASK_NAMES)('%s may run on a host for at least its expected run', (task) => {
    expect(RATE_CONTROL[task].expectedRunSeconds).toBeLessThanOrEqual(RATE_CONTROL[task].executionTimeoutSeconds);
  });

  test('a gpu-check rollout finishes before the next 5-minute run', () => {
    const r = RATE_CONTROL['gpu-check'];
    expect(rolloutWaves(r.maxConcurrency, 1000) * r.expectedRunSeconds).toBeLessThanOrEqual(300);
  });

  test('checks never stop a rollout on failed hosts; tasks that write stop after 10%', () => {
    expect([RATE_CONTROL['gpu-check'].maxErrors, RATE_CONTROL['health-check'].maxErrors]).toEqual(['100%', '100%']);
    expect([RATE_CONTROL.backup.maxErrors, RATE_CONTROL.cleanup.maxErrors]).toEqual(['10%', '10%']);
  });
});

describe('rolloutWaves', () => {
  test.each([
    ['25%', 1000, 4],
    ['10%', 1000, 10],
    ['25%', 3, 3],
    ['50', 1000, 20],
  ])('%s of %i hosts is %i waves', (c, fleet, waves) => {
    expect(rolloutWaves(c, fleet)).toBe(waves);
  });
});

describe('rateControlFor', () => {
  test('fleet-wide overrides apply to every task, a task override wins over them', () => {
    const overrides = { maxConcurrency: '5%', rateControl: { backup: { maxConcurrency: '50%', deliveryTimeoutSeconds: 7200 } } };
    expect(rateControlFor('gpu-check', overrides)).toMatchObject({ maxConcurrency: '5%', maxErrors: '100%', deliveryTimeoutSeconds: 240 });
    expect(rateControlFor('backup', overrides)).toMatchObject({ maxConcurrency: '50%', maxErrors: '10%', deliveryTimeoutSeconds: 7200 });
  });
});
