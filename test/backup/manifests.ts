/** Manifests for retention and prune tests, shaped like scripts/backup.sh writes them. */
import { snapshotTime } from '../../lambda/core/backup/manifest';

export const HEX = 'a'.repeat(64);
/** A valid version-1 manifest with the given units (ids double as paths). */
export function manifestJson(id: string, units: { id: string; fp?: string; bytes?: number }[], host = 'i-0abc'): string {
  const iso = snapshotTime(id).toISOString().replace('.000', '');
  return JSON.stringify({
    format: 'gpu-maint-backup',
    version: 1,
    id,
    host,
    hostKey: host,
    createdAt: iso,
    completedAt: iso,
    unitDepth: 1,
    compression: 'zstd',
    sources: ['/opt/ml/models'],
    exclude: [],
    units: units.map((u) => ({
      id: u.id,
      fingerprint: u.fp ?? HEX,
      key: `units/${u.id}/${u.fp ?? HEX}.tar.zst`,
      sha256: HEX,
      bytes: u.bytes ?? 100,
      files: 3,
      sourceBytes: 200,
      listing: HEX,
      uploaded: true,
      source: '/opt/ml/models',
      pathBase64: Buffer.from(u.id).toString('base64'),
      path: u.id,
    })),
  });
}
