#!/usr/bin/env bash
#
# Backup benchmark: on a generated corpus of fp16-like weights (barely compressible), times the old
# kit (`tar -czf` to a file, then sha256sum), a plain `tar -cf` of the same tree (also followed by
# `sync` of the archive, since a backup fsyncs its archives before the manifest: the fair baseline),
# and `gpu-maint run backup` to a file:// destination, with its per-unit level choice and with that
# choice off (zstd -3 for every unit), then the unchanged rerun; prints the times, the ratios and
# the bytes written. Uses hyperfine; everything lives in bench/.work/backup.
# Usage: bash bench/backup/run.sh [corpus MiB = 512] [runs = 3]
# Exit: 0 when every command ran; non-zero when one failed or a tool is missing.

set -euo pipefail

main() {
  local size_mib="${1:-512}" runs="${2:-3}" root work corpus config
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  work="${root}/bench/.work/backup"
  corpus="${work}/corpus-${size_mib}m"
  config="${work}/config.json"
  for tool in hyperfine jq tar zstd sha256sum node; do
    command -v "${tool}" >/dev/null || {
      echo "bench: ${tool} is needed" >&2
      exit 1
    }
  done
  mkdir -p "${work}"
  if [[ ! -d "${corpus}" ]]; then
    (cd "${root}" && npx tsx bench/backup/generate-corpus.ts "${corpus}" "${size_mib}")
  fi
  printf '{"local":{"stateDir":"%s/state"},"backup":{"sources":["%s"],"exclude":[]}}\n' "${work}" "${corpus}" >"${config}"
  local backup_cmd="node ${root}/bin/gpu-maint.cjs --config ${config} run backup --json"
  local level3_cmd="GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT=0 ${backup_cmd}"

  echo "corpus: $(du -sh --apparent-size "${corpus}" | cut -f1) in $(find "${corpus}" -type f | wc -l) files; $(nproc) CPUs; $(uname -r)"
  echo "tools: $(tar --version | head -1), $(zstd --version | sed 's/^\*\*\* //; s/, by.*//'), $(openssl version 2>/dev/null || echo 'no openssl'), node $(node --version)"
  hyperfine --runs "${runs}" --export-json "${work}/first.json" --style basic \
    -n 'old kit: tar -czf + sha256sum' --prepare "rm -f ${work}/old.tar.gz; sync" \
    "tar -czf ${work}/old.tar.gz -C ${corpus} . && sha256sum ${work}/old.tar.gz" \
    -n 'plain tar -cf' --prepare "rm -f ${work}/plain.tar; sync" \
    "tar -cf ${work}/plain.tar -C ${corpus} ." \
    -n 'plain tar -cf + sync (durable, like a backup)' --prepare "rm -f ${work}/plain.tar; sync" \
    "tar -cf ${work}/plain.tar -C ${corpus} . && sync ${work}/plain.tar" \
    -n 'gpu-maint run backup (file://, first run)' --prepare "rm -rf ${work}/state; sync" \
    "${backup_cmd} > ${work}/first-run.json" \
    -n 'gpu-maint run backup, level choice off (zstd -3 for every unit)' --prepare "rm -rf ${work}/state; sync" \
    "${level3_cmd} > ${work}/level3-run.json"

  # The state the rerun starts from: one snapshot of the unchanged corpus.
  rm -rf "${work}/state"
  ${backup_cmd} >"${work}/first-run.json"
  # A new second before each run: two snapshots of one host never share an id, so a run started in
  # the same second as the previous one would wait for the next.
  hyperfine --warmup 1 --runs 5 --prepare 'sleep 1' --export-json "${work}/rerun.json" --style basic \
    -n 'gpu-maint run backup (unchanged rerun)' "${backup_cmd} > ${work}/rerun-run.json"

  local old plain plain_sync gm gm3 rerun
  old="$(jq '.results[0].mean' "${work}/first.json")"
  plain="$(jq '.results[1].mean' "${work}/first.json")"
  plain_sync="$(jq '.results[2].mean' "${work}/first.json")"
  gm="$(jq '.results[3].mean' "${work}/first.json")"
  gm3="$(jq '.results[4].mean' "${work}/first.json")"
  rerun="$(jq '.results[0].mean' "${work}/rerun.json")"
  echo
  echo "summary (means of ${runs} runs; rerun: 5 runs)"
  awk -v o="${old}" -v p="${plain}" -v ps="${plain_sync}" -v g="${gm}" -v g3="${gm3}" -v r="${rerun}" 'BEGIN {
    printf "  old kit (tar -czf + sha256sum): %7.2f s\n", o
    printf "  plain tar -cf:                  %7.2f s\n", p
    printf "  plain tar -cf + sync:           %7.2f s\n", ps
    printf "  gpu-maint run backup:           %7.2f s   %.1fx faster than the old kit (goal >= 10x); %.2fx plain tar -cf (goal <= 1.5x), %.2fx plain tar -cf + sync\n", g, o / g, g / p, g / ps
    printf "  level choice off (zstd -3):     %7.2f s   %.1fx faster than the old kit; %.2fx plain tar -cf, %.2fx plain tar -cf + sync\n", g3, o / g3, g3 / p, g3 / ps
    printf "  unchanged rerun:                %7.2f s\n", r
  }'
  jq -r '"  first run: \(.snapshot.unitsUploaded) units, \(.snapshot.bytesRead) bytes read, \(.snapshot.bytesUploaded) bytes written; script \(.snapshot.durationSeconds) s"' "${work}/first-run.json"
  jq -r '"  zstd -3:   \(.snapshot.unitsUploaded) units, \(.snapshot.bytesRead) bytes read, \(.snapshot.bytesUploaded) bytes written; script \(.snapshot.durationSeconds) s"' "${work}/level3-run.json"
  jq -r '"  rerun:     \(.snapshot.unitsUploaded) units uploaded, \(.snapshot.unitsReused) reused, \(.snapshot.bytesUploaded) archive bytes written; script \(.snapshot.durationSeconds) s"' "${work}/rerun-run.json"
  echo "  old kit archive: $(stat -c %s "${work}/old.tar.gz") bytes; plain tar: $(stat -c %s "${work}/plain.tar") bytes"
}

main "$@"
