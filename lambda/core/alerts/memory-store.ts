/**
 * Alert state and silences in memory, with the same version check as the real stores: the simulator's
 * store, and the reference the file and DynamoDB adapters are tested against.
 */
import type { CheckName } from '../types';
import { emptyHostState, type HostAlertState, type Silence } from './model';
import { AlertStateConflictError, type AlertStateStore, type HostSummary, type SilenceStore } from './ports';

export function hostSummaryOf(state: HostAlertState): HostSummary {
  const withheld = Object.values(state.alerts).some((a) => a.silenced === true);
  return {
    host: state.host,
    ...(state.lastSeen['gpu-check'] !== undefined ? { lastGpuCheckAt: state.lastSeen['gpu-check'] } : {}),
    ...(withheld ? { withheld } : {}),
  };
}

/** Throws unless `next` is `previous` one version on, for the same host. */
export function assertNextVersion(previous: HostAlertState, next: HostAlertState): void {
  if (next.host !== previous.host || next.version !== previous.version + 1) {
    throw new Error(`alert state save of ${next.host} v${next.version} does not follow ${previous.host} v${previous.version}`);
  }
}

export class MemoryAlertStateStore implements AlertStateStore, SilenceStore {
  private readonly hosts = new Map<string, HostAlertState>();
  private readonly silences = new Map<string, Silence>();

  async load(host: string): Promise<HostAlertState> {
    return structuredClone(this.hosts.get(host) ?? emptyHostState(host));
  }

  async save(previous: HostAlertState, next: HostAlertState): Promise<void> {
    assertNextVersion(previous, next);
    const stored = this.hosts.get(previous.host)?.version ?? 0;
    if (stored !== previous.version) throw new AlertStateConflictError(previous.host, `stored v${stored}, loaded v${previous.version}`);
    this.hosts.set(next.host, structuredClone(next));
  }

  async listHosts(): Promise<readonly HostSummary[]> {
    return [...this.hosts.values()].map(hostSummaryOf);
  }

  async putSilence(silence: Silence): Promise<void> {
    this.silences.set(silenceId(silence.host, silence.check), { ...silence });
  }

  async deleteSilence(host: string, check?: CheckName): Promise<boolean> {
    return this.silences.delete(silenceId(host, check));
  }

  async listSilences(host?: string): Promise<readonly Silence[]> {
    return [...this.silences.values()].filter((s) => host === undefined || s.host === host);
  }

  /** All states, for the simulator's incident accounting. */
  snapshot(): ReadonlyMap<string, HostAlertState> {
    return new Map(this.hosts);
  }
}

/** One silence per (host, check or whole host): a new one replaces the old. */
export function silenceId(host: string, check?: CheckName): string {
  return `${host}|${check ?? '*'}`;
}
