/** The weekly maintenance window of remediation.maintenanceWindow, in the configured time zone. */
import type { RemediationSettings } from './model';

type Window = NonNullable<RemediationSettings['maintenanceWindow']>;
type Day = Window['days'][number];

const DAYS: readonly Day[] = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

/** Weekday and minute of the day of `at` in `timeZone` (an IANA name; an unknown one throws, naming it). */
export function localTime(at: Date, timeZone: string): { day: Day; minute: number } {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).formatToParts(at);
  } catch {
    throw new Error(`timeZone ${JSON.stringify(timeZone)}: expected an IANA time zone such as Europe/Berlin`);
  }
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return { day: get('weekday') as Day, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

/**
 * True when `at` falls inside the window. A window whose end is before its start runs past midnight and
 * belongs to the day it opens: `Sat 22:00-02:00` includes Sunday 01:00.
 */
export function inMaintenanceWindow(at: Date, window: Window | undefined, timeZone: string): boolean {
  if (!window) return true;
  const { day, minute } = localTime(at, timeZone);
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  if (start < end) return window.days.includes(day) && minute >= start && minute < end;
  const yesterday = DAYS[(DAYS.indexOf(day) + 6) % 7];
  return (window.days.includes(day) && minute >= start) || (window.days.includes(yesterday) && minute < end);
}
