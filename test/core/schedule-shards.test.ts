import { describe, expect, test } from 'vitest';
import { shardSchedules, shardTagValue } from '../../lambda/core/schedule/shards';

describe('schedule shards', () => {
  test.each([
    [
      'rate(5 minutes)',
      5,
      ['cron(0/5 * * * ? *)', 'cron(1/5 * * * ? *)', 'cron(2/5 * * * ? *)', 'cron(3/5 * * * ? *)', 'cron(4/5 * * * ? *)'],
    ],
    ['rate(15 minutes)', 4, ['cron(0/15 * * * ? *)', 'cron(3/15 * * * ? *)', 'cron(7/15 * * * ? *)', 'cron(11/15 * * * ? *)']],
    ['rate(60 minutes)', 2, ['cron(0 * * * ? *)', 'cron(30 * * * ? *)']],
  ])('%s in %i shards is staggered over its period', (expression, shards, expected) => {
    expect(shardSchedules(expression, 'prod', shards).map((s) => s.expression)).toEqual(expected);
  });

  test.each([['rate(7 minutes)'], ['rate(2 hours)'], ['cron(0 2 * * ? *)']])(
    '%s, which no minute offset staggers, keeps its expression in every shard',
    (expression) => {
      expect(shardSchedules(expression, 'prod', 3).map((s) => s.expression)).toEqual([expression, expression, expression]);
    },
  );

  test('one shard is the schedule unchanged', () => {
    expect(shardSchedules('rate(5 minutes)', 'prod', 1)).toEqual([
      { shard: 0, tagValue: 'prod-0', expression: 'rate(5 minutes)', offsetMinutes: 0 },
    ]);
  });

  test('each shard names its tag value after the fleet', () => {
    expect(shardSchedules('rate(5 minutes)', 'prod', 2).map((s) => s.tagValue)).toEqual(['prod-0', 'prod-1']);
    expect(shardTagValue('gpu', 7)).toBe('gpu-7');
  });

  test.each([[0], [61], [2.5]])('%s shards is rejected, naming fleet.shards', (shards) => {
    expect(() => shardSchedules('rate(5 minutes)', 'prod', shards)).toThrow(`fleet.shards: expected an integer 1-60, got ${shards}`);
  });
});
