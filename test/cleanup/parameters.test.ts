/** Cleanup settings reach the script only through parameters whose allowedPatterns hold. */
import { describe, expect, test } from 'vitest';
import { loadConfig } from '../../lambda/config/load';
import { taskDefinition, taskEnvironment } from '../../lambda/tasks/registry';
import { parseConfigForTest } from '../helpers/config';

const param = (name: string) => {
  const p = taskDefinition('cleanup').parameters.find((x) => x.name === name);
  if (!p) throw new Error(`no cleanup parameter ${name}`);
  return new RegExp(p.allowedPattern);
};

describe('cleanup parameters', () => {
  test('the defaults become the environment the script reads', () => {
    expect(taskEnvironment('cleanup', parseConfigForTest())).toEqual({
      GPU_MAINT_CLEANUP_DRY_RUN: 'true',
      GPU_MAINT_CLEANUP_FORCE: 'false',
      GPU_MAINT_CLEANUP_MAX_DELETE_FRACTION: '0.5',
      GPU_MAINT_CLEANUP_EXPERIMENT_PATHS: '/opt/ml/experiments',
      GPU_MAINT_CLEANUP_EXPERIMENT_MAX_AGE_DAYS: '30',
      GPU_MAINT_CLEANUP_CHECKPOINT_PATHS: '/opt/ml/checkpoints',
      GPU_MAINT_CLEANUP_CHECKPOINT_PATTERNS: '*.ckpt,*.pt,*.safetensors',
      GPU_MAINT_CLEANUP_CHECKPOINT_MAX_AGE_DAYS: '7',
      GPU_MAINT_CLEANUP_CHECKPOINT_KEEP_NEWEST: '3',
      GPU_MAINT_CLEANUP_DOCKER: 'true',
      GPU_MAINT_CLEANUP_DOCKER_UNUSED_HOURS: '168',
      GPU_MAINT_CLEANUP_CACHES: 'pip,conda,apt',
      GPU_MAINT_CLEANUP_HF_MAX_GIB: '200',
      GPU_MAINT_CLEANUP_PROTECT_MARKER: '.keep',
      GPU_MAINT_CLEANUP_PROTECT: '',
      GPU_MAINT_CLEANUP_KEEP_OUT: '/opt/ml/models',
    });
  });

  test.each([
    ['CheckpointPatterns', 'model-[0-9]*.pt,*.bin', true],
    ['CheckpointPatterns', "*.pt'; rm -rf /", false],
    ['CheckpointPatterns', '$(reboot).pt', false],
    ['CheckpointPatterns', 'sub/dir.pt', false],
    ['Protect', '/opt/ml/experiments/golden-*,*/final/*', true],
    ['Protect', '/x/{{ Other }}', false],
    ['ExperimentPaths', '/data/exp one,/data/exp2', true],
    ['ExperimentPaths', 'relative/path', false],
    ['MaxDeleteFraction', '0.25', true],
    ['MaxDeleteFraction', '1.5', false],
    ['DryRun', 'yes', false],
    ['Caches', 'pip,huggingface', true],
    ['Caches', 'pip,/root', false],
  ])('%s %j allowed: %s', (name, value, allowed) => {
    expect(param(name).test(value)).toBe(allowed);
  });

  test.each([
    ['cleanup.checkpoints.patterns=["*.pt\'"]', 'cleanup.checkpoints.patterns.0'],
    ['cleanup.protectMarker=".."', 'cleanup.protectMarker'],
    ['cleanup.protect=["/a/$HOME"]', 'cleanup.protect.0'],
  ])('config %s is rejected naming %s', (set, key) => {
    expect(() => loadConfig({ set: [set] })).toThrow(key);
  });

  test('a fractional age becomes plain decimal text, never exponent notation', () => {
    const env = taskEnvironment('cleanup', parseConfigForTest({ cleanup: { checkpoints: { maxAgeDays: 0.0000001 } } }));
    expect(env.GPU_MAINT_CLEANUP_CHECKPOINT_MAX_AGE_DAYS).toBe('0');
  });
});
