import { describe, expect, test } from 'vitest';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateTaskOutput, type TaskEvaluator } from '../../lambda/core/task-evaluation';
import { parseConfigForTest } from '../helpers/config';

const settings = evaluationSettings(parseConfigForTest({ fleet: { name: 'prod' } }));
const now = new Date('2026-11-28T12:00:00Z');

const okOutput = [
  '@@gpu-maint v1 begin task=health-check host=web-1 at=2026-11-28T11:59:59Z',
  '@@gpu-maint section probe',
  '42',
  '@@gpu-maint status probe exit=0 seconds=0.01',
  '@@gpu-maint v1 end task=health-check',
  '',
].join('\n');

/** Reads the number in section "probe" and calls it a warning above 40. */
const evaluator: TaskEvaluator = (parsed) => {
  const value = Number(parsed.sections.get('probe')?.stdout.trim());
  return {
    findings: [{ check: 'health.load', severity: value > 40 ? 'warning' : 'ok', message: `value ${value}`, reading: value }],
    readings: [{ name: 'LoadPerCpu', value, unit: 'None' }],
  };
};

describe('evaluateTaskOutput', () => {
  test('a complete output is evaluated and its status is the worst finding', () => {
    const r = evaluateTaskOutput({ task: 'health-check', stdout: okOutput, exitCode: 0 }, evaluator, settings, now);
    expect(r).toMatchObject({ task: 'health-check', host: 'web-1', status: 'warning', at: '2026-11-28T11:59:59Z' });
    expect(r.metrics).toContainEqual({ name: 'LoadPerCpu', value: 42, unit: 'None', dimensions: { Fleet: 'prod' } });
  });

  test('every result counts once in ResultsReported for its task', () => {
    const r = evaluateTaskOutput({ task: 'health-check', stdout: okOutput, exitCode: 0 }, evaluator, settings, now);
    expect(r.metrics).toContainEqual({
      name: 'ResultsReported',
      value: 1,
      unit: 'Count',
      dimensions: { Fleet: 'prod', Task: 'health-check' },
    });
  });

  test('the transport host id wins over the one in the output', () => {
    const r = evaluateTaskOutput({ task: 'health-check', host: 'i-0123', stdout: okOutput, exitCode: 0 }, evaluator, settings, now);
    expect(r.host).toBe('i-0123');
  });

  test('a truncated output is a task.output finding and status failed, not a crash', () => {
    const cut = okOutput.slice(0, okOutput.indexOf('@@gpu-maint status'));
    const r = evaluateTaskOutput({ task: 'health-check', stdout: cut, exitCode: 0 }, evaluator, settings, now);
    expect(r.status).toBe('failed');
    expect(r.findings).toEqual([
      expect.objectContaining({ check: 'task.output', message: expect.stringMatching(/truncated inside section probe/) }),
    ]);
    expect(r.metrics).toContainEqual(expect.objectContaining({ name: 'TaskFailed', value: 1 }));
  });

  test('a script that exits non-zero is task.failed with the end of its stderr', () => {
    const r = evaluateTaskOutput(
      { task: 'health-check', stdout: '', stderr: 'mktemp: No space left on device\n', exitCode: 1 },
      evaluator,
      settings,
      now,
    );
    expect(r.findings).toEqual([
      expect.objectContaining({ check: 'task.failed', severity: 'critical', message: expect.stringContaining('No space left on device') }),
    ]);
  });

  test.each(['Failed', 'TimedOut', 'Cancelled', 'Undeliverable', 'DeliveryTimedOut'])(
    'SSM status %s becomes a task.failed finding',
    (status) => {
      const r = evaluateTaskOutput(
        { task: 'gpu-check', host: 'i-1', stdout: '', exitCode: null, invocationStatus: status },
        evaluator,
        settings,
        now,
      );
      expect(r.status).toBe('failed');
      expect(r.findings[0]).toMatchObject({ check: 'task.failed', reading: status });
    },
  );

  test('an evaluator that throws becomes a task.output finding', () => {
    const throwing: TaskEvaluator = () => {
      throw new Error('unexpected column');
    };
    const r = evaluateTaskOutput({ task: 'health-check', stdout: okOutput, exitCode: 0 }, throwing, settings, now);
    expect(r.findings[0]).toMatchObject({ check: 'task.output', message: expect.stringContaining('unexpected column') });
  });

  test('output of another task is flagged', () => {
    const r = evaluateTaskOutput({ task: 'gpu-check', stdout: okOutput, exitCode: 0 }, evaluator, settings, now);
    expect(r.findings).toContainEqual(
      expect.objectContaining({ check: 'task.output', message: expect.stringContaining('task health-check') }),
    );
  });
});
