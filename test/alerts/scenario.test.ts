/**
 * The committed 24-hour scenario replayed through `gpu-maint alerts simulate`: every incident in the
 * input (computed here from the raw lines, independently of the engine) gets at least its firing and
 * resolve notifications and at most fire + escalation + repeats + resolve; silenced incidents notify
 * only if they outlive the silence; nothing is notified outside an incident.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { SimulatedNotification, SimulationResult } from '../../lambda/core/alerts/simulate';
import { runCli } from '../helpers/cli';
import { settingsFor } from './helpers';

const SCENARIO = path.resolve(__dirname, '..', 'fixtures', 'alerts', 'scenario-24h.jsonl');
const settings = settingsFor();
const MIN = 60_000;

interface Line {
  at: string;
  host?: string;
  task?: string;
  findings?: { check: string; severity: 'warning' | 'critical'; gpu?: number }[];
  silence?: { host: string; check?: string; until: string };
}

interface ExpectedIncident {
  key: string;
  startMs: number;
  /** First ok evaluation that ends it (Infinity while it fires at the end of the input). */
  endMs: number;
  maxSeverity: 'warning' | 'critical';
  /** Started within the flapping window of an earlier start of the same alert. */
  flapping?: boolean;
}

const lines: Line[] = readFileSync(SCENARIO, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l) as Line);
const evaluations = lines.filter((l) => l.task);
const silences = lines
  .filter((l) => l.silence)
  .map((l) => ({ fromMs: Date.parse(l.at), untilMs: Date.parse(l.silence!.until), host: l.silence!.host, check: l.silence!.check }));
const keyOf = (host: string, check: string, gpu?: number) => `${host}|${check}|${gpu ?? ''}`;

/**
 * Incidents of findings: runs of breaching evaluations of the same task, `for` long, held by keep-firing;
 * a start within the flapping window of an earlier start is flapping, held until clear for stableMinutes.
 */
function findingIncidents(): ExpectedIncident[] {
  const out: ExpectedIncident[] = [];
  const tasks = new Map<string, Line[]>();
  for (const e of evaluations) tasks.set(`${e.host}|${e.task}`, [...(tasks.get(`${e.host}|${e.task}`) ?? []), e]);
  for (const series of tasks.values()) {
    const keys = new Set(series.flatMap((e) => e.findings!.map((f) => keyOf(e.host!, f.check, f.gpu))));
    for (const key of keys) {
      const check = key.split('|')[1] as keyof typeof settings.for;
      const needed = settings.for[check] ?? 1;
      const holdMs = (settings.keepFiringForMinutes[check] ?? 0) * MIN;
      const flap = settings.flapping;
      const starts: number[] = [];
      let run = 0;
      let open: ExpectedIncident | null = null;
      let lastBreachMs = 0;
      for (const e of series) {
        const t = Date.parse(e.at);
        const f = e.findings!.find((x) => keyOf(e.host!, x.check, x.gpu) === key);
        if (f) {
          run++;
          lastBreachMs = t;
          if (open) open.maxSeverity = open.maxSeverity === 'critical' ? 'critical' : f.severity;
          else if (run >= needed) {
            const recent = starts.filter((s) => t - s < flap.windowMinutes * MIN).length;
            open = { key, startMs: t, endMs: Infinity, maxSeverity: f.severity, flapping: flap.enabled && recent + 1 >= flap.firings };
            starts.push(t);
          }
        } else if (!open) {
          run = 0;
        } else if (t - lastBreachMs >= (open.flapping ? Math.max(holdMs, flap.stableMinutes * MIN) : holdMs)) {
          open.endMs = t;
          out.push(open);
          open = null;
          run = 0;
        }
      }
      if (open) out.push(open);
    }
  }
  return out;
}

/** host.stale: a gap in a host's gpu-check results spanning a sweep at or after lastSeen + staleAfter. */
function staleIncidents(): ExpectedIncident[] {
  const out: ExpectedIncident[] = [];
  const sweepMs = settings.sweepIntervalMinutes * MIN;
  const byHost = new Map<string, number[]>();
  for (const e of evaluations.filter((x) => x.task === 'gpu-check'))
    byHost.set(e.host!, [...(byHost.get(e.host!) ?? []), Date.parse(e.at)]);
  const lastMs = Math.max(...lines.map((l) => Date.parse(l.at)));
  for (const [host, times] of byHost) {
    for (let i = 0; i < times.length; i++) {
      const next = times[i + 1] ?? lastMs + 1;
      const firstSweep = Math.ceil((times[i] + settings.staleAfterMinutes * MIN) / sweepMs) * sweepMs;
      if (firstSweep < next && firstSweep <= lastMs) {
        out.push({
          key: keyOf(host, 'host.stale'),
          startMs: firstSweep,
          endMs: times[i + 1] ?? Infinity,
          maxSeverity: settings.staleSeverity,
        });
      }
    }
  }
  return out;
}

function silenceOver(incident: ExpectedIncident): { untilMs: number } | undefined {
  const [host, check] = incident.key.split('|');
  return silences.find(
    (s) => s.host === host && (s.check === undefined || s.check === check) && s.fromMs <= incident.startMs && s.untilMs > incident.startMs,
  );
}

let result: SimulationResult;
let expected: ExpectedIncident[];

beforeAll(async () => {
  const run = await runCli(['alerts', 'simulate', '--input', SCENARIO, '--json']);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  result = JSON.parse(run.stdout) as SimulationResult;
  expected = [...findingIncidents(), ...staleIncidents()];
});

function changesOf(incident: ExpectedIncident): { at: number; change: string }[] {
  return result.notifications.flatMap((n: SimulatedNotification) =>
    n.checks
      .filter(
        (c) => keyOf(n.host, c.check, c.gpu) === incident.key && Date.parse(n.at) >= incident.startMs && Date.parse(n.at) <= incident.endMs,
      )
      .map((c) => ({ at: Date.parse(n.at), change: c.change })),
  );
}

describe('the 24-hour scenario through `alerts simulate`', () => {
  test('the scenario holds the incidents it is meant to exercise', () => {
    const checks = new Set(expected.map((i) => i.key.split('|')[1]));
    for (const check of ['gpu.temperature', 'gpu.xid', 'gpu.count', 'host.stale', 'health.service', 'health.disk'])
      expect(checks).toContain(check);
    expect(expected.some((i) => silenceOver(i) && i.endMs <= silenceOver(i)!.untilMs)).toBe(true);
    expect(expected.some((i) => silenceOver(i) && i.endMs > silenceOver(i)!.untilMs)).toBe(true);
    expect(expected.some((i) => i.endMs - i.startMs >= 3 * 60 * MIN - 10 * MIN)).toBe(true);
    expect(expected.some((i) => i.flapping)).toBe(true);
  });

  test('a flapping check is notified once as flapping and resolved once', () => {
    for (const incident of expected.filter((i) => i.flapping))
      expect(
        changesOf(incident).map((c) => c.change),
        incident.key,
      ).toEqual(['flapping', 'resolved']);
  });

  test('no alert fires and resolves more than twice within an hour', () => {
    const cycles = new Map<string, number[]>();
    for (const n of result.notifications)
      for (const c of n.checks)
        if (c.change === 'resolved')
          cycles.set(keyOf(n.host, c.check, c.gpu), [...(cycles.get(keyOf(n.host, c.check, c.gpu)) ?? []), Date.parse(n.at)]);
    for (const [key, times] of cycles)
      for (const t of times) expect(times.filter((u) => u >= t && u - t < 60 * MIN).length, key).toBeLessThanOrEqual(2);
  });

  test('the summary counts the incidents and notifications of the input', () => {
    expect(result.summary).toMatchObject({
      incidents: expected.length,
      notifications: result.notifications.length,
      hosts: new Set(evaluations.map((e) => e.host)).size,
      evaluations: evaluations.length,
    });
  });

  test('every incident gets at most fire + escalation + repeats + resolve notifications', () => {
    for (const incident of expected) {
      const durationMs =
        (Number.isFinite(incident.endMs) ? incident.endMs : Math.max(...lines.map((l) => Date.parse(l.at)))) - incident.startMs;
      const intervalMs = settings.repeatIntervalHours[incident.maxSeverity === 'critical' ? 'critical' : 'warning'] * 3_600_000;
      const bound =
        1 + (incident.maxSeverity === 'critical' ? 1 : 0) + Math.floor(durationMs / intervalMs) + (Number.isFinite(incident.endMs) ? 1 : 0);
      expect(changesOf(incident).length, incident.key).toBeLessThanOrEqual(bound);
    }
  });

  test('no incident is missed: each fires, and each that ended resolves', () => {
    for (const incident of expected) {
      const silence = silenceOver(incident);
      const changes = changesOf(incident);
      if (silence && incident.endMs <= silence.untilMs) {
        expect(changes, `${incident.key} cleared inside its silence`).toEqual([]);
        continue;
      }
      expect(changes[0]?.change, incident.key).toBe(incident.flapping ? 'flapping' : 'firing');
      if (silence) expect(changes[0].at, `${incident.key} notifies when its silence ends`).toBeGreaterThanOrEqual(silence.untilMs);
      if (Number.isFinite(incident.endMs)) expect(changes.at(-1), incident.key).toEqual({ at: incident.endMs, change: 'resolved' });
    }
  });

  test('nothing is notified outside an incident', () => {
    for (const n of result.notifications) {
      for (const c of n.checks) {
        const t = Date.parse(n.at);
        const owner = expected.find((i) => i.key === keyOf(n.host, c.check, c.gpu) && t >= i.startMs && t <= i.endMs);
        expect(owner, `${n.at} ${n.host} ${c.check} ${c.change}`).toBeDefined();
      }
    }
  });

  test('changes of one host at one evaluation come as one notification', () => {
    const perHostAndTime = new Set(result.notifications.map((n) => `${n.host}|${n.at}`));
    expect(perHostAndTime.size).toBe(result.notifications.length);
    expect(result.notifications.some((n) => n.checks.length > 1)).toBe(true);
  });
});
