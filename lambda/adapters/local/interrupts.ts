/**
 * Ctrl-C and friends in local mode. The CLI turns SIGINT, SIGTERM and SIGHUP into an interrupt request
 * instead of dying: the running task script (its own process group) gets the same signal and stops at a
 * safe point (cleanup finishes the deletion under way and deletes nothing more; other scripts exit and
 * their exit handlers release locks and remove temp files). A second signal, or a script that is still
 * running after the grace period, ends the script's whole process tree with SIGKILL.
 */
import { readdirSync, readFileSync } from 'node:fs';

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

export const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Shell convention: 128 + the signal number. */
export const SIGNAL_EXIT_CODES: Readonly<Record<StopSignal, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

export type InterruptListener = (signal: StopSignal, count: number) => void;

export class Interrupts {
  /** The first signal received, or null. */
  signal: StopSignal | null = null;
  /** Signals received so far. */
  count = 0;
  private readonly listeners = new Set<InterruptListener>();

  raise(signal: StopSignal): void {
    this.signal ??= signal;
    this.count++;
    for (const listener of [...this.listeners]) listener(signal, this.count);
  }

  subscribe(listener: InterruptListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Routes the process's stop signals here (instead of Node's default: die at once); returns the uninstaller. */
  install(proc: NodeJS.Process = process): () => void {
    const handlers = STOP_SIGNALS.map((signal) => {
      const handler = () => this.raise(signal);
      proc.on(signal, handler);
      return [signal, handler] as const;
    });
    return () => {
      for (const [signal, handler] of handlers) proc.off(signal, handler);
    };
  }
}

/** Pids of every descendant of `root` (Linux /proc; empty elsewhere). */
export function descendantPids(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * SIGKILLs a script's process group and every descendant (probes under `timeout` run in process groups
 * of their own), so that nothing of the script outlives it.
 */
export function killScriptTree(pid: number): void {
  const descendants = descendantPids(pid);
  for (const target of [-pid, pid, ...descendants]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
