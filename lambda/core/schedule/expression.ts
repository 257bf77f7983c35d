/**
 * EventBridge Scheduler expressions (`rate(...)`, `cron(...)`, `at(...)`) parsed into explicit value
 * sets, so that the same configured schedule can drive EventBridge in AWS and systemd timers or cron on
 * a single host. Pure: no clock, no I/O.
 *
 * EventBridge cron has six fields: minutes hours day-of-month month day-of-week year, day-of-week 1-7
 * meaning SUN-SAT, and exactly one of day-of-month / day-of-week must be `?`. `L`, `W` and `#` have no
 * portable equivalent in cron and are rejected with a message saying so.
 */

export class ScheduleExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleExpressionError';
  }
}

export type RateUnit = 'minute' | 'hour' | 'day';

export interface RateSchedule {
  readonly kind: 'rate';
  readonly value: number;
  readonly unit: RateUnit;
}

/** A field's allowed values; `all` when the field was `*` or `?` (unrestricted). */
export interface FieldSet {
  readonly all: boolean;
  /** Sorted, unique. With `all`, every value of the field's range. */
  readonly values: readonly number[];
}

export interface CronSchedule {
  readonly kind: 'cron';
  readonly minutes: FieldSet;
  readonly hours: FieldSet;
  readonly daysOfMonth: FieldSet;
  readonly months: FieldSet;
  /** 0 = Sunday … 6 = Saturday (converted from EventBridge's 1-7). */
  readonly daysOfWeek: FieldSet;
  readonly years: FieldSet;
}

export interface AtSchedule {
  readonly kind: 'at';
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

export type Schedule = RateSchedule | CronSchedule | AtSchedule;

interface FieldSpec {
  readonly label: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** Offset added to a name's index (months JAN = 1, days SUN = 1 in EventBridge). */
  readonly nameBase?: number;
  readonly questionMark?: boolean;
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const FIELDS: readonly FieldSpec[] = [
  { label: 'minutes', min: 0, max: 59 },
  { label: 'hours', min: 0, max: 23 },
  { label: 'day-of-month', min: 1, max: 31, questionMark: true },
  { label: 'month', min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 },
  { label: 'day-of-week', min: 1, max: 7, names: DAY_NAMES, nameBase: 1, questionMark: true },
  { label: 'year', min: 1970, max: 2199 },
];

function range(min: number, max: number, step = 1): number[] {
  const out: number[] = [];
  for (let v = min; v <= max; v += step) out.push(v);
  return out;
}

function parseValue(text: string, spec: FieldSpec, expression: string): number {
  const upper = text.toUpperCase();
  if (spec.names) {
    const index = spec.names.indexOf(upper);
    if (index >= 0) return index + (spec.nameBase ?? 0);
  }
  if (!/^\d+$/.test(text)) {
    if (/[LW#]/.test(upper)) {
      throw new ScheduleExpressionError(
        `${expression}: ${spec.label} value ${JSON.stringify(text)} uses L, W or #, which cron and systemd timers cannot express; use plain values, ranges and steps`,
      );
    }
    const expected = spec.names
      ? `${spec.min}-${spec.max} or ${spec.names[0]}-${spec.names[spec.names.length - 1]}`
      : `${spec.min}-${spec.max}`;
    throw new ScheduleExpressionError(`${expression}: ${spec.label} value ${JSON.stringify(text)} is not a number; expected ${expected}`);
  }
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new ScheduleExpressionError(`${expression}: ${spec.label} value ${value} is out of range ${spec.min}-${spec.max}`);
  }
  return value;
}

function parseField(text: string, spec: FieldSpec, expression: string): FieldSet {
  if (text === '?') {
    if (!spec.questionMark)
      throw new ScheduleExpressionError(`${expression}: ? is only allowed in day-of-month and day-of-week, not in ${spec.label}`);
    return { all: true, values: range(spec.min, spec.max) };
  }
  if (text === '*') return { all: true, values: range(spec.min, spec.max) };
  const values = new Set<number>();
  for (const part of text.split(',')) {
    if (part === '') throw new ScheduleExpressionError(`${expression}: empty item in ${spec.label} field ${JSON.stringify(text)}`);
    const [base, stepText, extra] = part.split('/');
    if (extra !== undefined)
      throw new ScheduleExpressionError(`${expression}: ${spec.label} item ${JSON.stringify(part)} has more than one /`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) {
        throw new ScheduleExpressionError(`${expression}: ${spec.label} step ${JSON.stringify(stepText)} must be a positive integer`);
      }
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (base === '*') {
      from = spec.min;
      to = spec.max;
    } else if (base.includes('-')) {
      const [a, b] = base.split('-');
      from = parseValue(a, spec, expression);
      to = parseValue(b, spec, expression);
      if (from > to) throw new ScheduleExpressionError(`${expression}: ${spec.label} range ${JSON.stringify(base)} runs backwards`);
    } else {
      from = parseValue(base, spec, expression);
      // Quartz style: `a/s` means a, a+s, … to the end of the field's range.
      to = stepText !== undefined ? spec.max : from;
    }
    for (const v of range(from, to, step)) values.add(v);
  }
  const sorted = [...values].sort((a, b) => a - b);
  return { all: sorted.length === spec.max - spec.min + 1, values: sorted };
}

function parseCron(body: string, expression: string): CronSchedule {
  const parts = body.trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new ScheduleExpressionError(
      `${expression}: cron() needs 6 fields (minutes hours day-of-month month day-of-week year), got ${parts.length}`,
    );
  }
  const [minutes, hours, dom, months, dow, years] = parts.map((p, i) => parseField(p, FIELDS[i], expression));
  const domQ = parts[2] === '?';
  const dowQ = parts[4] === '?';
  if (domQ === dowQ) {
    throw new ScheduleExpressionError(`${expression}: exactly one of day-of-month and day-of-week must be ?, as EventBridge requires`);
  }
  return {
    kind: 'cron',
    minutes,
    hours,
    daysOfMonth: domQ ? { all: true, values: range(1, 31) } : dom,
    months,
    // EventBridge counts SUN = 1 … SAT = 7; everything else here uses SUN = 0.
    daysOfWeek: dowQ ? { all: true, values: range(0, 6) } : { all: dow.all, values: dow.values.map((d) => d - 1) },
    years,
  };
}

function parseRate(body: string, expression: string): RateSchedule {
  const m = /^\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*$/.exec(body);
  if (!m) throw new ScheduleExpressionError(`${expression}: expected rate(<n> minute(s)|hour(s)|day(s)), e.g. rate(5 minutes)`);
  const value = Number(m[1]);
  if (value < 1) throw new ScheduleExpressionError(`${expression}: the rate must be at least 1`);
  const plural = m[2].endsWith('s');
  if ((value === 1) === plural) {
    // EventBridge rejects rate(1 hours) and rate(5 hour); failing here keeps local and AWS schedules alike.
    throw new ScheduleExpressionError(
      `${expression}: use the singular unit for 1 and the plural otherwise, e.g. rate(1 hour), rate(5 minutes)`,
    );
  }
  return { kind: 'rate', value, unit: m[2].replace(/s$/, '') as RateUnit };
}

function parseAt(body: string, expression: string): AtSchedule {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(body.trim());
  if (!m) throw new ScheduleExpressionError(`${expression}: expected at(yyyy-mm-ddThh:mm:ss)`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const check = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new ScheduleExpressionError(`${expression}: ${body.trim()} is not a valid date and time`);
  }
  return { kind: 'at', year, month, day, hour, minute, second };
}

/** Parses an EventBridge Scheduler expression. @throws ScheduleExpressionError naming the expression and the problem. */
export function parseScheduleExpression(expression: string): Schedule {
  const m = /^(rate|cron|at)\((.*)\)$/.exec(expression.trim());
  if (!m) throw new ScheduleExpressionError(`${JSON.stringify(expression)}: expected rate(...), cron(...) or at(...)`);
  const [, kind, body] = m;
  if (kind === 'rate') return parseRate(body, expression);
  if (kind === 'cron') return parseCron(body, expression);
  return parseAt(body, expression);
}

/** Rate length in seconds. */
export function rateSeconds(rate: RateSchedule): number {
  return rate.value * { minute: 60, hour: 3600, day: 86400 }[rate.unit];
}

export interface Compressed {
  readonly kind: 'all' | 'single' | 'range' | 'step' | 'list';
  readonly values: readonly number[];
  readonly from?: number;
  readonly to?: number;
  readonly step?: number;
}

/**
 * Describes a value set in the most compact form both cron and systemd can write: everything, one
 * value, a contiguous range, `start/step` to the end of the range, or a list.
 */
export function compressField(set: FieldSet, max: number): Compressed {
  const v = set.values;
  if (set.all) return { kind: 'all', values: v };
  if (v.length === 1) return { kind: 'single', values: v, from: v[0], to: v[0] };
  const step = v[1] - v[0];
  const arithmetic = v.every((x, i) => i === 0 || x - v[i - 1] === step);
  if (arithmetic && step === 1) return { kind: 'range', values: v, from: v[0], to: v[v.length - 1] };
  if (arithmetic && v.length >= 3 && v[v.length - 1] + step > max) {
    return { kind: 'step', values: v, from: v[0], to: v[v.length - 1], step };
  }
  return { kind: 'list', values: v };
}
