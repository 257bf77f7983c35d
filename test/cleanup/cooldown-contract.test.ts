/**
 * One contract for every CleanupCooldownStore: in memory (tests, one local process), the JSON file
 * (local mode) and DynamoDB (AWS), the last against dynalite, a DynamoDB-compatible server from npm
 * listening on 127.0.0.1, so that the store's condition expressions are evaluated by a real parser.
 * dynalite stands in for DynamoDB's conditional PutItem/DeleteItem; it does not show DynamoDB's
 * throughput limits or TTL deletion (which only removes items long after the cooldown).
 */
import * as path from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DynamoDbCleanupCooldownStore } from '../../lambda/adapters/aws/cleanup-cooldown-dynamodb';
import { FileCleanupCooldownStore } from '../../lambda/adapters/local/cleanup-cooldown-file';
import { ALERT_TABLE_KEYS } from '../../lambda/core/alerts/ports';
import { type CleanupCooldownStore, memoryCooldownStore } from '../../lambda/core/cleanup/disk-pressure';
import { tempDir } from '../helpers/temp';

const HOUR = 3_600_000;
const T0 = new Date('2026-11-28T12:00:00Z');
const at = (hours: number) => new Date(T0.getTime() + hours * HOUR);

let server: ReturnType<typeof dynalite>;
let client: DynamoDBClient;
let tables = 0;

beforeAll(async () => {
  server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => server.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve())));
  const { port } = server.address() as { port: number };
  client = new DynamoDBClient({
    region: 'eu-west-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});

afterAll(async () => {
  client?.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A fresh table shaped like the alert table (the cooldown items live in it). */
async function dynamoStore(): Promise<CleanupCooldownStore> {
  tables += 1;
  const name = `alerts-${tables}`;
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: ALERT_TABLE_KEYS.partitionKey, AttributeType: 'S' },
        { AttributeName: ALERT_TABLE_KEYS.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: ALERT_TABLE_KEYS.partitionKey, KeyType: 'HASH' },
        { AttributeName: ALERT_TABLE_KEYS.sortKey, KeyType: 'RANGE' },
      ],
    }),
  );
  return new DynamoDbCleanupCooldownStore(client, name, { retainHours: 30 });
}

const implementations: ReadonlyArray<readonly [string, () => Promise<CleanupCooldownStore>]> = [
  ['memory', async () => memoryCooldownStore()],
  ['file', async () => new FileCleanupCooldownStore(path.join(tempDir('gpu-maint-cooldown-'), 'cleanup-cooldown.json'))],
  ['DynamoDB (dynalite)', dynamoStore],
];

describe.each(implementations)('%s cooldown store', (_name, open) => {
  test('the first claim of a host succeeds', async () => {
    const store = await open();
    expect(await store.claim('i-1', at(0), at(-24))).toBe(true);
  });

  test('a claim while the last dispatch is within the cooldown fails', async () => {
    const store = await open();
    await store.claim('i-1', at(0), at(-24));
    expect(await store.claim('i-1', at(1), at(-23))).toBe(false);
  });

  test('a claim once the last dispatch is at or before notBefore succeeds', async () => {
    const store = await open();
    await store.claim('i-1', at(0), at(-24));
    expect(await store.claim('i-1', at(24), at(0))).toBe(true);
    expect(await store.claim('i-1', at(25), at(1))).toBe(false);
  });

  test('hosts have their own cooldowns', async () => {
    const store = await open();
    await store.claim('i-1', at(0), at(-24));
    expect(await store.claim('i-2', at(1), at(-23))).toBe(true);
  });

  test('a released claim lets the next claim succeed at once', async () => {
    const store = await open();
    await store.claim('i-1', at(0), at(-24));
    await store.release('i-1', at(0));
    expect(await store.claim('i-1', at(1), at(-23))).toBe(true);
  });

  test('releasing an older claim leaves a newer one in force', async () => {
    const store = await open();
    await store.claim('i-1', at(0), at(-24));
    await store.claim('i-1', at(24), at(0));
    await store.release('i-1', at(0));
    expect(await store.claim('i-1', at(25), at(1))).toBe(false);
  });

  test('of two claims racing for the same host exactly one succeeds', async () => {
    const store = await open();
    const results = await Promise.all([store.claim('i-1', at(0), at(-24)), store.claim('i-1', at(0), at(-24))]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});
