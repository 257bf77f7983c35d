import { DynamoDBClient, PutItemCommand, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { DynamoDbAlertStateStore } from '../../lambda/adapters/aws/alert-state-dynamodb';
import { type AlertEngineDeps, deliver, evaluateAlerts, processResults } from '../../lambda/core/alerts/engine';
import { AlertStateConflictError, HOSTS_INDEX_SHARDS, hostsIndexShard, storedSilences } from '../../lambda/core/alerts/ports';
import { FakeAlertTable } from './fake-dynamodb';
import { at, date, FLAP_CHANGES, flapSequence, RecordingNotifier, result, settingsFor, T0, xid } from './helpers';

let table: FakeAlertTable;
beforeEach(() => {
  table = new FakeAlertTable();
});
afterEach(() => table.restore());

/** One collector: its own client and store over the shared (fake) table. */
function collector(notifier = new RecordingNotifier()) {
  const store = new DynamoDbAlertStateStore(new DynamoDBClient({ region: 'eu-west-1' }), 'alerts', { clock: { now: () => date(0) } });
  const deps = { store, silences: storedSilences(store), settings: settingsFor(), notifier };
  return { store, deps, notifier };
}

describe('DynamoDbAlertStateStore', () => {
  test('a saved host state loads back identical, with the next version', async () => {
    const { store } = collector();
    await processResults([result('i-0abc', 0, [xid(5)])], collector().deps, date(0));
    const loaded = await store.load('i-0abc');
    expect(loaded).toMatchObject({ host: 'i-0abc', version: 1, lastSeen: { 'gpu-check': at(0) }, undelivered: [] });
    expect(loaded.alerts['gpu.xid#gpu5']).toMatchObject({ status: 'firing', notifiedSeverity: 'critical' });
  });

  test('an alert change is one transaction: the host item conditioned on its version, then the alert items', async () => {
    const { deps } = collector();
    await processResults([result('i-0abc', 0, [xid(5)])], deps, date(0));
    const [call] = table.mock.commandCalls(TransactWriteItemsCommand);
    const [hostPut, alertPut] = call.args[0].input.TransactItems ?? [];
    expect(hostPut.Put).toMatchObject({
      ConditionExpression: 'attribute_not_exists(sk)',
      Item: { sk: { S: '#host' }, version: { N: '1' }, kind: { S: hostsIndexShard('i-0abc') } },
    });
    expect(alertPut.Put?.Item).toMatchObject({ host: { S: 'i-0abc' }, sk: { S: 'alert#gpu.xid#gpu5' } });
    expect(Number(alertPut.Put?.Item?.expiresAt.N)).toBeGreaterThan(Date.parse(at(0)) / 1000 + 7 * 86_400);
  });

  test('an evaluation that changes no alert writes only the host item, conditioned on the loaded version', async () => {
    const { deps } = collector();
    await processResults([result('i-0abc', 0, [])], deps, date(0));
    await processResults([result('i-0abc', 5, [])], deps, date(5));
    const puts = table.mock.commandCalls(PutItemCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => [p.ConditionExpression, p.ExpressionAttributeValues?.[':v']?.N])).toEqual([
      ['attribute_not_exists(sk)', undefined],
      ['#v = :v', '1'],
    ]);
  });

  test('a save over a version someone else wrote throws a conflict', async () => {
    const { store } = collector();
    const v0 = await store.load('i-0abc');
    await store.save(v0, { ...v0, version: 1 });
    await expect(store.save(v0, { ...v0, version: 1 })).rejects.toBeInstanceOf(AlertStateConflictError);
  });

  test('cleared alerts are deleted in the same transaction', async () => {
    const { deps } = collector();
    await processResults([result('i-0abc', 0, [xid(5)])], deps, date(0));
    await processResults([result('i-0abc', 65, [])], deps, date(65));
    const last = table.mock.commandCalls(TransactWriteItemsCommand).at(-1)?.args[0].input.TransactItems ?? [];
    expect(last[1]).toEqual({ Delete: { TableName: 'alerts', Key: { host: { S: 'i-0abc' }, sk: { S: 'alert#gpu.xid#gpu5' } } } });
    expect([...table.items.keys()]).toEqual(['i-0abc|#host']);
  });

  test('listHosts reads the sparse hosts index', async () => {
    const { deps, store } = collector();
    await processResults([result('i-0abc', 0, [])], deps, date(0));
    await processResults([result('i-0def', 1, [], 'health-check')], deps, date(1));
    const hosts = [...(await store.listHosts())].sort((a, b) => a.host.localeCompare(b.host));
    expect(hosts).toEqual([{ host: 'i-0abc', lastGpuCheckAt: at(0) }, { host: 'i-0def' }]);
  });

  test('host items spread over the index shards, and listHosts reads every shard', async () => {
    const { deps, store } = collector();
    const names = Array.from({ length: 64 }, (_, i) => `i-${i.toString(16).padStart(8, '0')}`);
    for (const host of names) await processResults([result(host, 0, [])], deps, date(0));
    const shards = new Set([...table.items.values()].map((item) => item.kind?.S).filter(Boolean));
    expect(shards.size).toBeGreaterThan(HOSTS_INDEX_SHARDS / 2);
    expect((await store.listHosts()).map((h) => h.host).sort()).toEqual(names);
  });

  test('silences are stored per host and check, listed, and deleted', async () => {
    const { store } = collector();
    await store.putSilence({ host: 'i-0abc', until: at(120), reason: 'maintenance', source: 'cli' });
    await store.putSilence({ host: 'i-0abc', check: 'gpu.xid', until: at(60), reason: 'known', source: 'cli' });
    await store.putSilence({ host: 'i-0def', until: at(60), reason: 'rma', source: 'cli' });
    expect((await store.listSilences('i-0abc')).map((s) => s.check ?? '*').sort()).toEqual(['*', 'gpu.xid']);
    expect(await store.listSilences()).toHaveLength(3);
    expect(await store.deleteSilence('i-0abc', 'gpu.xid')).toBe(true);
    expect(await store.deleteSilence('i-0abc', 'gpu.xid')).toBe(false);
    expect(table.items.get('i-0abc|silence#*')?.expiresAt.N).toBe(String(Date.parse(at(120)) / 1000 + 86_400));
  });
});

describe('flap damping through the DynamoDB store', () => {
  test('a flapping alert is notified once as flapping and resolved once stable, each result by a fresh collector', async () => {
    const sent: [number, string][] = [];
    for (const r of flapSequence('i-0abc')) {
      const { deps } = collector();
      const now = new Date(Date.parse(r.at as string));
      for (const n of await processResults([r], deps, now)) for (const a of n.alerts) sent.push([(now.getTime() - T0) / 60_000, a.change]);
    }
    expect(sent).toEqual(FLAP_CHANGES);
  });

  test('the starts behind flap damping are kept in the host item', async () => {
    const { store } = collector();
    for (const r of flapSequence('i-0abc').slice(0, 5)) await processResults([r], collector().deps, new Date(r.at as string));
    const hostPut = table.mock
      .commandCalls(TransactWriteItemsCommand)
      .flatMap((c) => c.args[0].input.TransactItems ?? [])
      .map((t) => t.Put?.Item)
      .filter((i) => i?.sk?.S === '#host')
      .at(-1);
    expect(JSON.parse(hostPut?.firingStarts?.S ?? '{}')).toEqual({ 'gpu.temperature#gpu3': [at(5), at(20)] });
    expect((await store.load('i-0abc')).firingStarts).toEqual({ 'gpu.temperature#gpu3': [at(5), at(20)] });
  });
});

describe('two collectors evaluating the same host', () => {
  test('a transaction cancelled by ConditionalCheckFailed makes the loser re-read and not notify', async () => {
    // GIVEN two collectors that both load the host before either saves (SQS delivered the result twice)
    const a = collector();
    const b = collector();
    table.interleaveNextLoads(2);
    const r = result('i-0abc', 0, [xid(5)]);
    // WHEN both process it
    await Promise.all([processResults([r], a.deps, date(0)), processResults([r], b.deps, date(0))]);
    // THEN one transaction lost, and exactly one notification went out
    expect(table.conditionFailures).toBe(1);
    expect([...a.notifier.sent, ...b.notifier.sent]).toHaveLength(1);
    expect((await a.store.load('i-0abc')).version).toBe(1);
  });

  test('two different results racing are both evaluated and notify once each alert', async () => {
    const a = collector();
    const b = collector();
    table.interleaveNextLoads(2);
    await Promise.all([
      processResults([result('i-0abc', 0, [xid(5)])], a.deps, date(0)),
      processResults(
        [result('i-0abc', 1, [{ check: 'health.disk', severity: 'critical', message: '/ at 97%' }], 'health-check')],
        b.deps,
        date(1),
      ),
    ]);
    const sent = [...a.notifier.sent, ...b.notifier.sent].flatMap((n) => n.alerts.map((x) => x.check)).sort();
    expect(sent).toEqual(['gpu.xid', 'health.disk']);
    expect((await a.store.load('i-0abc')).version).toBe(2);
  });

  test('a parked notification taken by two collectors at once (ConditionalCheckFailedException on the host item) is sent once', async () => {
    // GIVEN a notification parked because SNS failed
    const first = collector();
    first.notifier.failuresLeft = 1;
    await expect(processResults([result('i-0abc', 0, [xid(5)])], first.deps, date(0))).rejects.toThrow(/parked/);
    expect((await first.store.load('i-0abc')).undelivered).toHaveLength(1);
    // WHEN two collectors evaluate the host's duplicate result at the same time (only the host item changes)
    const a = collector();
    const b = collector();
    table.interleaveNextLoads(2);
    const before = table.conditionFailures;
    await Promise.all([
      processResults([result('i-0abc', 0, [xid(5)])], a.deps, date(1)),
      processResults([result('i-0abc', 0, [xid(5)])], b.deps, date(1)),
    ]);
    // THEN the PutItem of one failed its condition, and the parked notification went out once
    expect(table.conditionFailures - before).toBe(1);
    expect([...a.notifier.sent, ...b.notifier.sent].map((n) => n.alerts[0].check)).toEqual(['gpu.xid']);
    expect((await a.store.load('i-0abc')).undelivered).toEqual([]);
  });
});

describe('engine with a failing notifier', () => {
  test('a notification the notifier refused is parked and sent before the next one', async () => {
    const c = collector();
    c.notifier.failuresLeft = 1;
    await expect(processResults([result('i-0abc', 0, [xid(5)])], c.deps, date(0))).rejects.toThrow(
      /1 alert notification\(s\) could not be sent/,
    );
    await processResults([result('i-0abc', 5, [xid(5), xid(6)])], c.deps, date(5));
    expect(c.notifier.sent.map((n) => n.alerts.map((a) => a.gpu))).toEqual([[5], [6]]);
  });

  test('evaluateAlerts commits without sending; deliver sends what it returned', async () => {
    const c = collector();
    const deps: AlertEngineDeps = c.deps;
    const pending = await evaluateAlerts([result('i-0abc', 0, [xid(5)])], deps, date(0));
    expect(c.notifier.sent).toEqual([]);
    await deliver(pending, c.deps);
    expect(c.notifier.sent).toHaveLength(1);
  });
});
