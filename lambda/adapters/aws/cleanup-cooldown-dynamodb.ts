/**
 * Disk-pressure cleanup cooldown in DynamoDB: one item per host in the alert state table, key
 * (host = <instance id>, sk = `cleanup-cooldown`), beside the host's alert items. The alert store reads
 * only its own sort keys, and the item carries no `kind`, so the sparse hosts index never sees it.
 *
 * `claim` is one conditional put: it succeeds when the host has no dispatch yet or its last one is at
 * or before `notBefore`, so of two collectors seeing the same critical disk exactly one dispatches.
 * `release` deletes the item only while it still holds that claim's timestamp.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { ALERT_TABLE_KEYS } from '../../core/alerts/ports';
import type { CleanupCooldownStore } from '../../core/cleanup/disk-pressure';

export const CLEANUP_COOLDOWN_SK = 'cleanup-cooldown';

export interface DynamoDbCleanupCooldownStoreOptions {
  /** How long an item outlives its dispatch before TTL removes it (cleanup.cooldownHours plus a margin). */
  readonly retainHours: number;
}

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });

export class DynamoDbCleanupCooldownStore implements CleanupCooldownStore {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    private readonly options: DynamoDbCleanupCooldownStoreOptions,
  ) {
    if (!(options.retainHours >= 0)) throw new Error(`DynamoDbCleanupCooldownStore: retainHours must be ≥ 0, got: ${options.retainHours}`);
  }

  private key(host: string): Record<string, AttributeValue> {
    return { [ALERT_TABLE_KEYS.partitionKey]: S(host), [ALERT_TABLE_KEYS.sortKey]: S(CLEANUP_COOLDOWN_SK) };
  }

  async claim(host: string, at: Date, notBefore: Date): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            ...this.key(host),
            lastDispatchedAtMs: N(at.getTime()),
            lastDispatchedAt: S(at.toISOString()),
            [ALERT_TABLE_KEYS.ttl]: N(Math.floor(at.getTime() / 1000 + this.options.retainHours * 3600)),
          },
          ConditionExpression: 'attribute_not_exists(#pk) OR #at <= :notBefore',
          ExpressionAttributeNames: { '#pk': ALERT_TABLE_KEYS.partitionKey, '#at': 'lastDispatchedAtMs' },
          ExpressionAttributeValues: { ':notBefore': N(notBefore.getTime()) },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async release(host: string, at: Date): Promise<void> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: this.key(host),
          ConditionExpression: '#at = :at',
          ExpressionAttributeNames: { '#at': 'lastDispatchedAtMs' },
          ExpressionAttributeValues: { ':at': N(at.getTime()) },
        }),
      );
    } catch (err) {
      // Another collector has claimed since: its claim stands.
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }
}
