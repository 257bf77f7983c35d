/**
 * Alert state in DynamoDB (on-demand table, see lib/constructs/alert-state-table.ts).
 *
 * Items, partition key `host`, sort key `sk`:
 *   `#host`                 version, lastSeen, undelivered, firingStarts (flap damping), lastGpuCheckAt, withheld,
 *                           kind=host (sparse GSI `hosts`)
 *   `alert#<check>[#gpuN]`  one per (check, gpu): the AlertRecord as JSON
 *   `silence#<check|*>`     one per silence
 * Every item has `expiresAt` (TTL, epoch seconds).
 *
 * A save writes the host item conditioned on the version it loaded, in the same transaction as the
 * alert items it changes: when two collectors evaluate the same host, one transaction fails
 * (ConditionalCheckFailed), and that collector re-reads instead of notifying a second time.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  PutItemCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  TransactionCanceledException,
  type TransactWriteItem,
  TransactWriteItemsCommand,
} from '@aws-sdk/client-dynamodb';
import { assertNextVersion } from '../../core/alerts/memory-store';
import { type AlertRecord, emptyHostState, type HostAlertState, type Silence } from '../../core/alerts/model';
import {
  ALERT_TABLE_KEYS,
  AlertStateConflictError,
  type AlertStateStore,
  HOSTS_INDEX_KEY_VALUES,
  type HostSummary,
  hostsIndexShard,
  type SilenceStore,
} from '../../core/alerts/ports';
import type { CheckName } from '../../core/types';

export const HOST_SK = '#host';
const ALERT_PREFIX = 'alert#';
const SILENCE_PREFIX = 'silence#';
/** DynamoDB's transaction limit. */
const MAX_TRANSACTION_ITEMS = 100;
/** Stay clear of the 400 KB item limit (the host item carries parked notifications). */
const MAX_HOST_ITEM_BYTES = 350_000;

export interface DynamoDbAlertStateStoreOptions {
  /** Days state outlives a host's last result before TTL removes it. @default 8 */
  readonly ttlDays?: number;
  readonly clock?: { now(): Date };
}

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });

function str(item: Record<string, AttributeValue>, name: string): string | undefined {
  return item[name]?.S;
}

export class DynamoDbAlertStateStore implements AlertStateStore, SilenceStore {
  private readonly ttlMs: number;
  private readonly clock: { now(): Date };

  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    options: DynamoDbAlertStateStoreOptions = {},
  ) {
    this.ttlMs = (options.ttlDays ?? 8) * 86_400_000;
    this.clock = options.clock ?? { now: () => new Date() };
  }

  async load(host: string): Promise<HostAlertState> {
    const items = await this.queryAll({
      TableName: this.tableName,
      KeyConditionExpression: '#h = :h',
      ExpressionAttributeNames: { '#h': ALERT_TABLE_KEYS.partitionKey },
      ExpressionAttributeValues: { ':h': S(host) },
      ConsistentRead: true,
    });
    let state = emptyHostState(host);
    const alerts: Record<string, AlertRecord> = {};
    for (const item of items) {
      const sk = str(item, 'sk') ?? '';
      if (sk === HOST_SK) {
        state = {
          ...state,
          version: Number(item.version?.N ?? '0'),
          lastSeen: JSON.parse(str(item, 'lastSeen') ?? '{}'),
          undelivered: JSON.parse(str(item, 'undelivered') ?? '[]'),
          ...(str(item, 'firingStarts') ? { firingStarts: JSON.parse(str(item, 'firingStarts') as string) } : {}),
        };
      } else if (sk.startsWith(ALERT_PREFIX)) {
        alerts[sk.slice(ALERT_PREFIX.length)] = JSON.parse(str(item, 'data') ?? '{}') as AlertRecord;
      }
    }
    return { ...state, alerts };
  }

  async save(previous: HostAlertState, next: HostAlertState): Promise<void> {
    assertNextVersion(previous, next);
    const expiresAt = this.expiresAt(next);
    const hostPut: TransactWriteItem = {
      Put: {
        TableName: this.tableName,
        Item: this.hostItem(next, expiresAt),
        ConditionExpression: previous.version === 0 ? 'attribute_not_exists(sk)' : '#v = :v',
        ...(previous.version === 0
          ? {}
          : { ExpressionAttributeNames: { '#v': 'version' }, ExpressionAttributeValues: { ':v': N(previous.version) } }),
      },
    };
    const alertWrites: TransactWriteItem[] = [];
    for (const [key, record] of Object.entries(next.alerts)) {
      if (JSON.stringify(previous.alerts[key]) === JSON.stringify(record)) continue;
      alertWrites.push({
        Put: {
          TableName: this.tableName,
          Item: {
            host: S(next.host),
            sk: S(`${ALERT_PREFIX}${key}`),
            data: S(JSON.stringify(record)),
            version: N(next.version),
            expiresAt: N(expiresAt),
          },
        },
      });
    }
    for (const key of Object.keys(previous.alerts)) {
      if (key in next.alerts) continue;
      alertWrites.push({ Delete: { TableName: this.tableName, Key: { host: S(next.host), sk: S(`${ALERT_PREFIX}${key}`) } } });
    }

    if (alertWrites.length === 0) {
      try {
        await this.client.send(new PutItemCommand(hostPut.Put!));
      } catch (err) {
        if (err instanceof ConditionalCheckFailedException)
          throw new AlertStateConflictError(next.host, `version ${previous.version} was replaced`);
        throw err;
      }
      return;
    }
    const [first, ...rest] = chunk([hostPut, ...alertWrites], MAX_TRANSACTION_ITEMS);
    try {
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: first }));
    } catch (err) {
      if (err instanceof TransactionCanceledException) {
        const codes = (err.CancellationReasons ?? []).map((r) => r.Code ?? 'None');
        if (codes.includes('ConditionalCheckFailed') || codes.includes('TransactionConflict')) {
          throw new AlertStateConflictError(next.host, `transaction cancelled: ${codes.join(',')}`);
        }
      }
      throw err;
    }
    // Beyond 100 items (hosts with dozens of GPUs): the host item already carries our version, so the
    // remaining writes are ours alone.
    for (const items of rest) await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
  }

  async listHosts(): Promise<readonly HostSummary[]> {
    const shards = await Promise.all(
      HOSTS_INDEX_KEY_VALUES.map((value) =>
        this.queryAll({
          TableName: this.tableName,
          IndexName: ALERT_TABLE_KEYS.hostsIndex,
          KeyConditionExpression: '#k = :k',
          ExpressionAttributeNames: { '#k': ALERT_TABLE_KEYS.hostsIndexKey },
          ExpressionAttributeValues: { ':k': S(value) },
        }),
      ),
    );
    return shards.flat().map((item) => ({
      host: str(item, 'host') ?? '',
      ...(str(item, 'lastGpuCheckAt') ? { lastGpuCheckAt: str(item, 'lastGpuCheckAt') } : {}),
      ...(item.withheld?.BOOL ? { withheld: true } : {}),
    }));
  }

  async putSilence(silence: Silence): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          host: S(silence.host),
          sk: S(`${SILENCE_PREFIX}${silence.check ?? '*'}`),
          data: S(JSON.stringify(silence)),
          expiresAt: N(Math.floor(Date.parse(silence.until) / 1000) + 86_400),
        },
      }),
    );
  }

  async deleteSilence(host: string, check?: CheckName): Promise<boolean> {
    const out = await this.client.send(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: { host: S(host), sk: S(`${SILENCE_PREFIX}${check ?? '*'}`) },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return out.Attributes !== undefined;
  }

  async listSilences(host?: string): Promise<readonly Silence[]> {
    const names = { '#sk': ALERT_TABLE_KEYS.sortKey };
    let items: Record<string, AttributeValue>[];
    if (host !== undefined) {
      items = await this.queryAll({
        TableName: this.tableName,
        KeyConditionExpression: '#h = :h AND begins_with(#sk, :p)',
        ExpressionAttributeNames: { ...names, '#h': ALERT_TABLE_KEYS.partitionKey },
        ExpressionAttributeValues: { ':h': S(host), ':p': S(SILENCE_PREFIX) },
        ConsistentRead: true,
      });
    } else {
      items = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            FilterExpression: 'begins_with(#sk, :p)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':p': S(SILENCE_PREFIX) },
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
    }
    return items.map((item) => JSON.parse(str(item, 'data') ?? '{}') as Silence);
  }

  private hostItem(state: HostAlertState, expiresAt: number): Record<string, AttributeValue> {
    const item: Record<string, AttributeValue> = {
      host: S(state.host),
      sk: S(HOST_SK),
      [ALERT_TABLE_KEYS.hostsIndexKey]: S(hostsIndexShard(state.host)),
      version: N(state.version),
      lastSeen: S(JSON.stringify(state.lastSeen)),
      undelivered: S(JSON.stringify(state.undelivered)),
      withheld: { BOOL: Object.values(state.alerts).some((a) => a.silenced === true) },
      expiresAt: N(expiresAt),
    };
    if (state.lastSeen['gpu-check']) item.lastGpuCheckAt = S(state.lastSeen['gpu-check']);
    if (state.firingStarts && Object.keys(state.firingStarts).length > 0) item.firingStarts = S(JSON.stringify(state.firingStarts));
    const bytes = new TextEncoder().encode(JSON.stringify(item)).length;
    if (bytes > MAX_HOST_ITEM_BYTES) {
      throw new Error(
        `alert state of ${state.host}: host item would be ${bytes} bytes (limit ${MAX_HOST_ITEM_BYTES}) with ${state.undelivered.length} undelivered notifications; fix the notifier (SNS publish) first`,
      );
    }
    return item;
  }

  /** TTL: a host's state outlives its latest result by ttlDays. */
  private expiresAt(state: HostAlertState): number {
    const seen = Object.values(state.lastSeen)
      .map((t) => Date.parse(t as string))
      .filter((t) => !Number.isNaN(t));
    const latest = Math.max(this.clock.now().getTime(), ...seen);
    return Math.floor((latest + this.ttlMs) / 1000);
  }

  private async queryAll(input: QueryCommandInput): Promise<Record<string, AttributeValue>[]> {
    const items: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
