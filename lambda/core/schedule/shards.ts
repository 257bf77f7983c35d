/**
 * Schedule shards for large fleets (`fleet.shards`): the fleet is split by a shard tag (hosts of shard i
 * carry `<fleet.shardTagKey> = <fleet.name>-<i>`), and each sharded task gets one schedule per shard that
 * sends one command to that tag. A rate schedule of whole minutes that divide an hour is staggered:
 * shard i fires `floor(i × period / shards)` minutes into each period, so the shards' results, their
 * collector load and their failed-run lookups spread over the period instead of arriving in one burst.
 * Any other expression keeps its times for every shard (spread them with the schedule's
 * flexibleWindowMinutes). Pure.
 */
import { parseScheduleExpression } from './expression';

/** The most shards a fleet can have: one per minute of an hourly period. */
export const MAX_SHARDS = 60;

export interface ShardSchedule {
  /** 0-based shard number. */
  readonly shard: number;
  /** The shard's tag value (`<fleet>-<shard>`). */
  readonly tagValue: string;
  /** The EventBridge Scheduler expression of this shard. */
  readonly expression: string;
  /** Minutes into each period this shard fires (0 when not staggered). */
  readonly offsetMinutes: number;
}

/** The tag value that puts a host in shard `shard` of fleet `fleet`. */
export function shardTagValue(fleet: string, shard: number): string {
  return `${fleet}-${shard}`;
}

/**
 * One schedule per shard for `expression`.
 * @throws Error naming `shards` when it is not an integer 1-60.
 */
export function shardSchedules(expression: string, fleet: string, shards: number): ShardSchedule[] {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new Error(`fleet.shards: expected an integer 1-${MAX_SHARDS}, got ${JSON.stringify(shards)}`);
  }
  const parsed = parseScheduleExpression(expression);
  const periodMinutes = parsed.kind === 'rate' && parsed.unit === 'minute' && 60 % parsed.value === 0 ? parsed.value : undefined;
  return Array.from({ length: shards }, (_, shard) => {
    const tagValue = shardTagValue(fleet, shard);
    if (periodMinutes === undefined || shards === 1) return { shard, tagValue, expression, offsetMinutes: 0 };
    const offsetMinutes = Math.floor((shard * periodMinutes) / shards);
    const minutes = periodMinutes === 60 ? String(offsetMinutes) : `${offsetMinutes}/${periodMinutes}`;
    return { shard, tagValue, expression: `cron(${minutes} * * * ? *)`, offsetMinutes };
  });
}
