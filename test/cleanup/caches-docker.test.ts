/**
 * Cache and docker cleanup in scripts/cleanup.sh: package caches under a temp sysroot with real
 * find/rm, and docker images through a fake docker CLI first on PATH.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { age, type CleanupHost, cleanupConfig, exists, fakeTool, makeCleanupHost, put, runCleanup } from './harness';

describe('caches', () => {
  test('pip caches of every home are emptied, other files in the home are not', async () => {
    const host = makeCleanupHost();
    const rootPip = path.join(host.sysroot, 'root', '.cache', 'pip');
    const alicePip = path.join(host.sysroot, 'home', 'alice', '.cache', 'pip');
    put(path.join(rootPip, 'http', 'a', 'b'), 100);
    put(path.join(alicePip, 'wheels', 'x.whl'), 200);
    const notes = put(path.join(host.sysroot, 'home', 'alice', '.cache', 'notes.txt'), 5);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, caches: { pip: true } }));
    expect(readdirSync(rootPip)).toEqual([]);
    expect(readdirSync(alicePip)).toEqual([]);
    expect(exists(notes)).toBe(true);
    expect(details.bytesFreed).toBe(300);
  });

  test('apt archives lose their .deb files only', async () => {
    const host = makeCleanupHost();
    const archives = path.join(host.sysroot, 'var', 'cache', 'apt', 'archives');
    put(path.join(archives, 'a_1.0_amd64.deb'), 100);
    put(path.join(archives, 'partial', 'b_2.0_amd64.deb'), 50);
    const lock = put(path.join(archives, 'lock'), 0);
    await runCleanup(host, cleanupConfig(host, { dryRun: false, caches: { apt: true } }));
    expect(readdirSync(archives).sort()).toEqual(['lock', 'partial']);
    expect(readdirSync(path.join(archives, 'partial'))).toEqual([]);
    expect(exists(lock)).toBe(true);
  });

  test('conda loses package tarballs and its index cache, not extracted packages', async () => {
    const host = makeCleanupHost();
    const pkgs = path.join(host.sysroot, 'opt', 'conda', 'pkgs');
    put(path.join(pkgs, 'numpy-1.26-py311.conda'), 100);
    put(path.join(pkgs, 'zlib-1.2.tar.bz2'), 50);
    put(path.join(pkgs, 'cache', 'abc.json'), 10);
    const extracted = put(path.join(pkgs, 'numpy-1.26-py311', 'lib', 'x.so'), 30);
    const nested = put(path.join(pkgs, 'numpy-1.26-py311', 'info', 'repodata.conda'), 3);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, caches: { conda: true } }));
    expect(exists(extracted)).toBe(true);
    expect(exists(nested)).toBe(true);
    expect(readdirSync(pkgs).sort()).toEqual(['cache', 'numpy-1.26-py311']);
    expect(details.bytesFreed).toBe(160);
  });

  test('the huggingface cache is trimmed least recently used first down to its cap', async () => {
    // GIVEN three 1 MiB model repos used 30, 20 and 10 days ago and a cap of 1.5 MiB
    const host = makeCleanupHost();
    const hub = path.join(host.sysroot, 'root', '.cache', 'huggingface', 'hub');
    const mib = 1024 * 1024;
    for (const [name, days] of [
      ['models--a--old', 30],
      ['models--b--mid', 20],
      ['models--c--new', 10],
    ] as const) {
      put(path.join(hub, name, 'blobs', 'sha'), mib, days);
      age(path.join(hub, name, 'blobs'), days);
      age(path.join(hub, name), days);
    }
    // WHEN the cache is cleaned
    await runCleanup(host, cleanupConfig(host, { dryRun: false, caches: { huggingface: true, huggingfaceMaxGiB: 1.5 / 1024 } }));
    // THEN the two least recently used repos are gone and the newest stays
    expect(readdirSync(hub)).toEqual(['models--c--new']);
  });

  test('a dry run reports cache files without deleting them', async () => {
    const host = makeCleanupHost();
    const deb = put(path.join(host.sysroot, 'var', 'cache', 'apt', 'archives', 'a.deb'), 100);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: true, caches: { apt: true } }));
    expect(exists(deb)).toBe(true);
    expect(details.deleted).toEqual([{ path: deb, bytes: 100, category: 'apt' }]);
  });
});

const HOUR_S = 3600;

/** A fake docker CLI over a state dir: images (id size created tags), containers (image ids), calls. */
function fakeDocker(
  host: CleanupHost,
  images: ReadonlyArray<{ id: string; bytes: number; ageHours: number; tags: string }>,
  usedBy: readonly string[],
): string {
  const state = path.join(host.root, 'docker');
  mkdirSync(state, { recursive: true });
  const now = Math.floor(Date.now() / 1000);
  writeFileSync(
    path.join(state, 'images'),
    images.map((i) => `${i.id} ${i.bytes} ${new Date((now - i.ageHours * HOUR_S) * 1000).toISOString()} ${i.tags}\n`).join(''),
  );
  writeFileSync(path.join(state, 'containers'), usedBy.map((id) => `${id}\n`).join(''));
  fakeTool(
    host,
    'docker',
    `state=${JSON.stringify(state)}
printf '%s\\n' "$*" >>"$state/calls"
case "$1 $2" in
  "info "*) exit 0 ;;
  "ps -a") awk '{ print "container-" NR }' "$state/containers" ;;
  "inspect --format") awk '{ print }' "$state/containers" ;;
  "image ls") awk '{ print $1 }' "$state/images" ;;
  "image inspect")
    shift 2; [[ "$1" == --format ]] && shift 2
    rc=0
    for id in "$@"; do grep -q "^$id " "$state/images" && grep "^$id " "$state/images" || rc=1; done
    exit "$rc" ;;
  "image prune")
    hours="$(printf '%s\\n' "$*" | sed -n 's/.*until=\\([0-9]*\\)h.*/\\1/p')"
    cutoff=$(( $(date +%s) - hours * 3600 ))
    freed=0; : >"$state/kept"
    echo "Deleted Images:"
    while read -r id size created tags; do
      if ! grep -qx "$id" "$state/containers" && (( $(date -d "$created" +%s) < cutoff )); then
        echo "deleted: $id"; freed=$((freed + size))
      else
        echo "$id $size $created $tags" >>"$state/kept"
      fi
    done <"$state/images"
    mv "$state/kept" "$state/images"
    echo
    awk -v b="$freed" 'BEGIN { printf "Total reclaimed space: %.1fMB\\n", b / 1e6 }' ;;
  *) echo "fake docker: unexpected: $*" >&2; exit 2 ;;
esac`,
  );
  return state;
}

describe('docker', () => {
  const images = [
    { id: 'sha256:aaa', bytes: 3_000_000, ageHours: 400, tags: 'old/unused:1' },
    { id: 'sha256:bbb', bytes: 5_000_000, ageHours: 400, tags: 'old/used:1' },
    { id: 'sha256:ccc', bytes: 7_000_000, ageHours: 10, tags: 'new/unused:1' },
  ];

  test('a dry run lists images unused for unusedForHours and removes none', async () => {
    const host = makeCleanupHost();
    const state = fakeDocker(host, images, ['sha256:bbb']);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: true, docker: { enabled: true, unusedForHours: 168 } }));
    expect(details.deleted).toEqual([{ path: 'image:old/unused:1', bytes: 3_000_000, category: 'docker', modifiedAt: expect.any(String) }]);
    expect(readFileSync(path.join(state, 'calls'), 'utf8')).not.toContain('prune');
  });

  test('a dry run gives each image its age: the time since docker created it', async () => {
    const host = makeCleanupHost();
    fakeDocker(host, images, ['sha256:bbb']);
    const { details, result } = await runCleanup(
      host,
      cleanupConfig(host, { dryRun: true, docker: { enabled: true, unusedForHours: 168 } }),
    );
    const [image] = details.deleted;
    const ageHours = (Date.parse(result.at as string) - Date.parse(image.modifiedAt as string)) / (HOUR_S * 1000);
    expect(ageHours).toBeGreaterThan(399);
    expect(ageHours).toBeLessThan(401);
  });

  test('a real run prunes with the until filter and reports the space docker reclaimed', async () => {
    const host = makeCleanupHost();
    const state = fakeDocker(host, images, ['sha256:bbb']);
    const { details, result } = await runCleanup(
      host,
      cleanupConfig(host, { dryRun: false, docker: { enabled: true, unusedForHours: 168 } }),
    );
    expect(readFileSync(path.join(state, 'calls'), 'utf8')).toContain('image prune -a -f --filter until=168h');
    expect(readFileSync(path.join(state, 'images'), 'utf8')).not.toContain('sha256:aaa');
    expect(details.deleted).toEqual([{ path: 'image:old/unused:1', bytes: 3_000_000, category: 'docker', modifiedAt: expect.any(String) }]);
    expect(result.metrics.find((m) => m.name === 'BytesFreedDocker')?.value).toBe(3_000_000);
  });

  test('an unreachable docker daemon is reported, not an error', async () => {
    const host = makeCleanupHost();
    fakeTool(host, 'docker', 'echo "Cannot connect to the Docker daemon" >&2; exit 1');
    const { output, details } = await runCleanup(host, cleanupConfig(host, { docker: { enabled: true } }));
    expect(output.exitCode).toBe(0);
    expect(details.areas).toContainEqual(expect.objectContaining({ category: 'docker', status: 'unreachable' }));
  });
});
