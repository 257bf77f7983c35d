/**
 * Schedules as systemd timers: EventBridge expressions → `OnCalendar=` (or monotonic timers for rates
 * that do not divide an hour or a day), and service + timer unit files that run the gpu-maint CLI.
 */
import { type CronSchedule, compressField, type FieldSet, parseScheduleExpression, rateSeconds, type Schedule } from './expression';
import type { ScheduledJob } from './jobs';

const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

function calendarField(set: FieldSet, max: number, format: (n: number) => string = pad2): string {
  const c = compressField(set, max);
  switch (c.kind) {
    case 'all':
      return '*';
    case 'single':
      return format(c.from!);
    case 'range':
      return `${format(c.from!)}..${format(c.to!)}`;
    case 'step':
      return `${format(c.from!)}/${c.step}`;
    default:
      return c.values.map(format).join(',');
  }
}

function weekdays(set: FieldSet): string {
  if (set.all) return '';
  const c = compressField(set, 6);
  if (c.kind === 'range') return `${DAY_NAMES[c.from!]}..${DAY_NAMES[c.to!]}`;
  return set.values.map((d) => DAY_NAMES[d]).join(',');
}

function cronCalendar(s: CronSchedule, timeZone: string): string {
  const dow = weekdays(s.daysOfWeek);
  const date = `${calendarField(s.years, 2199, String)}-${calendarField(s.months, 12)}-${calendarField(s.daysOfMonth, 31)}`;
  const time = `${calendarField(s.hours, 23)}:${calendarField(s.minutes, 59)}:00`;
  return `${dow ? `${dow} ` : ''}${date} ${time} ${timeZone}`;
}

/** How a timer fires: a calendar expression, or a fixed interval (monotonic) for rates that do not align. */
export type TimerTrigger =
  | { readonly kind: 'calendar'; readonly onCalendar: string; readonly persistent: boolean }
  | { readonly kind: 'interval'; readonly seconds: number };

/**
 * Converts a parsed schedule. Cron and at() schedules are evaluated in `timeZone` (an IANA name, as
 * EventBridge does); rates are time-zone free.
 */
export function timerTrigger(schedule: Schedule, timeZone: string): TimerTrigger {
  if (schedule.kind === 'cron') return { kind: 'calendar', onCalendar: cronCalendar(schedule, timeZone), persistent: true };
  if (schedule.kind === 'at') {
    const { year, month, day, hour, minute, second } = schedule;
    return {
      kind: 'calendar',
      onCalendar: `${year}-${pad2(month)}-${pad2(day)} ${pad2(hour)}:${pad2(minute)}:${pad2(second)} ${timeZone}`,
      persistent: true,
    };
  }
  const { value, unit } = schedule;
  // Missed rate runs are not caught up after downtime (Persistent=false): the next one comes soon anyway.
  if (unit === 'minute' && 60 % value === 0) {
    return { kind: 'calendar', onCalendar: value === 1 ? '*-*-* *:*:00' : `*-*-* *:00/${value}:00`, persistent: false };
  }
  if (unit === 'hour' && 24 % value === 0) {
    return { kind: 'calendar', onCalendar: value === 1 ? '*-*-* *:00:00' : `*-*-* 00/${value}:00:00`, persistent: false };
  }
  if (unit === 'day' && value === 1) return { kind: 'calendar', onCalendar: '*-*-* 00:00:00', persistent: true };
  return { kind: 'interval', seconds: rateSeconds(schedule) };
}

/** `OnCalendar=` value for an expression, or null when it needs an interval timer. */
export function toOnCalendar(expression: string, timeZone: string): string | null {
  const trigger = timerTrigger(parseScheduleExpression(expression), timeZone);
  return trigger.kind === 'calendar' ? trigger.onCalendar : null;
}

/**
 * Quotes one ExecStart argument: `%` and `$` are systemd specifiers/variables, so they are doubled;
 * arguments with blanks or quotes are double-quoted with C-style escapes.
 */
export function quoteExecArg(arg: string): string {
  if (/[\n\r\0]/.test(arg)) throw new Error(`a systemd ExecStart argument cannot contain a newline or NUL: ${JSON.stringify(arg)}`);
  const escaped = arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (escaped !== '' && /^[A-Za-z0-9_@%+=:,./$-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export interface UnitFile {
  /** File name, e.g. `gpu-maint-cleanup.timer`. */
  readonly name: string;
  readonly content: string;
}

export interface SystemdRenderOptions {
  /** Absolute command that starts the CLI with its global options, e.g. [node, /opt/gpu-maint/bin/gpu-maint.cjs, --config, /etc/gpu-maint.yaml]. */
  readonly command: readonly string[];
  /** IANA time zone of cron/at schedules (config `timeZone`). */
  readonly timeZone: string;
  /** Prefix of unit names. @default 'gpu-maint' */
  readonly unitPrefix?: string;
  /** Documentation= URL or path shown by `systemctl status`. */
  readonly documentation?: string;
}

export function unitBaseName(job: ScheduledJob, prefix = 'gpu-maint'): string {
  return `${prefix}-${job.id}`;
}

/** Service and timer unit for each job; every expression is validated first (throws on the first bad one). */
export function systemdUnits(jobs: readonly ScheduledJob[], options: SystemdRenderOptions): UnitFile[] {
  if (options.command.length === 0 || !options.command[0].startsWith('/')) {
    throw new Error(`the command must start with an absolute executable path, got: ${JSON.stringify(options.command[0] ?? '')}`);
  }
  const prefix = options.unitPrefix ?? 'gpu-maint';
  const files: UnitFile[] = [];
  for (const job of jobs) {
    const base = unitBaseName(job, prefix);
    const trigger = timerTrigger(parseScheduleExpression(job.expression), options.timeZone);
    const exec = [...options.command, ...job.args].map(quoteExecArg).join(' ');
    const service = [
      '# Generated by `gpu-maint schedule --systemd`; regenerate instead of editing.',
      '[Unit]',
      `Description=gpu-maint ${job.id}: ${job.description}`,
      ...(options.documentation ? [`Documentation=${options.documentation}`] : []),
      'Wants=network-online.target',
      'After=network-online.target',
      // A failed run (exit 1: the task could not run; findings exit 0) is reported by the failure unit.
      `OnFailure=${prefix}-failure@%n.service`,
      '',
      '[Service]',
      'Type=oneshot',
      `ExecStart=${exec}`,
      `TimeoutStartSec=${job.timeoutSeconds}s`,
      ...(job.background ? ['Nice=10', 'IOSchedulingClass=idle'] : []),
      ...sandbox(job.writePaths ?? []),
      '',
    ].join('\n');
    const timerLines =
      trigger.kind === 'calendar'
        ? [`OnCalendar=${trigger.onCalendar}`, `Persistent=${trigger.persistent}`]
        : [`OnActiveSec=${trigger.seconds}s`, `OnUnitActiveSec=${trigger.seconds}s`];
    const timer = [
      '# Generated by `gpu-maint schedule --systemd`; regenerate instead of editing.',
      '[Unit]',
      `Description=gpu-maint ${job.id} on ${job.expression}${trigger.kind === 'calendar' && !job.expression.startsWith('rate(') ? ` (${options.timeZone})` : ''}`,
      ...(options.documentation ? [`Documentation=${options.documentation}`] : []),
      '',
      '[Timer]',
      ...timerLines,
      ...(job.flexibleWindowMinutes > 0 ? [`RandomizedDelaySec=${job.flexibleWindowMinutes}min`] : []),
      `Unit=${base}.service`,
      '',
      '[Install]',
      'WantedBy=timers.target',
      '',
    ].join('\n');
    files.push({ name: `${base}.service`, content: service }, { name: `${base}.timer`, content: timer });
  }
  if (files.length) files.push(failureUnit(options, prefix));
  return files;
}

/**
 * Sandboxing of every task unit (systemd.exec(5)): the state lives in StateDirectory= (as root:
 * /var/lib/gpu-maint, passed as $STATE_DIRECTORY, which local mode uses for the default
 * local.stateDir); the system is read-only (ProtectSystem=strict) and homes read-only
 * (ProtectHome=read-only) except the paths the task writes (ReadWritePaths=, `-`: a path that does not
 * exist is skipped); its own /tmp; no privilege gain. Devices stay visible: gpu-check needs
 * /dev/nvidia*, so no PrivateDevices=; dmesg reads /dev/kmsg, so no ProtectKernelLogs=; node's JIT needs
 * writable executable memory, so no MemoryDenyWriteExecute=; cleanup deletes files of every user, so
 * the capability set stays root's. Textfiles are world-readable for node_exporter (UMask=0022,
 * StateDirectoryMode=0755).
 */
function sandbox(writePaths: readonly string[]): string[] {
  return [
    'StateDirectory=gpu-maint',
    'StateDirectoryMode=0755',
    'UMask=0022',
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    ...(writePaths.length ? [`ReadWritePaths=${writePaths.map((p) => `-${quoteExecArg(p)}`).join(' ')}`] : []),
    'PrivateTmp=true',
    'NoNewPrivileges=true',
    'ProtectKernelTunables=true',
    'ProtectKernelModules=true',
    'ProtectControlGroups=true',
    'ProtectClock=true',
    'ProtectHostname=true',
    'RestrictSUIDSGID=true',
    'RestrictRealtime=true',
    'LockPersonality=true',
    'RestrictNamespaces=true',
    'SystemCallArchitectures=native',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
  ];
}

/**
 * The OnFailure= handler: `gpu-maint alerts unit-failed <unit>` sends a task.failed alert for the
 * failed unit through the configured local alerting (terminal log, webhook), as a result would.
 */
function failureUnit(options: SystemdRenderOptions, prefix: string): UnitFile {
  const exec = [...options.command, 'alerts', 'unit-failed'].map(quoteExecArg).join(' ');
  const content = [
    '# Generated by `gpu-maint schedule --systemd`; regenerate instead of editing.',
    '[Unit]',
    'Description=gpu-maint: report the failed unit %i',
    ...(options.documentation ? [`Documentation=${options.documentation}`] : []),
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${exec} %i`,
    'TimeoutStartSec=2min',
    ...sandbox([]),
    '',
  ].join('\n');
  return { name: `${prefix}-failure@.service`, content };
}

/** Name of the kernel-log watcher's service unit (`gpu-maint watch`, or scripts/gpu-watch.sh on fleet hosts). */
export const WATCH_UNIT = 'gpu-maint-watch.service';

/**
 * What keeps the watcher running and confined, in both of its units: restarted whenever it ends, with no
 * start-rate limit that would leave the host unwatched; CPU, memory and task limits (an Xid storm must not
 * take a core from the training job); a sandbox that reads the kernel log and writes only the state dir.
 * Devices: none but /dev/kmsg (read; `dmesg -w` where there is no journal) and systemd's pseudo devices
 * (DevicePolicy=closed), rather than PrivateDevices=, which would hide /dev/kmsg.
 * Directives: systemd.service(5), systemd.resource-control(5), systemd.exec(5).
 */
function watchServiceLines(stateDir: string): string[] {
  return [
    'Restart=always',
    'RestartSec=5s',
    'CPUQuota=20%',
    'MemoryMax=256M',
    'TasksMax=64',
    'Nice=5',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    `ReadWritePaths=${quoteExecArg(stateDir)}`,
    'ProtectHome=read-only',
    'PrivateTmp=yes',
    'DevicePolicy=closed',
    'DeviceAllow=/dev/kmsg r',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RestrictRealtime=yes',
    'SystemCallArchitectures=native',
  ];
}

/** A watcher unit: its head, the service's own lines (how it starts), then the shared limits and sandbox. */
function renderWatchUnit(
  comment: string,
  description: string,
  documentation: string | undefined,
  start: string[],
  stateDir: string,
): UnitFile {
  const content = [
    comment,
    '[Unit]',
    `Description=${description}`,
    ...(documentation ? [`Documentation=${documentation}`] : []),
    'After=systemd-journald.service network-online.target',
    'Wants=network-online.target',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=simple',
    ...start,
    ...watchServiceLines(stateDir),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  return { name: WATCH_UNIT, content };
}

/**
 * The long-running service of `gpu-maint watch`. It runs as root because the kernel log and the state of the
 * scheduled gpu-check are root's; the sandbox, not the user, confines it.
 */
export function watcherUnit(options: Omit<SystemdRenderOptions, 'timeZone' | 'unitPrefix'> & { readonly stateDir: string }): UnitFile {
  if (options.command.length === 0 || !options.command[0].startsWith('/')) {
    throw new Error(`the command must start with an absolute executable path, got: ${JSON.stringify(options.command[0] ?? '')}`);
  }
  if (!options.stateDir.startsWith('/'))
    throw new Error(`the state dir must be an absolute path, got: ${JSON.stringify(options.stateDir)}`);
  return renderWatchUnit(
    '# Generated by `gpu-maint schedule --systemd`; regenerate instead of editing.',
    'gpu-maint watch: NVIDIA Xid errors from the kernel log, alerted within seconds',
    options.documentation,
    [`ExecStart=${[...options.command, 'watch'].map(quoteExecArg).join(' ')}`],
    options.stateDir,
  );
}

export interface HostWatcherUnitOptions {
  /** Absolute path of the bundled scripts/gpu-watch.sh on the host. */
  readonly scriptPath: string;
  /** GPU_MAINT_STATE_DIR, the one writable path (gpu-check's state dir: the watcher reads its GPUs seen). */
  readonly stateDir: string;
  /** GPU_MAINT_WATCH_* settings of the script (e.g. GPU_MAINT_WATCH_EVENT_BUS), put in Environment= lines. */
  readonly environment: Readonly<Record<string, string>>;
  readonly documentation?: string;
}

/**
 * The watcher's unit on fleet hosts in AWS, installed by the State Manager association
 * (lib/constructs/watcher-association.ts): runs the bundled script with bash, no Node.js needed, its events
 * put on the stack's event bus.
 */
export function hostWatcherUnit(options: HostWatcherUnitOptions): UnitFile {
  for (const [label, p] of [
    ['script path', options.scriptPath],
    ['state dir', options.stateDir],
  ] as const) {
    if (!/^\/[A-Za-z0-9._/-]+$/.test(p))
      throw new Error(`the ${label} must be an absolute path of letters, digits and . _ / -, got: ${JSON.stringify(p)}`);
  }
  const environment: string[] = [];
  for (const [name, value] of Object.entries({ GPU_MAINT_STATE_DIR: options.stateDir, ...options.environment })) {
    if (!/^GPU_MAINT_[A-Z0-9_]+$/.test(name)) throw new Error(`environment names must be GPU_MAINT_*, got: ${JSON.stringify(name)}`);
    // No quoting needed, and none possible to get wrong: values are single words.
    if (!/^[^\s"'\\%]+$/.test(value))
      throw new Error(`environment value of ${name} must be one word without quotes or %, got: ${JSON.stringify(value)}`);
    environment.push(`Environment=${name}=${value}`);
  }
  return renderWatchUnit(
    '# Installed by the gpu-maint State Manager association; re-applied by it, so edits do not last.',
    'gpu-maint watch: NVIDIA Xid errors from the kernel log, put on the event bus within seconds',
    options.documentation,
    [...environment, `ExecStart=/bin/bash ${quoteExecArg(options.scriptPath)}`],
    options.stateDir,
  );
}
