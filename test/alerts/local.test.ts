import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { alertStateFilePath, FileAlertStateStore } from '../../lambda/adapters/local/alert-state-file';
import { localPolicyAlertSink } from '../../lambda/adapters/local/policy-alert-sink';
import { TerminalNotifier } from '../../lambda/adapters/local/terminal-notifier';
import { emptyHostState } from '../../lambda/core/alerts/model';
import { AlertStateConflictError } from '../../lambda/core/alerts/ports';
import { parseConfigForTest } from '../helpers/config';
import { at, date, FLAP_CHANGES, flapSequence, hot, result, T0, xid } from './helpers';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-alerts-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('FileAlertStateStore', () => {
  const store = () => new FileAlertStateStore(alertStateFilePath(dir), { now: () => date(0) });

  test('a saved state loads back from <stateDir>/alerts/state.json, readable only by its owner', async () => {
    const s = store();
    const v0 = await s.load('i-0abc');
    await s.save(v0, { ...v0, version: 1, lastSeen: { 'gpu-check': at(0) } });
    expect(await store().load('i-0abc')).toEqual({ ...emptyHostState('i-0abc'), version: 1, lastSeen: { 'gpu-check': at(0) } });
    expect(statSync(path.join(dir, 'alerts', 'state.json')).mode & 0o777).toBe(0o600);
    expect(readdirSync(path.join(dir, 'alerts'))).toEqual(['state.json']);
  });

  test('a save over a version another process wrote is a conflict', async () => {
    const v0 = await store().load('i-0abc');
    await store().save(v0, { ...v0, version: 1 });
    await expect(store().save(v0, { ...v0, version: 1 })).rejects.toBeInstanceOf(AlertStateConflictError);
  });

  test('concurrent saves of different hosts are serialized by the lock and all kept', async () => {
    const hosts = Array.from({ length: 12 }, (_, i) => `i-${i}`);
    await Promise.all(hosts.map(async (h) => store().save(emptyHostState(h), { ...emptyHostState(h), version: 1 })));
    expect((await store().listHosts()).map((h) => h.host).sort()).toEqual([...hosts].sort());
  });

  test('a lock left by a killed process is taken over after 30 s', async () => {
    const lock = `${alertStateFilePath(dir)}.lock`;
    await store().putSilence({ host: 'i-0abc', until: at(60), reason: 'x', source: 'cli' });
    writeFileSync(lock, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    await store().putSilence({ host: 'i-0def', until: at(60), reason: 'y', source: 'cli' });
    expect(await store().listSilences()).toHaveLength(2);
    expect(existsSync(lock)).toBe(false);
  });

  test('a corrupt state file is moved aside with a message naming the file, and the state starts empty', async () => {
    const file = alertStateFilePath(dir);
    await store().putSilence({ host: 'i-0abc', until: at(60), reason: 'x', source: 'cli' });
    writeFileSync(file, '{"format": 1, "hosts":');
    const said: string[] = [];
    const loaded = await new FileAlertStateStore(file, { now: () => new Date(at(0)) }, (m) => said.push(m)).load('i-0abc');
    expect(loaded.version).toBe(0);
    expect(said).toEqual([expect.stringContaining(`alert state ${file} is damaged (not JSON`)]);
    expect(readFileSync(`${file}.bad-${at(0).replace(/[:.]/g, '')}`, 'utf8')).toBe('{"format": 1, "hosts":');
  });

  test('a silence replaces the previous one of the same host and check; expired ones are dropped after a day', async () => {
    const s = store();
    await s.putSilence({ host: 'i-0abc', until: at(-25 * 60), reason: 'long ago', source: 'cli' });
    await s.putSilence({ host: 'i-0abc', check: 'gpu.xid', until: at(60), reason: 'first', source: 'cli' });
    await s.putSilence({ host: 'i-0abc', check: 'gpu.xid', until: at(120), reason: 'second', source: 'cli' });
    expect((await s.listSilences('i-0abc')).map((x) => x.reason)).toEqual(['second']);
  });
});

describe('flap damping through the state file', () => {
  test('a flapping alert is notified once as flapping and resolved once stable, each result by a fresh run', async () => {
    const config = parseConfigForTest({ local: { stateDir: dir } });
    const sent: [number, string][] = [];
    for (const r of flapSequence('i-0abc')) {
      const lines: string[] = [];
      const now = new Date(r.at as string);
      await localPolicyAlertSink(config, (l) => lines.push(l), { clock: { now: () => now }, warn: () => {} }).publish(r);
      for (const l of lines) {
        const change = /gpu\.temperature GPU 3 (FIRING|FLAPPING|RESOLVED):/.exec(l)?.[1];
        if (change) sent.push([(now.getTime() - T0) / 60_000, change.toLowerCase()]);
      }
    }
    expect(sent).toEqual(FLAP_CHANGES);
    expect(JSON.parse(readFileSync(alertStateFilePath(dir), 'utf8')).hosts['i-0abc'].firingStarts).toBeUndefined();
  });
});

describe('TerminalNotifier', () => {
  let server: Server;
  let received: { body: string; type: string | undefined }[];
  let status = 200;
  let url: string;
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ body, type: req.headers['content-type'] });
        res.writeHead(status).end(status === 200 ? 'ok' : 'no such hook');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-path`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    received = [];
    status = 200;
  });

  const notification = async () => {
    const lines: string[] = [];
    const sink = localPolicyAlertSink(parseConfigForTest({ local: { stateDir: dir } }), (l) => lines.push(l), {
      clock: { now: () => date(0) },
    });
    await sink.publish(result('i-0abc', 0, [xid(5)]));
    return lines;
  };

  test('prints one line per changed alert with its runbook', async () => {
    expect(await notification()).toEqual([
      `ALERT ${at(0)} [CRITICAL] i-0abc gpu.xid GPU 5 FIRING: Xid 79 GPU 5 fell off the bus (runbook docs/runbook.md#gpu.xid)`,
    ]);
  });

  test('posts the structured JSON to a generic webhook', async () => {
    const lines: string[] = [];
    const sink = localPolicyAlertSink(parseConfigForTest({ local: { stateDir: dir, webhookUrl: url } }), (l) => lines.push(l), {
      clock: { now: () => date(0) },
    });
    await sink.publish(result('i-0abc', 0, [xid(5)]));
    expect(received).toHaveLength(1);
    expect(received[0].type).toBe('application/json');
    expect(JSON.parse(received[0].body)).toMatchObject({ schema: 'gpu-maint.alert/v1', host: 'i-0abc', alerts: [{ check: 'gpu.xid' }] });
  });

  test('posts Block Kit to a Slack incoming webhook', async () => {
    const bodies: string[] = [];
    const fakeFetch = (async (_u: string | URL | Request, init?: RequestInit) => {
      bodies.push(String(init?.body));
      return new Response('ok');
    }) as typeof fetch;
    await new TerminalNotifier(() => undefined, { webhookUrl: 'https://hooks.slack.com/services/T/B/X', fetch: fakeFetch }).send({
      id: 'x/1',
      at: at(0),
      fleet: 'f',
      host: 'i-0abc',
      status: 'firing',
      severity: 'critical',
      tasks: ['gpu-check'],
      stillFiring: [],
      alerts: [
        {
          change: 'firing',
          check: 'gpu.xid',
          task: 'gpu-check',
          severity: 'critical',
          message: 'Xid 79',
          since: at(0),
          runbook: 'docs/runbook.md#gpu.xid',
        },
      ],
    });
    const body = JSON.parse(bodies[0]);
    expect(body.text).toBe('[CRITICAL] i-0abc gpu.xid: Xid 79');
    expect(body.blocks[0].type).toBe('header');
  });

  test('a failing webhook does not fail the run: the notification is parked and posted with the next evaluation', async () => {
    status = 500;
    const lines: string[] = [];
    const warnings: string[] = [];
    const config = parseConfigForTest({ local: { stateDir: dir, webhookUrl: url } });
    const sink = localPolicyAlertSink(config, (l) => lines.push(l), { clock: { now: () => date(0) }, warn: (w) => warnings.push(w) });
    await sink.publish(result('i-0abc', 0, [xid(5)]));
    expect(warnings.join('\n')).toMatch(/could not be sent \(webhook http:\/\/127\.0\.0\.1:\d+\/…: HTTP 500 no such hook\); parked/);
    expect(warnings.join('\n')).not.toContain('secret-path');
    status = 200;
    received = [];
    await sink.publish(result('i-0abc', 5, [xid(5), hot('critical', 1)]));
    expect(received.map((r) => JSON.parse(r.body).alerts[0].check)).toEqual(['gpu.xid']);
    expect(readFileSync(alertStateFilePath(dir), 'utf8')).toContain('"undelivered": []');
  });
});
