/**
 * Which findings are remediable, and how: a pure table over the check vocabulary of gpu-check and NVIDIA's
 * recommended action per Xid (./../gpu/xid-catalog.ts). Only critical findings qualify; everything else stays
 * a notification. The rung each calls for:
 *
 * | finding | cause key | rung | confirmations |
 * |---|---|---|---|
 * | gpu.xid, code whose action is RESTART_BM / RESTART_VM / RESET_GPU / WORKFLOW_XID_48 / NVLink workflows (e.g. 79 fell off the bus, 48 DBE, 95 uncontained ECC, 119/120 GSP) | `xid-<code>` | reboot (a reboot resets every GPU; EC2 offers no per-GPU reset) | 1 |
 * | gpu.xid, CHECK_MECHANICALS (54: power/cooling) | `xid-<code>` | replace (on EC2 the hardware is not ours to fix) | 1 |
 * | gpu.xid, UNEXPECTED_ERR_REPORT_ISSUE | `xid-<code>` | tag (a human collects a bug report before anything resets the evidence) | 1 |
 * | gpu.xid, recovery action "reboot" / "reset" | `recovery-<action>` | reboot | 1 |
 * | gpu.count critical (GPU gone, outside boot grace) | `gpu-count-lost` | reboot | 2 |
 * | gpu.unresponsive critical (nvidia-smi wedged or a GPU lost) | `gpu-unresponsive` | reboot | 2 |
 * | gpu.ecc critical (uncorrectable volatile ECC: reset needed) | `ecc-uncorrectable` | reboot | 1 |
 * | gpu.row-remap critical (remapping failed, no spare rows) | `row-remap-failure` | replace | 1 |
 *
 * Xid events are reported once per incident (the kernel log cursor), so their proposal is the evidence;
 * gauges that can be briefly wrong (a GPU count right after a driver reload, one hung nvidia-smi call) need
 * a second consecutive result. Sources: NVIDIA's Xid catalog (docs.nvidia.com/deploy/xid-errors) and the
 * NVSentinel mapping the catalog is copied from; row-remap failure: docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt
 * ("the GPU should be ... replaced").
 */
import { XID_CATALOG, type XidAction, xidSeverity } from '../gpu/xid-catalog';
import type { Finding, TaskResult } from '../types';
import { type Cause, higherAction, type Proposal, type ProposedCause, type RemediationAction } from './model';

/** Rung per NVIDIA recommended action; absent: not remediable (the application's fault, or informational). */
const XID_ACTION_RUNG: Readonly<Partial<Record<XidAction, RemediationAction>>> = {
  RESTART_BM: 'reboot',
  RESTART_VM: 'reboot',
  RESET_GPU: 'reboot',
  WORKFLOW_XID_48: 'reboot',
  WORKFLOW_NVLINK_ERR: 'reboot',
  WORKFLOW_NVLINK5_ERR: 'reboot',
  CHECK_MECHANICALS: 'replace',
  UNEXPECTED_ERR_REPORT_ISSUE: 'tag',
};

function gpuOf(f: Finding): { gpu?: number } {
  return f.gpu !== undefined ? { gpu: f.gpu } : {};
}

function xidCauses(f: Finding): Cause[] {
  const reading = f.reading;
  if (typeof reading === 'string' && !/^\d+(,\d+)*$/.test(reading)) {
    // The driver's own recovery action (nvidia-smi gpu_recovery_action).
    if (!/reset|reboot/i.test(reading)) return [];
    const name = reading
      .trim()
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-');
    return [{ key: `recovery-${name}`, check: f.check, ...gpuOf(f), action: 'reboot', confirmations: 1, evidence: f.message }];
  }
  const codes = String(reading ?? '')
    .split(',')
    .filter((c) => /^\d+$/.test(c))
    .map(Number);
  const out: Cause[] = [];
  for (const code of new Set(codes)) {
    const entry = XID_CATALOG.get(code);
    const rung = entry ? XID_ACTION_RUNG[entry.action] : undefined;
    // Each code on its own merits: a warning code grouped with a critical one in the finding stays a warning.
    if (!rung || xidSeverity(code) !== 'critical') continue;
    out.push({ key: `xid-${code}`, check: f.check, ...gpuOf(f), action: rung, confirmations: 1, evidence: f.message });
  }
  return out;
}

const CHECK_CAUSES: Readonly<Partial<Record<Finding['check'], { key: string; action: RemediationAction; confirmations: number }>>> = {
  'gpu.count': { key: 'gpu-count-lost', action: 'reboot', confirmations: 2 },
  'gpu.unresponsive': { key: 'gpu-unresponsive', action: 'reboot', confirmations: 2 },
  'gpu.ecc': { key: 'ecc-uncorrectable', action: 'reboot', confirmations: 1 },
  'gpu.row-remap': { key: 'row-remap-failure', action: 'replace', confirmations: 1 },
};

/** The remediable causes of one finding (none for anything but a critical one in the table above). */
export function causesOf(f: Finding): Cause[] {
  if (f.severity !== 'critical') return [];
  if (f.check === 'gpu.xid') return xidCauses(f);
  const c = CHECK_CAUSES[f.check];
  return c ? [{ key: c.key, check: f.check, ...gpuOf(f), action: c.action, confirmations: c.confirmations, evidence: f.message }] : [];
}

/** Checks whose critical findings can be remediable (recovery verification looks at these). */
export const REMEDIABLE_CHECKS: readonly Finding['check'][] = ['gpu.xid', ...(Object.keys(CHECK_CAUSES) as Finding['check'][])];

/** The remediable causes of a gpu-check result (the kernel-log watcher's events are gpu-check results too). */
export function resultCauses(result: TaskResult): Cause[] {
  if (result.task !== 'gpu-check') return [];
  return result.findings.flatMap(causesOf);
}

/** The cause that decides a host's rung: the highest, then the first reported. */
export function decidingCause<C extends Cause>(causes: readonly C[]): C | undefined {
  let best: C | undefined;
  for (const c of causes) if (!best || higherAction(c.action, best.action) !== best.action) best = c;
  return best;
}

/**
 * The host's proposal after one result: null when the result shows no remediable cause (the stored proposal
 * stays as it is); otherwise the previous one with this result's causes added or counted again. A cause
 * counts as seen again only within `continuityMs` of its last sighting (consecutive gpu-checks); causes not
 * in this result stay (an Xid is reported once and is still unremedied) until the proposal expires.
 */
export function nextProposal(previous: Proposal | null, result: TaskResult, continuityMs: number): Proposal | null {
  const causes = resultCauses(result);
  if (causes.length === 0 || !result.at) return null;
  const at = new Date(result.at).toISOString();
  const key = (c: Cause) => `${c.key}|${c.gpu ?? ''}`;
  const before = new Map((previous?.causes ?? []).map((c) => [key(c), c]));
  const now: ProposedCause[] = causes.map((c) => {
    const prev = before.get(key(c));
    const consecutive =
      prev !== undefined && Date.parse(at) > Date.parse(prev.lastSeenAt) && Date.parse(at) - Date.parse(prev.lastSeenAt) <= continuityMs;
    return {
      ...c,
      seen: consecutive ? prev.seen + 1 : prev && Date.parse(at) <= Date.parse(prev.lastSeenAt) ? prev.seen : 1,
      lastSeenAt: at,
    };
  });
  const current = new Set(causes.map(key));
  const kept = (previous?.causes ?? []).filter((c) => !current.has(key(c)));
  const lastSeenAt = previous && previous.lastSeenAt > at ? previous.lastSeenAt : at;
  return { host: result.host, causes: [...now, ...kept], firstSeenAt: previous?.firstSeenAt ?? at, lastSeenAt };
}

/** Causes of a proposal that are confirmed (seen in enough consecutive results). */
export function confirmedCauses(p: Proposal): ProposedCause[] {
  return p.causes.filter((c) => c.seen >= c.confirmations);
}
