/**
 * The planner's view of the fleet, read from the alert state both modes already keep: the fleet is the
 * hosts whose latest gpu-check is within alerts.staleAfterMinutes, and a host's recovery evidence is its
 * latest gpu-check and the latest breach of a critical remediable alert.
 */
import type { AlertStateStore } from '../alerts/ports';
import { REMEDIABLE_CHECKS } from './causes';
import type { RecoveryEvidence } from './model';
import type { FleetView } from './run';

export function alertStateFleetView(store: AlertStateStore, staleAfterMinutes: number): FleetView {
  return {
    async fleetSize(now) {
      const since = now.getTime() - staleAfterMinutes * 60_000;
      return (await store.listHosts()).filter((h) => h.lastGpuCheckAt !== undefined && Date.parse(h.lastGpuCheckAt) >= since).length;
    },
    async recoveryEvidence(hosts) {
      const out = new Map<string, RecoveryEvidence>();
      for (const host of hosts) {
        const state = await store.load(host);
        const faults = Object.values(state.alerts)
          .filter((a) => a.severity === 'critical' && REMEDIABLE_CHECKS.includes(a.check))
          .map((a) => a.lastBreachAt)
          .sort();
        const lastGpuCheckAt = state.lastSeen['gpu-check'];
        out.set(host, {
          ...(lastGpuCheckAt ? { lastGpuCheckAt } : {}),
          ...(faults.length ? { lastFaultAt: faults[faults.length - 1] } : {}),
        });
      }
      return out;
    },
  };
}
