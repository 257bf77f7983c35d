/**
 * Ports of the alert policy. Adapters: a JSON file locally (lambda/adapters/local/alert-state-file.ts),
 * DynamoDB in AWS (lambda/adapters/aws/alert-state-dynamodb.ts), SNS or the terminal for notifications,
 * EC2 instance tags for tag silences. The in-memory store (./memory-store.ts) serves the simulator.
 */
import type { CheckName } from '../types';
import type { HostAlertState, Notification, Silence } from './model';

/**
 * Thrown by {@link AlertStateStore.save} when the stored version is not the one that was loaded:
 * another collector evaluated the host meanwhile. The caller re-reads and evaluates again.
 */
export class AlertStateConflictError extends Error {
  constructor(
    readonly host: string,
    detail: string,
  ) {
    super(`alert state of ${host} changed while it was being evaluated (${detail})`);
    this.name = 'AlertStateConflictError';
  }
}

/** Key schema of the DynamoDB alert table, shared by its construct and its adapter. */
export const ALERT_TABLE_KEYS = {
  partitionKey: 'host',
  sortKey: 'sk',
  ttl: 'expiresAt',
  hostsIndex: 'hosts',
  hostsIndexKey: 'kind',
} as const;

/**
 * Shards of the sparse `hosts` index: every evaluation rewrites its host item, and with one index key
 * value all of them land in one index partition (DynamoDB allows 1,000 write units per second per
 * partition: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html).
 * A host's items carry `host#<shard>`, the shard a hash of its name; the sweep queries every shard.
 */
export const HOSTS_INDEX_SHARDS = 16;

/** The `hosts` index key value of a host: `host#0` ... `host#15`, stable for a host. */
export function hostsIndexShard(host: string): string {
  let h = 2166136261;
  for (let i = 0; i < host.length; i++) h = Math.imul(h ^ host.charCodeAt(i), 16777619) >>> 0;
  return `host#${h % HOSTS_INDEX_SHARDS}`;
}

/** Every `hosts` index key value to query, with `host` (items written before the index was sharded). */
export const HOSTS_INDEX_KEY_VALUES: readonly string[] = ['host', ...Array.from({ length: HOSTS_INDEX_SHARDS }, (_, i) => `host#${i}`)];

export interface HostSummary {
  readonly host: string;
  /** Time of the host's latest gpu-check result; absent when it never reported one. */
  readonly lastGpuCheckAt?: string;
  /** Some alert of the host is firing with a notification withheld by a silence (the sweep re-checks it). */
  readonly withheld?: boolean;
}

export interface AlertStateStore {
  /** The host's state; `emptyHostState(host)` (version 0) when none is stored. */
  load(host: string): Promise<HostAlertState>;
  /**
   * Replaces `previous` (as loaded) with `next`; `next.version` must be `previous.version + 1`.
   * Throws {@link AlertStateConflictError} when the stored version is no longer `previous.version`.
   */
  save(previous: HostAlertState, next: HostAlertState): Promise<void>;
  /** Every host with stored state, for the stale-host sweep. */
  listHosts(): Promise<readonly HostSummary[]>;
}

export interface SilenceStore {
  putSilence(silence: Silence): Promise<void>;
  /** Removes the host's silence for `check` (or its host-wide silence when check is undefined); false when there was none. */
  deleteSilence(host: string, check?: CheckName): Promise<boolean>;
  /** Stored silences, of one host or all; expired ones may be included (callers compare `until`). */
  listSilences(host?: string): Promise<readonly Silence[]>;
}

/** Silences in force for a host, whatever their source (stored, instance tag). */
export interface SilenceSource {
  activeSilences(host: string, now: Date): Promise<readonly Silence[]>;
}

export interface Notifier {
  /** Delivers one notification; throws when it could not (the engine parks it for the next evaluation). */
  send(notification: Notification): Promise<void>;
}

/** Silences from a store, filtered to those still in force. */
export function storedSilences(store: SilenceStore): SilenceSource {
  return {
    async activeSilences(host, now) {
      return (await store.listSilences(host)).filter((s) => s.host === host && Date.parse(s.until) > now.getTime());
    },
  };
}

/** Merges several sources (e.g. stored silences and instance tags). */
export function combinedSilences(...sources: readonly SilenceSource[]): SilenceSource {
  return {
    async activeSilences(host, now) {
      const lists = await Promise.all(sources.map((s) => s.activeSilences(host, now)));
      return lists.flat();
    },
  };
}
