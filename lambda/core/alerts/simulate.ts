/**
 * Policy simulation: replays recorded evaluations (JSON lines) through the real engine on a virtual
 * clock, with an in-memory store, and reports what would have been sent and how incidents fared.
 * Operators tune `alerts.*` on history with it; tests use it for scenarios.
 *
 * Input lines:
 *   {"at": ISO, "host": "...", "task": "gpu-check", "findings": [{"check", "severity", "gpu"?, "message", "reading"?, "threshold"?}], "status"?: "failed"}
 *     one evaluation of one task on one host; checks of that task absent from the line are ok.
 *   {"at": ISO, "silence": {"host": "...", "check"?: "...", "until"?: ISO, "for"?: "2h", "reason"?: "..."}}
 *   {"at": ISO, "unsilence": {"host": "...", "check"?: "..."}}
 */
import { z } from 'zod';
import { CHECK_NAMES, type CheckName, type Finding, TASK_NAMES, type TaskName, type TaskResult } from '../types';
import { describeIssue } from '../validation';
import { type AlertEngineDeps, evaluateAlerts, evaluateSweep } from './engine';
import { MemoryAlertStateStore } from './memory-store';
import { type AlertSeverity, type ChangeKind, type HostAlertState, higherSeverity, type Notification } from './model';
import { storedSilences } from './ports';
import { emailSubject } from './render';
import type { AlertSettings } from './settings';
import { parseDuration } from './silences';

/** Problems of an input line in the project's words (lambda/core/validation.ts). */
const SCENARIO_WORDING = { root: '(line)', unknownKey: 'unknown field' } as const;

const isoTime = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), 'an ISO-8601 time');

const findingSchema = z.strictObject({
  check: z.enum(CHECK_NAMES),
  severity: z.enum(['ok', 'warning', 'critical']),
  gpu: z.number().int().min(0).optional(),
  message: z.string(),
  reading: z.union([z.number(), z.string(), z.null()]).optional(),
  threshold: z.string().optional(),
});

const resultLine = z.strictObject({
  at: isoTime,
  host: z.string().min(1),
  task: z.enum(TASK_NAMES),
  findings: z.array(findingSchema),
  status: z.literal('failed').optional(),
});

const silenceLine = z.strictObject({
  at: isoTime,
  silence: z
    .strictObject({
      host: z.string().min(1),
      check: z.enum(CHECK_NAMES).optional(),
      until: isoTime.optional(),
      for: z.string().optional(),
      reason: z.string().default('simulated silence'),
    })
    .refine((s) => (s.until === undefined) !== (s.for === undefined), 'exactly one of until or for'),
});

const unsilenceLine = z.strictObject({
  at: isoTime,
  unsilence: z.strictObject({ host: z.string().min(1), check: z.enum(CHECK_NAMES).optional() }),
});

export type ScenarioEvent =
  | { readonly kind: 'result'; readonly line: number; readonly at: string; readonly result: TaskResult }
  | {
      readonly kind: 'silence';
      readonly line: number;
      readonly at: string;
      readonly host: string;
      readonly check?: CheckName;
      readonly until: string;
      readonly reason: string;
    }
  | { readonly kind: 'unsilence'; readonly line: number; readonly at: string; readonly host: string; readonly check?: CheckName };

/** Parses JSON lines; errors name the source, the line and what was expected. Blank lines and `#` comments are skipped. */
export function parseScenario(text: string, source = 'input'): ScenarioEvent[] {
  const events: ScenarioEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const where = `${source}:${i + 1}`;
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch (err) {
      throw new Error(`${where}: not JSON (${(err as Error).message})`);
    }
    const schema =
      data && typeof data === 'object' && 'silence' in data
        ? silenceLine
        : data && typeof data === 'object' && 'unsilence' in data
          ? unsilenceLine
          : resultLine;
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((x) => describeIssue(x, data, SCENARIO_WORDING)).join('; ');
      throw new Error(
        `${where}: ${issues} (a line is {"at", "host", "task", "findings": [{"check", "severity", "gpu"?, "message"}]} or {"at", "silence": {...}})`,
      );
    }
    const at = new Date((parsed.data as { at: string }).at).toISOString();
    if ('silence' in parsed.data) {
      const s = parsed.data.silence;
      let until: string;
      if (s.until !== undefined) until = new Date(s.until).toISOString();
      else {
        try {
          until = new Date(Date.parse(at) + parseDuration(s.for as string)).toISOString();
        } catch (err) {
          throw new Error(`${where}: silence.for: ${(err as Error).message}`);
        }
      }
      events.push({ kind: 'silence', line: i + 1, at, host: s.host, ...(s.check ? { check: s.check } : {}), until, reason: s.reason });
    } else if ('unsilence' in parsed.data) {
      const u = parsed.data.unsilence;
      events.push({ kind: 'unsilence', line: i + 1, at, host: u.host, ...(u.check ? { check: u.check } : {}) });
    } else {
      const r = parsed.data;
      const findings: Finding[] = r.findings.map((f) => ({ ...f }));
      const severities = findings.map((f) => f.severity);
      const status = r.status ?? (severities.includes('critical') ? 'critical' : severities.includes('warning') ? 'warning' : 'ok');
      events.push({
        kind: 'result',
        line: i + 1,
        at,
        result: { task: r.task as TaskName, host: r.host, status, at, findings, metrics: [] },
      });
    }
  }
  return events;
}

export interface SimulatedCheck {
  readonly check: CheckName;
  readonly gpu?: number;
  readonly change: ChangeKind;
  readonly severity: AlertSeverity;
  readonly message: string;
}

export interface SimulatedNotification {
  readonly at: string;
  readonly host: string;
  readonly status: 'firing' | 'resolved';
  readonly severity: AlertSeverity;
  readonly subject: string;
  readonly checks: readonly SimulatedCheck[];
}

/** One alert (host, check, gpu) from the evaluation it started firing to the one it cleared. */
export interface Incident {
  readonly host: string;
  readonly check: CheckName;
  readonly gpu?: number;
  readonly start: string;
  /** Absent while still firing at the end of the input. */
  readonly end?: string;
  readonly maxSeverity: AlertSeverity;
  /** Notifications that carried this alert, and what each said. */
  readonly notifications: number;
  readonly changes: readonly ChangeKind[];
}

export interface SimulationSummary {
  readonly evaluations: number;
  readonly hosts: number;
  readonly incidents: number;
  readonly notifications: number;
  /** Incidents never notified (e.g. cleared while silenced). */
  readonly unnotifiedIncidents: number;
  /** Incidents notified as flapping (each one FLAPPING and one RESOLVED instead of a fire/resolve pair per cycle). */
  readonly flappingIncidents: number;
  readonly notificationsPerIncident: { readonly min: number; readonly max: number; readonly mean: number };
  readonly openAtEnd: number;
}

export interface SimulationResult {
  readonly notifications: readonly SimulatedNotification[];
  readonly incidents: readonly Incident[];
  readonly summary: SimulationSummary;
}

interface MutableIncident {
  host: string;
  check: CheckName;
  gpu?: number;
  start: string;
  end?: string;
  maxSeverity: AlertSeverity;
  changes: ChangeKind[];
}

function toSimulated(n: Notification): SimulatedNotification {
  return {
    at: n.at,
    host: n.host,
    status: n.status,
    severity: n.severity,
    subject: emailSubject(n),
    checks: n.alerts.map((a) => ({
      check: a.check,
      ...(a.gpu !== undefined ? { gpu: a.gpu } : {}),
      change: a.change,
      severity: a.severity,
      message: a.message,
    })),
  };
}

/** Replays events in time order; the stale-host sweep runs every `sweepIntervalMinutes` of virtual time. */
export async function simulate(events: readonly ScenarioEvent[], settings: AlertSettings): Promise<SimulationResult> {
  const store = new MemoryAlertStateStore();
  const deps: AlertEngineDeps = { store, silences: storedSilences(store), settings };
  const ordered = [...events].sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.line - b.line);
  const notifications: SimulatedNotification[] = [];
  const incidents: MutableIncident[] = [];
  const latest = new Map<string, MutableIncident>();
  if (ordered.length === 0) return { notifications, incidents: [], summary: summarize([], 0, 0, 0) };

  const sweepMs = settings.sweepIntervalMinutes * 60_000;
  const firstMs = Date.parse(ordered[0].at);
  const lastMs = Date.parse(ordered[ordered.length - 1].at);
  let nextSweepMs = Math.floor(firstMs / sweepMs) * sweepMs + sweepMs;

  const track = async (step: () => Promise<Notification[]>, at: string): Promise<void> => {
    const before = store.snapshot();
    const sent = await step();
    const after = store.snapshot();
    for (const host of new Set([...before.keys(), ...after.keys()]))
      updateIncidents(host, before.get(host), after.get(host), at, incidents, latest);
    for (const n of sent) {
      notifications.push(toSimulated(n));
      for (const a of n.alerts) latest.get(`${n.host}|${a.check}|${a.gpu ?? ''}`)?.changes.push(a.change);
    }
  };
  const sweepUntil = async (limitMs: number, inclusive: boolean): Promise<void> => {
    while (inclusive ? nextSweepMs <= limitMs : nextSweepMs < limitMs) {
      const tick = new Date(nextSweepMs);
      await track(() => evaluateSweep(deps, tick), tick.toISOString());
      nextSweepMs += sweepMs;
    }
  };

  let evaluations = 0;
  for (const event of ordered) {
    await sweepUntil(Date.parse(event.at), false);
    const now = new Date(event.at);
    if (event.kind === 'silence') {
      await store.putSilence({
        host: event.host,
        ...(event.check ? { check: event.check } : {}),
        until: event.until,
        reason: event.reason,
        source: 'cli',
        createdAt: event.at,
      });
    } else if (event.kind === 'unsilence') {
      await store.deleteSilence(event.host, event.check);
    } else {
      evaluations++;
      await track(() => evaluateAlerts([event.result], deps, now), event.at);
    }
  }
  await sweepUntil(lastMs, true);

  const hosts = new Set(ordered.filter((e) => e.kind === 'result').map((e) => (e as { result: TaskResult }).result.host)).size;
  return { notifications, incidents: incidents.map(freeze), summary: summarize(incidents, notifications.length, evaluations, hosts) };
}

function freeze(i: MutableIncident): Incident {
  return {
    host: i.host,
    check: i.check,
    ...(i.gpu !== undefined ? { gpu: i.gpu } : {}),
    start: i.start,
    ...(i.end !== undefined ? { end: i.end } : {}),
    maxSeverity: i.maxSeverity,
    notifications: i.changes.length,
    changes: [...i.changes],
  };
}

function updateIncidents(
  host: string,
  before: HostAlertState | undefined,
  after: HostAlertState | undefined,
  at: string,
  incidents: MutableIncident[],
  latest: Map<string, MutableIncident>,
): void {
  const keys = new Set([...Object.keys(before?.alerts ?? {}), ...Object.keys(after?.alerts ?? {})]);
  for (const key of keys) {
    const b = before?.alerts[key];
    const a = after?.alerts[key];
    const wasFiring = b?.status === 'firing';
    const isFiring = a?.status === 'firing';
    const record = (a ?? b)!;
    const id = `${host}|${record.check}|${record.gpu ?? ''}`;
    const sameIncident = wasFiring && isFiring && b?.firingSince === a?.firingSince;
    if (wasFiring && !sameIncident) {
      const open = latest.get(id);
      if (open && open.end === undefined) open.end = at;
    }
    if (isFiring && !sameIncident) {
      const incident: MutableIncident = {
        host,
        check: a.check,
        ...(a.gpu !== undefined ? { gpu: a.gpu } : {}),
        start: a.firingSince ?? at,
        maxSeverity: a.severity,
        changes: [],
      };
      incidents.push(incident);
      latest.set(id, incident);
    } else if (isFiring) {
      const open = latest.get(id);
      if (open) open.maxSeverity = higherSeverity(open.maxSeverity, a.severity);
    }
  }
}

function summarize(incidents: readonly MutableIncident[], notifications: number, evaluations: number, hosts: number): SimulationSummary {
  const counts = incidents.map((i) => i.changes.length);
  return {
    evaluations,
    hosts,
    incidents: incidents.length,
    notifications,
    unnotifiedIncidents: counts.filter((c) => c === 0).length,
    flappingIncidents: incidents.filter((i) => i.changes.includes('flapping')).length,
    notificationsPerIncident: {
      min: counts.length ? Math.min(...counts) : 0,
      max: counts.length ? Math.max(...counts) : 0,
      mean: counts.length ? Math.round((counts.reduce((s, c) => s + c, 0) / counts.length) * 100) / 100 : 0,
    },
    openAtEnd: incidents.filter((i) => i.end === undefined).length,
  };
}
