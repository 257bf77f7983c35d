/** The task registry drives the local timers, the dispatcher's validation and the local environment. */
import { describe, expect, test } from 'vitest';
import { JOB_GRACE_SECONDS, scheduledJobs } from '../../lambda/core/schedule/jobs';
import { TASK_NAMES } from '../../lambda/core/types';
import { parameterPatterns, TASKS, taskDefinition, taskEnvironment } from '../../lambda/tasks/registry';
import { parseConfigForTest } from '../helpers/config';

describe('registry', () => {
  test('every task name of the core has exactly one definition', () => {
    expect([...TASKS.keys()].sort()).toEqual([...TASK_NAMES].sort());
  });

  test('an unknown task is refused, naming the registered ones', () => {
    expect(() => taskDefinition('defrag')).toThrow('unknown task "defrag"; expected one of: gpu-check, health-check');
  });

  test.each([...TASKS.values()].flatMap((d) => d.parameters.map((p) => [d.name, p.name, p.allowedPattern])))(
    '%s parameter %s has an anchored pattern',
    (_task, _name, pattern) => {
      expect(pattern).toMatch(/^\^.*\$$/);
    },
  );

  test("the dispatcher's patterns are the task's parameter patterns", () => {
    const patterns = parameterPatterns('gpu-check');
    expect(Object.keys(patterns)).toEqual(taskDefinition('gpu-check').parameters.map((p) => p.name));
    expect(patterns.InstanceType).toBe(taskDefinition('gpu-check').parameters[0].allowedPattern);
  });

  test('an unknown task has no parameters to validate against', () => {
    expect(parameterPatterns('defrag')).toEqual({});
  });

  test('a config value that does not fit its parameter is refused before the script runs', () => {
    // The schema refuses this value too; the runner checks again, as SSM checks a document's parameters.
    const valid = parseConfigForTest();
    const config = { ...valid, gpuCheck: { ...valid.gpuCheck, instanceType: 'p5; reboot' } };
    expect(() => taskEnvironment('gpu-check', config)).toThrow('gpu-check parameter InstanceType: value "p5; reboot" does not match');
  });
});

describe('local timers', () => {
  const config = parseConfigForTest();
  const jobs = new Map(scheduledJobs(config, TASKS.values()).map((j) => [j.id, j]));

  test('each scheduled task gets a timer and tasks without a schedule get none', () => {
    expect([...jobs.keys()]).toEqual(['gpu-check', 'health-check', 'cleanup', 'backup', 'restore-test', 'backup-prune']);
  });

  test.each(['gpu-check', 'cleanup', 'backup', 'restore-test'])(
    'the %s timer allows the task its registry limit plus time to report',
    (task) => {
      expect(jobs.get(task)?.timeoutSeconds).toBe(taskDefinition(task).limits.executionSeconds + JOB_GRACE_SECONDS);
    },
  );

  test('the health-check timer also allows the cleanup that disk pressure may start', () => {
    const limits = (t: string) => taskDefinition(t).limits.executionSeconds;
    const onPressure = scheduledJobs(parseConfigForTest({ cleanup: { onDiskPressure: true } }), TASKS.values());
    const offPressure = scheduledJobs(parseConfigForTest({ cleanup: { onDiskPressure: false } }), TASKS.values());
    expect(onPressure.find((j) => j.id === 'health-check')?.timeoutSeconds).toBe(
      limits('health-check') + limits('cleanup') + JOB_GRACE_SECONDS,
    );
    expect(offPressure.find((j) => j.id === 'health-check')?.timeoutSeconds).toBe(limits('health-check') + JOB_GRACE_SECONDS);
  });

  test('a disabled schedule gets no timer', () => {
    const off = scheduledJobs(parseConfigForTest({ backup: { schedule: { enabled: false } } }), TASKS.values());
    expect(off.map((j) => j.id)).not.toContain('backup');
  });

  test('the cleanup timer says when it only reports', () => {
    expect(jobs.get('cleanup')?.description).toContain('(dry run)');
  });
});
