/** Expected GPU count per EC2 instance type (lambda/core/gpu/instance-gpus.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { expectedGpuCountFor, KNOWN_GPU_INSTANCE_TYPES, resolveExpectedGpuCount } from '../../lambda/core/gpu/instance-gpus';
import { fixture } from '../helpers/fixtures';

const source = readFileSync(fixture('ec2', 'instance-gpu-counts.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as { instanceType: string; nvidiaGpuCount: number });

describe('the table is aws/eks-node-monitoring-agent instance-info.jsonl', () => {
  test('covers the same 59 instance types', () => {
    expect(source).toHaveLength(59);
    expect(KNOWN_GPU_INSTANCE_TYPES).toEqual(source.map((r) => r.instanceType).sort());
  });

  test.each(source.map((r) => [r.instanceType, r.nvidiaGpuCount] as const))('%s has %i GPUs', (type, count) => {
    expect(expectedGpuCountFor(type)).toBe(count);
  });
});

describe('lookups', () => {
  test.each([
    ['p4d.24xlarge', 8],
    ['p5.48xlarge', 8],
    ['g5.xlarge', 1],
    [' P5.48XLARGE ', 8],
    ['m5.large', null],
    ['', null],
    [null, null],
  ])('%j → %j', (type, count) => {
    expect(expectedGpuCountFor(type)).toBe(count);
  });

  test.each([
    ['auto', 'p4d.24xlarge', 8],
    ['auto', null, null],
    ['auto', 'c7i.large', null],
    [4, 'p4d.24xlarge', 4],
    [0, null, 0],
  ] as const)('configured %j with instance type %j expects %j', (configured, type, expected) => {
    expect(resolveExpectedGpuCount(configured, type)).toBe(expected);
  });
});
