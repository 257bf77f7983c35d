/** Builders shared by the remediation tests: settings, proposals, facts. */
import type { ConfigInput } from '../../lambda/config/schema';
import {
  type HostFacts,
  type Proposal,
  type ProposedCause,
  type RemediationSettings,
  remediationSettings,
} from '../../lambda/core/remediation/model';
import { parseConfigForTest } from '../helpers/config';

export const T0 = Date.parse('2026-11-28T00:00:00Z');
export const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();
export const date = (minutes: number): Date => new Date(T0 + minutes * 60_000);

/** Settings with remediation on and live, over the given config block. */
export function settingsFor(remediation: NonNullable<ConfigInput['remediation']> = {}, extra: ConfigInput = {}): RemediationSettings {
  return remediationSettings(parseConfigForTest({ ...extra, remediation: { enabled: true, dryRun: false, ...remediation } }));
}

export function cause(key: string, minutes: number, overrides: Partial<ProposedCause> = {}): ProposedCause {
  return {
    key,
    check: 'gpu.xid',
    action: 'reboot',
    confirmations: 1,
    evidence: `${key} seen`,
    seen: 1,
    lastSeenAt: at(minutes),
    ...overrides,
  };
}

export function proposal(host: string, minutes: number, causes: ProposedCause[] = [cause('xid-79', minutes)]): Proposal {
  return { host, causes, firstSeenAt: at(minutes), lastSeenAt: at(minutes) };
}

export const ec2: HostFacts = { excluded: false, exists: true, replaceBy: 'asg' };

export function factsFor(hosts: readonly string[], facts: HostFacts = ec2): Map<string, HostFacts> {
  return new Map(hosts.map((h) => [h, facts]));
}
