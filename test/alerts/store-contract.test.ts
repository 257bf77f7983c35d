/**
 * One contract for every AlertStateStore and SilenceStore: the memory store (the simulator's), the JSON
 * file (local mode) and DynamoDB (AWS). Each behaviour runs against all three.
 *
 * DynamoDB runs against FakeAlertTable (test/alerts/fake-dynamodb.ts), not a server: dynalite, the
 * DynamoDB-compatible server on npm, does not implement TransactWriteItems
 * (https://github.com/architect/dynalite/issues/151), which every alert change uses. The fake stands in
 * for DynamoDB's Query (table and `hosts` index), Scan, PutItem/DeleteItem and TransactWriteItems with
 * the store's two condition forms (attribute_not_exists, version equality); what it cannot show is
 * DynamoDB's own expression parser and its limits (item size, 100 items per transaction).
 */

import * as path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, test } from 'vitest';
import { DynamoDbAlertStateStore } from '../../lambda/adapters/aws/alert-state-dynamodb';
import { FileAlertStateStore } from '../../lambda/adapters/local/alert-state-file';
import { MemoryAlertStateStore } from '../../lambda/core/alerts/memory-store';
import { type AlertRecord, emptyHostState, type HostAlertState } from '../../lambda/core/alerts/model';
import { AlertStateConflictError, type AlertStateStore, type SilenceStore } from '../../lambda/core/alerts/ports';
import { tempDir } from '../helpers/temp';
import { FakeAlertTable } from './fake-dynamodb';

const NOW = new Date('2026-11-28T12:00:00Z');
const clock = { now: () => NOW };

type Store = AlertStateStore & SilenceStore;
let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
});

const implementations: ReadonlyArray<readonly [string, () => Store]> = [
  ['memory', () => new MemoryAlertStateStore()],
  ['file', () => new FileAlertStateStore(path.join(tempDir('gpu-maint-alert-contract-'), 'alerts', 'state.json'), clock, () => {})],
  [
    'DynamoDB (FakeAlertTable)',
    () => {
      const table = new FakeAlertTable();
      cleanup = () => table.restore();
      return new DynamoDbAlertStateStore(new DynamoDBClient({ region: 'eu-west-1' }), 'alerts', { clock });
    },
  ],
];

const alert = (over: Partial<AlertRecord> = {}): AlertRecord => ({
  check: 'gpu.xid',
  gpu: 5,
  task: 'gpu-check',
  status: 'firing',
  severity: 'critical',
  message: 'GPU 5: Xid 79',
  reading: '79',
  consecutive: 1,
  since: NOW.toISOString(),
  firingSince: NOW.toISOString(),
  lastEvaluatedAt: NOW.toISOString(),
  lastBreachAt: NOW.toISOString(),
  notifiedSeverity: 'critical',
  lastNotifiedAt: NOW.toISOString(),
  ...over,
});

function next(state: HostAlertState, change: Partial<HostAlertState>): HostAlertState {
  return { ...state, ...change, version: state.version + 1 };
}

describe.each(implementations)('%s alert store', (_name, open) => {
  test('an unknown host loads as the empty state, version 0', async () => {
    expect(await open().load('i-0abc')).toEqual(emptyHostState('i-0abc'));
  });

  test('a saved state loads back equal, at its new version', async () => {
    const store = open();
    const saved = next(emptyHostState('i-0abc'), {
      lastSeen: { 'gpu-check': NOW.toISOString() },
      alerts: { 'gpu.xid#gpu5': alert() },
    });
    await store.save(emptyHostState('i-0abc'), saved);
    expect(await store.load('i-0abc')).toEqual(saved);
  });

  test('an alert left out of the next state is gone when loaded', async () => {
    const store = open();
    const first = next(emptyHostState('i-0abc'), {
      alerts: { 'gpu.xid#gpu5': alert(), 'gpu.ecc#gpu1': alert({ check: 'gpu.ecc', gpu: 1 }) },
    });
    await store.save(emptyHostState('i-0abc'), first);
    await store.save(first, next(first, { alerts: { 'gpu.ecc#gpu1': alert({ check: 'gpu.ecc', gpu: 1 }) } }));
    expect(Object.keys((await store.load('i-0abc')).alerts)).toEqual(['gpu.ecc#gpu1']);
  });

  test('a save from a stale load is a conflict and leaves the stored state as it was', async () => {
    const store = open();
    const first = next(emptyHostState('i-0abc'), { lastSeen: { 'gpu-check': NOW.toISOString() } });
    await store.save(emptyHostState('i-0abc'), first);
    const stale = next(emptyHostState('i-0abc'), { alerts: { 'gpu.xid#gpu5': alert() } });
    await expect(store.save(emptyHostState('i-0abc'), stale)).rejects.toBeInstanceOf(AlertStateConflictError);
    expect(await store.load('i-0abc')).toEqual(first);
  });

  test('a next state that is not one version on is refused', async () => {
    const store = open();
    await expect(store.save(emptyHostState('i-0abc'), { ...emptyHostState('i-0abc'), version: 2 })).rejects.toThrow(/does not follow/);
  });

  test('listHosts lists every stored host with its latest gpu-check and whether a silence withheld a notification', async () => {
    const store = open();
    await store.save(emptyHostState('i-1'), next(emptyHostState('i-1'), { lastSeen: { 'gpu-check': NOW.toISOString() } }));
    await store.save(emptyHostState('i-2'), next(emptyHostState('i-2'), { alerts: { 'gpu.xid#gpu5': alert({ silenced: true }) } }));
    const hosts = [...(await store.listHosts())].sort((a, b) => a.host.localeCompare(b.host));
    expect(hosts).toEqual([
      { host: 'i-1', lastGpuCheckAt: NOW.toISOString() },
      { host: 'i-2', withheld: true },
    ]);
  });
});

describe.each(implementations)('%s silence store', (_name, open) => {
  const until = '2026-11-29T12:00:00.000Z';

  test('silences list per host and all together', async () => {
    const store = open();
    await store.putSilence({ host: 'i-1', check: 'gpu.xid', until, reason: 'RMA', source: 'cli' });
    await store.putSilence({ host: 'i-2', until, reason: 'maintenance', source: 'cli' });
    expect(await store.listSilences('i-1')).toEqual([{ host: 'i-1', check: 'gpu.xid', until, reason: 'RMA', source: 'cli' }]);
    expect((await store.listSilences()).map((s) => s.host).sort()).toEqual(['i-1', 'i-2']);
  });

  test('a second silence of the same host and check replaces the first', async () => {
    const store = open();
    await store.putSilence({ host: 'i-1', check: 'gpu.xid', until, reason: 'first', source: 'cli' });
    await store.putSilence({ host: 'i-1', check: 'gpu.xid', until, reason: 'second', source: 'cli' });
    expect((await store.listSilences('i-1')).map((s) => s.reason)).toEqual(['second']);
  });

  test('deleting a silence removes only that check, and says whether there was one', async () => {
    const store = open();
    await store.putSilence({ host: 'i-1', check: 'gpu.xid', until, reason: 'RMA', source: 'cli' });
    await store.putSilence({ host: 'i-1', until, reason: 'host-wide', source: 'cli' });
    expect(await store.deleteSilence('i-1', 'gpu.xid')).toBe(true);
    expect(await store.deleteSilence('i-1', 'gpu.xid')).toBe(false);
    expect((await store.listSilences('i-1')).map((s) => s.reason)).toEqual(['host-wide']);
    expect(await store.deleteSilence('i-1')).toBe(true);
    expect(await store.listSilences('i-1')).toEqual([]);
  });
});
