#!/usr/bin/env bash
#
# Backs up model directories as per-unit archives and records a snapshot manifest.
# A unit is an entry at depth GPU_MAINT_BACKUP_UNIT_DEPTH of a source (plus files and empty
# directories above that depth). Each unit's fingerprint hashes the sorted (path, type, size, mtime,
# mode, owner, link count, link target) of its entries: an unchanged unit reuses the archive of the
# newest snapshot (not read, not sent); a changed one is streamed `tar | zstd -T0` straight to the
# destination with its sha256 computed on the way, nothing staged on local disk. The manifest is
# written last: a snapshot exists only once its manifest does, and a run that fails leaves none.
# A unit is listed before and after it is read and read again when it changed meanwhile, so the
# manifest describes what each archive holds. Snapshot ids carry a sequence number (the order of
# writing, which a wrong clock cannot change); archives a restore found corrupt (quarantine markers)
# are never reused.
#
# Usage: backup.sh   (configuration from environment variables)
#   GPU_MAINT_BACKUP_SOURCES       comma-separated source directories (default /opt/ml/models)
#   GPU_MAINT_BACKUP_EXCLUDE       comma-separated globs: a name (`*.tmp`) matches at any depth, a
#                                  path (`checkpoints/temp`) matches a trailing path, `/x` anchors to
#                                  the source root (default: none)
#   GPU_MAINT_BACKUP_UNIT_DEPTH    directory level that forms one archive unit, 1-4 (default 1)
#   GPU_MAINT_BACKUP_DESTINATION   file:///path or s3://bucket[/prefix] (required)
#   GPU_MAINT_BACKUP_HOST_KEY      host (default) or aws-userid: see lib/backup-manifest.sh
#   GPU_MAINT_BACKUP_COMPRESSION_LEVEL  zstd level 1-19 (default 3)
#   GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT  units saving less at that level use --fast=1 (0-100, default 10)
#   GPU_MAINT_BACKUP_ON_UNREADABLE warn (default): a file that cannot be read or vanishes during the
#                                  run is left out with a warning, the snapshot still written; fail:
#                                  the backup fails instead
#   GPU_MAINT_S3_ENDPOINT_URL      endpoint of an S3-compatible store (optional)
#   GPU_MAINT_PROGRESS             1: progress records (`progress: task=backup ...`) on stderr
#   GPU_MAINT_STATE_DIR            lock and carry-over state (default /var/lib/gpu-maint)
# Output: the result contract with a key=value section `backup` (status ok, empty, failed or busy).
# Exit: 0 when a snapshot was written, there was nothing to back up, or another backup is running
#   (status busy); 1 when the backup failed (no snapshot was written; the previous ones are intact) or
#   the configuration is invalid.

set -euo pipefail
# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"
# shellcheck source=lib/result.sh
source "${BASH_SOURCE[0]%/*}/lib/result.sh"
# shellcheck source=lib/backup-store.sh
source "${BASH_SOURCE[0]%/*}/lib/backup-store.sh"
# shellcheck source=lib/json.sh
source "${BASH_SOURCE[0]%/*}/lib/json.sh"
# shellcheck source=lib/backup-manifest.sh
source "${BASH_SOURCE[0]%/*}/lib/backup-manifest.sh"

export LC_ALL=C
# One unit's archive may take hours on a slow link; a hung filesystem must not hold the lock forever.
UNIT_TIMEOUT_S="$(env_int GPU_MAINT_BACKUP_UNIT_TIMEOUT_S 86400 1)"
readonly UNIT_TIMEOUT_S
SCAN_TIMEOUT_S="$(env_int GPU_MAINT_BACKUP_SCAN_TIMEOUT_S 3600 1)"
readonly SCAN_TIMEOUT_S
readonly SAMPLE_BYTES=262144
readonly SAMPLE_FILES=4
readonly FAST_LEVEL_ARG="--fast=1"

SOURCES=()
EXCLUDES=()
UNIT_DEPTH=1
LEVEL=3
MIN_SAVINGS_PERCENT=10
HOST=""
HOST_KEY=""
SCRATCH=""
STATE=""
# find(1) arguments that prune excluded entries: ( -name a -o -path b ... ) -prune -o
PRUNE_ARGS=()

# Units found by the scan (parallel arrays).
U_SRC=()
U_REL=()
U_ID=()
U_FP=()
U_REUSE=()
# Reusable archives: unit id -> "fingerprint<TAB>key<TAB>sha256<TAB>bytes<TAB>files<TAB>sourceBytes<TAB>listing".
declare -A REUSABLE=()
# Stored archive sizes by key (relative to the host prefix), from one listing.
declare -A STORED_SIZE=()
# Archives a restore or restore test found corrupt (quarantine markers): never reused.
declare -A QUARANTINED=()
# warn: a file that cannot be read (or vanishes) is left out with a warning; fail: the backup fails.
ON_UNREADABLE=warn
# Manifest lines, built once every unit is done.
UNIT_LINES=()
# Archive of each unit (index as U_*): key, sha256, bytes, entries, source bytes, listing digest,
# whether this run sent it, the fingerprint it was sent under, and a pending digest job (file://).
A_KEY=()
A_SHA=()
A_BYTES=()
A_FILES=()
A_SBYTES=()
A_LISTING=()
A_UPLOADED=()
A_ORIGINAL_FP=()
A_DIGEST_PID=()

# Run statistics.
FILES_TOTAL=0
BYTES_READ=0
BYTES_UPLOADED=0
UNITS_UPLOADED=0
UNITS_REUSED=0
BYTES_TO_READ=0
WARNINGS=()
START_S=""

#######################################
# Validates configuration; exits 1 with a message naming the bad value.
#######################################
read_config() {
  local item
  while IFS= read -r item; do SOURCES+=("${item}"); done < <(env_list GPU_MAINT_BACKUP_SOURCES /opt/ml/models)
  ((${#SOURCES[@]} > 0)) || die "GPU_MAINT_BACKUP_SOURCES lists no directory"
  for item in "${SOURCES[@]}"; do
    [[ "${item}" == /* ]] || die "GPU_MAINT_BACKUP_SOURCES: '${item}' is not an absolute path"
    # Manifests carry source paths as plain JSON text: these would not round-trip (names below a
    # source may hold any byte; they are stored base64-encoded).
    if [[ "${item}" == *[$'\x01'-$'\x1f\x7f'\"\\]* ]]; then
      die "GPU_MAINT_BACKUP_SOURCES: $(printf '%q' "${item}") holds a control character, quote or backslash; back up its parent directory instead"
    fi
  done
  while IFS= read -r item; do EXCLUDES+=("${item}"); done < <(env_list GPU_MAINT_BACKUP_EXCLUDE "")
  UNIT_DEPTH="$(env_int GPU_MAINT_BACKUP_UNIT_DEPTH 1 1 4)"
  LEVEL="$(env_int GPU_MAINT_BACKUP_COMPRESSION_LEVEL 3 1 19)"
  ON_UNREADABLE="$(env_enum GPU_MAINT_BACKUP_ON_UNREADABLE warn warn fail)"
  MIN_SAVINGS_PERCENT="$(env_int GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT 10 0 100)"
  [[ -n "$(env_str GPU_MAINT_BACKUP_DESTINATION "")" ]] || die "GPU_MAINT_BACKUP_DESTINATION is not set (file:///path or s3://bucket/prefix)"
  local tool
  for tool in tar zstd sha256sum flock find sort base64 stat; do
    command -v "${tool}" >/dev/null 2>&1 || die "backup needs ${tool} on PATH"
  done
}

# Escapes glob characters so that a literal path can be used with find -path.
glob_escape() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\*/\\*}"
  s="${s//\?/\\?}"
  s="${s//\[/\\[}"
  printf '%s' "${s}"
}

#######################################
# Builds the find(1) prune expression for one source: the configured excludes, plus the local
# destination and state directory when they lie inside the source (a backup never archives itself).
# Arguments: source directory (resolved).
#######################################
build_prune_args() {
  local src="$1" pattern inner
  local -a terms=()
  for pattern in "${EXCLUDES[@]+"${EXCLUDES[@]}"}"; do
    pattern="${pattern%/}"
    [[ -n "${pattern}" ]] || continue
    if [[ "${pattern}" == /* ]]; then
      terms+=(-path "./${pattern#/}")
    elif [[ "${pattern}" == */* ]]; then
      terms+=(-path "*/${pattern}")
    else
      terms+=(-name "${pattern}")
    fi
  done
  for inner in "${STORE_ROOT:-}" "${STATE}"; do
    [[ -n "${inner}" && -d "${inner}" ]] || continue
    inner="$(cd "${inner}" && pwd -P)"
    if [[ "${inner}" == "${src}" ]]; then
      die "source ${src} is the backup destination or state directory itself"
    elif [[ "${inner}" == "${src}"/* ]]; then
      terms+=(-path "./$(glob_escape "${inner#"${src}"/}")")
    fi
  done
  PRUNE_ARGS=()
  if ((${#terms[@]} > 0)); then
    PRUNE_ARGS=("(")
    local i
    for ((i = 0; i < ${#terms[@]}; i += 2)); do
      ((i > 0)) && PRUNE_ARGS+=(-o)
      PRUNE_ARGS+=("${terms[i]}" "${terms[i + 1]}")
    done
    PRUNE_ARGS+=(")" -prune -o)
  fi
}

#######################################
# Prints a unit id: a readable slug of the path plus a hash of (source, path), unique and safe as
# an S3 key segment whatever bytes the name holds.
#######################################
unit_id() {
  local src="$1" rel="$2" slug hash
  slug="$(printf '%s' "${rel}" | tr -c 'A-Za-z0-9._-' '_')"
  slug="${slug:0:60}"
  slug="${slug#.}"
  hash="$(printf '%s\0%s' "${src}" "${rel}" | sha256sum)"
  printf '%s-%s\n' "${slug:-unit}" "${hash:0:12}"
}

#######################################
# Fingerprints one unit: sha256 of the sorted metadata records of its entries. Uses PRUNE_ARGS of
# the unit's source.
# Arguments: resolved source directory, unit path relative to it.
# Outputs: `fingerprint<TAB>regular-file bytes`.
#######################################
unit_fingerprint() {
  local base="$1" rel="$2" sum bytes
  # A directory this user cannot enter is recorded, not entered (the backup warns about it).
  local fmt='%y\t%s\t%T@\t%m\t%U:%G\t%n\t%p\t%l\0'
  (cd "${base}" && timeout -k 5 "${SCAN_TIMEOUT_S}" find "./${rel}" "${PRUNE_ARGS[@]+"${PRUNE_ARGS[@]}"}" \
    \( -type d ! \( -readable -executable \) -printf "${fmt}" -prune \) -o -printf "${fmt}") >"${SCRATCH}/records" || return 1
  sum="$({
    printf 'gpu-maint-fingerprint v1\0'
    sort -z "${SCRATCH}/records"
  } | sha256sum)"
  bytes="$(cut -z -f1,2 "${SCRATCH}/records" | tr '\0' '\n' | awk '$1 == "f" { b += $2 } END { printf "%.0f", b }')"
  printf '%s\t%s\n' "${sum:0:64}" "${bytes}"
}

MISSING_SOURCES=()
U_BYTES=()

#######################################
# Finds the sources' units and fingerprints them into U_SRC, U_REL, U_ID, U_FP, U_BYTES (sorted
# per source); missing sources go to MISSING_SOURCES.
# Returns: non-zero when a unit cannot be read.
#######################################
scan_units() {
  local src resolved record rel depth kind fp bytes
  local -a found
  for src in "${SOURCES[@]}"; do
    if [[ ! -e "${src}" ]]; then
      log "source ${src} does not exist: nothing to back up there"
      MISSING_SOURCES+=("${src}")
      continue
    fi
    [[ -d "${src}" ]] || die "source ${src} is not a directory"
    resolved="$(cd "${src}" && pwd -P)"
    build_prune_args "${resolved}"
    found=()
    # Units: entries at the unit depth, and anything shallower that is not a directory or is an
    # empty one (so that it survives a restore). Records: kind (E = empty dir), depth, path.
    while IFS= read -r -d '' record; do
      kind="${record:0:1}"
      depth="${record:1}"
      depth="${depth%%$'\t'*}"
      rel="${record#*$'\t'}"
      if ((depth == UNIT_DEPTH)) || [[ "${kind}" != d ]]; then
        found+=("${rel}")
      fi
    done < <(cd "${resolved}" && timeout -k 5 "${SCAN_TIMEOUT_S}" find . -mindepth 1 -maxdepth "${UNIT_DEPTH}" \
      "${PRUNE_ARGS[@]+"${PRUNE_ARGS[@]}"}" \( -type d -empty -printf 'E%d\t%P\0' \) -o -printf '%y%d\t%P\0')
    ((${#found[@]} > 0)) || continue
    while IFS= read -r -d '' rel; do
      IFS=$'\t' read -r fp bytes < <(unit_fingerprint "${resolved}" "${rel}") || {
        log "error: cannot read unit ${src}/${rel}"
        return 1
      }
      [[ -n "${fp}" ]] || {
        log "error: cannot read unit ${src}/${rel}"
        return 1
      }
      U_SRC+=("${src}")
      U_REL+=("${rel}")
      U_ID+=("$(unit_id "${src}" "${rel}")")
      U_FP+=("${fp}")
      U_BYTES+=("${bytes}")
    done < <(printf '%s\0' "${found[@]}" | sort -z)
  done
}

#######################################
# Loads what can be reused: the newest snapshot's units and the archives this host uploaded in a
# failed run (carry-over file), each only while its archive is still stored at the recorded size.
# Sets PREVIOUS_ID.
#######################################
PREVIOUS_ID=""
# Snapshot ids of this host, one per line (a listing is one request: units and snapshots together).
SNAPSHOT_IDS=""
load_reusable() {
  local listing size key rel ids=""
  listing="$(store_list "backups/${HOST_KEY}/")" || return 1
  if [[ -n "${listing}" ]]; then
    while IFS=$'\t' read -r size key; do
      rel="${key#"backups/${HOST_KEY}/"}"
      case "${rel}" in
      units/*) STORED_SIZE["${rel}"]="${size}" ;;
      quarantine/units/*) QUARANTINED["${rel#quarantine/}"]=1 ;;
      snapshots/*.json)
        rel="${rel#snapshots/}"
        [[ "${rel%.json}" =~ ${SNAPSHOT_ID_RE} ]] && ids+="${rel%.json}"$'\n'
        ;;
      esac
    done <<<"${listing}"
  fi
  SNAPSHOT_IDS="$(printf '%s' "${ids}" | sort_snapshot_ids)"
  PREVIOUS_ID="$(tail -n 1 <<<"${SNAPSHOT_IDS}")"
  local id fp k sha bytes files sbytes listing_sum rest
  if [[ -n "${PREVIOUS_ID}" ]]; then
    if store_get "backups/${HOST_KEY}/snapshots/${PREVIOUS_ID}.json" >"${SCRATCH}/previous.json" &&
      manifest_units "${SCRATCH}/previous.json" >"${SCRATCH}/previous.units"; then
      while IFS=$'\t' read -r id fp k sha bytes files sbytes listing_sum rest; do
        [[ "${STORED_SIZE[${k}]:-}" == "${bytes}" ]] || continue
        if [[ -n "${QUARANTINED[${k}]:-}" ]]; then
          WARNINGS+=("archive ${k} was found corrupt (quarantined); its unit is uploaded again")
          log "warning: ${WARNINGS[-1]}"
          continue
        fi
        REUSABLE["${id}"]="${fp}"$'\t'"${k}"$'\t'"${sha}"$'\t'"${bytes}"$'\t'"${files}"$'\t'"${sbytes}"$'\t'"${listing_sum}"
      done <"${SCRATCH}/previous.units"
    else
      WARNINGS+=("newest snapshot ${PREVIOUS_ID} could not be read; every unit is uploaded again")
      log "warning: ${WARNINGS[-1]}"
    fi
  fi
  local carry="${STATE}/backup-carry-over.tsv" hk
  if [[ -f "${carry}" ]]; then
    while IFS=$'\t' read -r hk id fp k sha bytes files sbytes listing_sum; do
      [[ "${hk}" == "${HOST_KEY}" && -z "${REUSABLE[${id}]:-}" ]] || continue
      [[ "${STORED_SIZE[${k}]:-}" == "${bytes}" && -z "${QUARANTINED[${k}]:-}" ]] || continue
      REUSABLE["${id}"]="${fp}"$'\t'"${k}"$'\t'"${sha}"$'\t'"${bytes}"$'\t'"${files}"$'\t'"${sbytes}"$'\t'"${listing_sum}"
    done <"${carry}"
  fi
}

# Prints a progress record (scripts/lib/common.sh) after each unit. Arguments: units done, units
# total, the unit id (empty before the first).
progress() {
  progress_record backup "${3:-}" "$1" "$2" "${BYTES_READ}" "${BYTES_TO_READ}"
}

#######################################
# Prints a unit's zstd level: FAST_LEVEL_ARG (no entropy coding, about copy speed) when SAMPLE_BYTES
# from the middle of each of its largest files (up to SAMPLE_FILES, of 4 samples or more) save less
# than MIN_SAVINGS_PERCENT at the configured level (3 at most, for speed), else that level. Weights
# barely compress (fp16: ~8%), and entropy coding costs ~1 CPU-second per GiB. Arguments: unit index.
#######################################
choose_level() {
  local i="$1" base record packed sampled=0 n
  local -a files=() offsets=()
  if ((MIN_SAVINGS_PERCENT > 0)) && base="$(cd "${U_SRC[i]}" && pwd -P)"; then
    build_prune_args "${base}"
    while IFS= read -r -d '' record; do
      files+=("${base}/${record#*$'\t'}")
      offsets+=($((${record%%$'\t'*} / 2)))
      sampled=$((sampled + SAMPLE_BYTES))
    done < <(cd "${base}" && timeout -k 5 "${SCAN_TIMEOUT_S}" find "./${U_REL[i]}" "${PRUNE_ARGS[@]+"${PRUNE_ARGS[@]}"}" \
      -type f -size +$((4 * SAMPLE_BYTES - 1))c -printf '%s\t%p\0' | sort -z -nr | head -z -n "${SAMPLE_FILES}")
  fi
  # A file cut short meanwhile makes the sample look compressible: the configured level.
  if ((sampled > 0)) && packed="$(for n in "${!files[@]}"; do
    timeout -k 5 60 dd if="${files[n]}" bs="${SAMPLE_BYTES}" count=1 skip="${offsets[n]}" iflag=skip_bytes,fullblock status=none || exit 1
  done | zstd -q -c "-$((LEVEL < 3 ? LEVEL : 3))" | wc -c)" && (((sampled - packed) * 100 < MIN_SAVINGS_PERCENT * sampled)); then
    log "unit ${U_REL[i]}: its largest files save $(((sampled - packed) * 100 / sampled))% (< ${MIN_SAVINGS_PERCENT}%), zstd ${FAST_LEVEL_ARG}"
    printf '%s\n' "${FAST_LEVEL_ARG}"
  else
    printf -- '-%s\n' "${LEVEL}"
  fi
}

# Level choices run in the background (unit index -> pid writing level.<index>).
LEVEL_PID=()
start_level_choice() {
  [[ -n "${LEVEL_PID[$1]:-}" ]] || {
    choose_level "$1" >"${SCRATCH}/level.$1" &
    LEVEL_PID[$1]=$!
  }
}
# Sets UNIT_LEVEL_ARG once the choice is done (the configured level if it failed).
await_level_choice() {
  UNIT_LEVEL_ARG=""
  if [[ -n "${LEVEL_PID[$1]:-}" ]] && wait "${LEVEL_PID[$1]}"; then read -r UNIT_LEVEL_ARG <"${SCRATCH}/level.$1" || true; fi
  UNIT_LEVEL_ARG="${UNIT_LEVEL_ARG:--${LEVEL}}"
}

#######################################
# Streams one unit to the destination and records its archive in A_*[index] (a file:// digest is
# computed in the background; finish_uploads waits for it). The unit is listed before and after it is
# read: when the two listings differ (a file grew, shrank, appeared or vanished meanwhile) the archive
# is discarded and the unit read again, so that the manifest's listing describes what the archive
# holds. After READ_ATTEMPTS reads that all saw changes, the last archive is kept and its listing is
# taken from the archive itself (extracted into a scratch dir), never from the source.
# Arguments: unit index.
# Returns: non-zero when the archive could not be written completely (nothing is left under its key).
#######################################
upload_unit() {
  local i="$1" src="${U_SRC[$1]}" rel="${U_REL[$1]}" id="${U_ID[$1]}" fp="${U_FP[$1]}"
  local resolved key next attempt
  # This unit's level is chosen while it is listed, the next one's while this one is archived.
  start_level_choice "${i}"
  for ((next = i + 1; next < ${#U_ID[@]}; next++)); do
    ((U_REUSE[next] == 1)) || {
      start_level_choice "${next}"
      break
    }
  done
  resolved="$(cd "${src}" && pwd -P)"
  build_prune_args "${resolved}"
  await_level_choice "${i}"
  key="units/${id}/${fp}.tar.zst"
  if [[ -n "${QUARANTINED[${key}]:-}" ]]; then
    # The archive under the usual key was found corrupt: this copy goes under a key of its own.
    key="units/${id}/$(printf 'gpu-maint requarantine %s %s' "${fp}" "${SNAPSHOT_ID}" | sha256sum | cut -c1-64).tar.zst"
  fi
  UNIT_UNSTABLE=0
  for ((attempt = 1; attempt <= READ_ATTEMPTS; attempt++)); do
    read_unit "${i}" "${resolved}" "${key}" || return 1
    if ((UNIT_UNSTABLE == 0 || attempt == READ_ATTEMPTS)); then
      break
    fi
    store_upload_abort
    log "unit ${rel} of ${src} changed while it was read (${UNIT_CHANGE}); reading it again (attempt $((attempt + 1)) of ${READ_ATTEMPTS})"
  done
  local file_kind=0
  store_upload_is_file && file_kind=1
  if ! store_upload_commit; then
    log "error: upload of unit ${rel} of ${src} to $(store_url "backups/${HOST_KEY}/${key}") failed"
    return 1
  fi
  if ((UNIT_UNSTABLE)); then
    # Still changing: describe the archive by what it holds, as a restore will see it.
    if ! listing_from_archive "${key}" "${rel}" "${UNIT_SBYTES}"; then
      log "error: unit ${rel} of ${src} kept changing while it was read, and its archive cannot be listed"
      return 1
    fi
    WARNINGS+=("${src}/${rel} kept changing while it was read (${UNIT_CHANGE}); the snapshot holds the last read, listed from its archive")
    log "warning: ${WARNINGS[-1]}"
  elif ((attempt > 1)); then
    WARNINGS+=("${src}/${rel} changed while it was read (${UNIT_CHANGE}) and was read again")
    log "warning: ${WARNINGS[-1]}"
  elif ((UNIT_TAR_RC == 1)); then
    WARNINGS+=("files of ${src}/${rel} changed while they were read; the next run archives them again")
    log "warning: ${WARNINGS[-1]}: $(head -c 300 "${SCRATCH}/tar.err" | tr '\n' ' ')"
  fi
  if [[ -s "${SCRATCH}/skipped" ]]; then
    local skipped n
    n="$(tr -cd '\0' <"${SCRATCH}/skipped" | wc -c)"
    skipped="$(head -z -n 3 "${SCRATCH}/skipped" | tr '\0\n' ',?' | sed 's/,$//; s/,/, /g')"
    WARNINGS+=("${n} entr$( ((n == 1)) && printf y || printf ies) of ${src}/${rel} could not be read and are not in the snapshot: ${skipped}")
    log "warning: ${WARNINGS[-1]}"
  fi
  if ((UNIT_UNSTABLE || UNIT_TAR_RC == 1)) || [[ -s "${SCRATCH}/skipped" ]]; then
    # A fingerprint that never matches: the next run reads the unit again.
    U_FP[i]="$(printf 'changed-during-read %s' "${fp}" | sha256sum | cut -c1-64)"
  fi
  A_KEY[i]="${key}"
  A_FILES[i]="${UNIT_FILES}"
  A_SBYTES[i]="${UNIT_SBYTES}"
  A_LISTING[i]="${UNIT_LISTING}"
  A_UPLOADED[i]=true
  A_ORIGINAL_FP[i]="${fp}"
  if ((file_kind)); then
    # The archive is in place; its digest is read back while the next unit compresses.
    store_file_digest "$(store_path "backups/${HOST_KEY}/${key}")" >"${SCRATCH}/digest.${i}" &
    A_DIGEST_PID[i]=$!
  else
    read -r "A_SHA[${i}]" "A_BYTES[${i}]" <"${SCRATCH}/digest"
  fi
  return 0
}

READ_ATTEMPTS=3
# Outcome of read_unit: the listing (digest, entries, bytes), tar's status, whether the unit changed.
UNIT_LISTING=""
UNIT_FILES=0
UNIT_SBYTES=0
UNIT_TAR_RC=0
UNIT_UNSTABLE=0
UNIT_CHANGE=""
# find(1) arguments that leave out entries this user cannot read (listed in ${SCRATCH}/skipped), and
# sockets (tar cannot archive them), so that the listing names only what tar archives. Symlinks are
# archived as links, never read.
SKIP_ARGS=()

#######################################
# Lists one unit, starts its upload and streams it; the upload is left open (commit or abort).
# Sets UNIT_* (UNIT_UNSTABLE=1 when the listing after the read differs from the one before it).
# Arguments: unit index, resolved source, key.
# Returns: non-zero when the unit cannot be listed or archived (nothing is left under its key).
#######################################
read_unit() {
  local i="$1" resolved="$2" key="$3" src="${U_SRC[$1]}" rel="${U_REL[$1]}" expected_bytes after
  SKIP_ARGS=(\( -type s -prune \) -o \( ! -type l \( ! -readable -o -type d ! -executable \) -fprint0 "${SCRATCH}/skipped" -prune \) -o)
  rm -f -- "${SCRATCH}/skipped"
  UNIT_LISTING=""
  IFS=$'\t' read -r UNIT_LISTING UNIT_FILES UNIT_SBYTES < <(unit_listing "${resolved}" "${rel}" "${SCRATCH}/listing" "${SCAN_TIMEOUT_S}" \
    "${PRUNE_ARGS[@]+"${PRUNE_ARGS[@]}"}" "${SKIP_ARGS[@]}") || true
  if [[ -z "${UNIT_LISTING}" ]]; then
    log "error: cannot list unit ${rel} of ${src}"
    return 1
  fi
  if [[ -s "${SCRATCH}/skipped" && "${ON_UNREADABLE}" == fail ]]; then
    log "error: unit ${rel} of ${src}: $(tr '\0' ' ' <"${SCRATCH}/skipped" | head -c 300) cannot be read (backup.onUnreadable=fail)"
    return 1
  fi
  (cd "${resolved}" && timeout -k 5 "${SCAN_TIMEOUT_S}" find "./${rel}" "${PRUNE_ARGS[@]+"${PRUNE_ARGS[@]}"}" "${SKIP_ARGS[@]}" -print0) >"${SCRATCH}/members" ||
    {
      log "error: cannot list unit ${rel} of ${src}"
      return 1
    }
  # An upper bound for S3 part sizing: data, tar headers, zstd's tiny expansion of incompressible data.
  expected_bytes=$((UNIT_SBYTES + UNIT_SBYTES / 64 + UNIT_FILES * 2048 + 1048576))

  rm -f -- "${SCRATCH}/digest"
  if ! store_upload_begin "backups/${HOST_KEY}/${key}" "${expected_bytes}" "${SCRATCH}"; then
    log "error: cannot start writing $(store_url "backups/${HOST_KEY}/${key}")"
    return 1
  fi
  # Default 10 KiB records: a reader stops at the end-of-archive marker, and padding after it must
  # fit in the pipe buffer, or the decompressor would die of SIGPIPE on restore.
  # --ignore-failed-read (warn mode): a file that vanishes or cannot be opened after it was listed is a
  # warning, as in restic; the listing after the read then differs and the unit is read again.
  local -a tar_args=(--create --file=- --format=posix --numeric-owner --sparse
    --directory="${resolved}" --no-recursion --null --verbatim-files-from --files-from="${SCRATCH}/members")
  [[ "${ON_UNREADABLE}" == warn ]] && tar_args+=(--ignore-failed-read)
  tar_progress_args backup "${U_ID[i]}" "${i}" "${#U_ID[@]}" "${BYTES_READ}" "${BYTES_TO_READ}" "${UNIT_SBYTES}"
  tar_args+=("${TAR_PROGRESS_ARGS[@]+"${TAR_PROGRESS_ARGS[@]}"}")
  local -a pipe_status=()
  if store_upload_is_file; then
    # zstd writes straight into the destination file; its digest is read back from that file below.
    {
      timeout -k 10 "${UNIT_TIMEOUT_S}" tar "${tar_args[@]}" 2>"${SCRATCH}/tar.err" |
        zstd -q -T0 "${UNIT_LEVEL_ARG}" >&"${STORE_UPLOAD_FD}"
      pipe_status=("${PIPESTATUS[@]}" 0)
    } || true
  else
    {
      timeout -k 10 "${UNIT_TIMEOUT_S}" tar "${tar_args[@]}" 2>"${SCRATCH}/tar.err" |
        zstd -q -T0 "${UNIT_LEVEL_ARG}" |
        digest_passthrough "${SCRATCH}/digest" "${SCRATCH}" >&"${STORE_UPLOAD_FD}"
      pipe_status=("${PIPESTATUS[@]}")
    } || true
  fi
  # tar exits 1 when a file changed while it was read: the archive is complete, the unit flagged.
  if ((pipe_status[0] > 1 || pipe_status[1] != 0 || pipe_status[2] != 0)); then
    store_upload_abort
    log "error: archiving unit ${rel} of ${src} failed (tar ${pipe_status[0]}, zstd ${pipe_status[1]}, writer ${pipe_status[2]})$(
      [[ -s "${SCRATCH}/tar.err" ]] && printf ': %s' "$(head -c 300 "${SCRATCH}/tar.err" | tr '\n' ' ')"
    )"
    return 1
  fi
  UNIT_TAR_RC="${pipe_status[0]}"
  # The listing again, now that tar is done: what tar wrote matches it only if nothing moved meanwhile.
  after="$(unit_listing "${resolved}" "${rel}" "${SCRATCH}/listing.after" "${SCAN_TIMEOUT_S}" \
    "${PRUNE_ARGS[@]+"${PRUNE_ARGS[@]}"}" "${SKIP_ARGS[@]}")" || after=""
  UNIT_UNSTABLE=0
  if [[ "${after}" != "${UNIT_LISTING}"$'\t'"${UNIT_FILES}"$'\t'"${UNIT_SBYTES}" ]]; then
    UNIT_UNSTABLE=1
    local after_files after_bytes
    IFS=$'\t' read -r _ after_files after_bytes <<<"${after}"
    UNIT_CHANGE="listed ${UNIT_FILES} entries, ${UNIT_SBYTES} bytes before the read, ${after_files:-?} entries, ${after_bytes:-?} bytes after"
  elif ((UNIT_TAR_RC == 1)) && grep -q 'changed as we read it\|shrank by' "${SCRATCH}/tar.err"; then
    UNIT_UNSTABLE=1
    UNIT_CHANGE="tar: $(head -n 1 "${SCRATCH}/tar.err" | head -c 200)"
  fi
  return 0
}

#######################################
# Sets UNIT_LISTING, UNIT_FILES, UNIT_SBYTES from a stored archive: extracted into a scratch dir in
# the state dir (as restore would), listed, removed. Arguments: key, unit path, its bytes (space check).
#######################################
listing_from_archive() {
  local key="$1" rel="$2" need="$3" dir free out
  dir="$(mktemp -d "${STATE}/backup-verify.XXXXXX")" || return 1
  free="$(timeout -k 2 10 df -P -B1 -- "${dir}" 2>/dev/null | awk 'NR == 2 { print $4 }')"
  if [[ "${free}" =~ ^[0-9]+$ ]] && ((free < need + need / 10 + 1048576)); then
    log "error: not enough space in ${STATE} to list the archive of ${rel} ($(human_bytes "${need}") needed)"
    rm -rf -- "${dir}"
    return 1
  fi
  if store_get "backups/${HOST_KEY}/${key}" "${STORE_TRANSFER_TIMEOUT_S}" | zstd -d -q -c |
    tar --extract --file=- --directory="${dir}" --numeric-owner --preserve-permissions 2>"${SCRATCH}/verify.err" &&
    out="$(unit_listing "${dir}" "${rel}" "${SCRATCH}/listing.archive" "${SCAN_TIMEOUT_S}")" && [[ -n "${out}" ]]; then
    IFS=$'\t' read -r UNIT_LISTING UNIT_FILES UNIT_SBYTES <<<"${out}"
    rm -rf -- "${dir}"
    return 0
  fi
  log "error: $(head -c 300 "${SCRATCH}/verify.err" | tr '\n' ' ')"
  rm -rf -- "${dir}"
  return 1
}

# Appends a unit's manifest line.
add_unit_line() {
  local i="$1" key="$2" sha="$3" bytes="$4" entries="$5" sbytes="$6" listing_sum="$7" uploaded="$8"
  UNIT_LINES+=("$(json_object "id=${U_ID[i]}" "fingerprint=${U_FP[i]}" "key=${key}" "sha256=${sha}" "bytes:=${bytes}" \
    "files:=${entries}" "sourceBytes:=${sbytes}" "listing=${listing_sum}" "uploaded:=${uploaded}" "source=${U_SRC[i]}" \
    "pathBase64=$(printf '%s' "${U_REL[i]}" | base64 -w0)" "path=${U_REL[i]}")")
}

#######################################
# Waits for the digests still being computed and records every archive this run sent in the
# carry-over file, so that a later run can reuse them even if this one fails.
# Returns: non-zero when a digest could not be computed.
#######################################
finish_uploads() {
  local i rc=0
  for i in "${!A_DIGEST_PID[@]}"; do
    if wait "${A_DIGEST_PID[i]}" && read -r "A_SHA[${i}]" "A_BYTES[${i}]" <"${SCRATCH}/digest.${i}" && [[ -n "${A_SHA[i]}" ]]; then
      :
    else
      log "error: cannot compute the sha256 of $(store_url "backups/${HOST_KEY}/${A_KEY[i]}")"
      A_SHA[i]=""
      rc=1
    fi
    unset 'A_DIGEST_PID[i]'
  done
  for i in "${!A_UPLOADED[@]}"; do
    [[ "${A_UPLOADED[i]}" == true && -n "${A_SHA[i]:-}" && -z "${A_CARRIED[i]:-}" ]] || continue
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${HOST_KEY}" "${U_ID[i]}" "${A_ORIGINAL_FP[i]}" "${A_KEY[i]}" "${A_SHA[i]}" \
      "${A_BYTES[i]}" "${A_FILES[i]}" "${A_SBYTES[i]}" "${A_LISTING[i]}" >>"${STATE}/backup-carry-over.tsv"
    A_CARRIED[i]=1
  done
  return "${rc}"
}
A_CARRIED=()

#######################################
# Writes the manifest of snapshot SNAPSHOT_ID: the last write of a backup.
#######################################
write_manifest() {
  local created_at="$1" file="${SCRATCH}/manifest.json" i first=1 s
  {
    printf '{"format":"%s","version":%s,"id":"%s","sequence":%s,"host":%s,"hostKey":"%s","createdAt":"%s","completedAt":"%s",' \
      "${MANIFEST_FORMAT}" "${MANIFEST_VERSION}" "${SNAPSHOT_ID}" "${SNAPSHOT_SEQUENCE}" "$(json_string "${HOST}")" "${HOST_KEY}" \
      "${created_at}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '"unitDepth":%s,"compression":"zstd","sources":[' "${UNIT_DEPTH}"
    for s in "${SOURCES[@]}"; do
      ((first)) || printf ','
      first=0
      json_string "${s}"
    done
    printf '],"exclude":['
    first=1
    for s in "${EXCLUDES[@]+"${EXCLUDES[@]}"}"; do
      ((first)) || printf ','
      first=0
      json_string "${s}"
    done
    printf '],"units":[\n'
    for ((i = 0; i < ${#UNIT_LINES[@]}; i++)); do
      printf '%s%s\n' "${UNIT_LINES[i]}" "$([[ $((i + 1)) -lt ${#UNIT_LINES[@]} ]] && printf ',')"
    done
    printf ']}\n'
  } >"${file}" || return 1
  store_put_file "${file}" "backups/${HOST_KEY}/snapshots/${SNAPSHOT_ID}.json"
}

#######################################
# Warns when this host's clock and the previous snapshot's date disagree by more than the tolerance
# the audit allows (15 min): the previous snapshot is dated ahead of now, so one of the two clocks
# was wrong. Ordering is by sequence either way; the warning makes the operator look at NTP.
#######################################
CLOCK_SKEW_TOLERANCE_S=900
SNAPSHOT_SEQUENCE=0
check_clock() {
  [[ -n "${PREVIOUS_ID}" ]] || return 0
  local prev_s now_s
  prev_s="$(date -u -d "$(snapshot_iso "${PREVIOUS_ID}")" +%s 2>/dev/null)" || return 0
  now_s="$(date -u +%s)"
  if ((prev_s > now_s + CLOCK_SKEW_TOLERANCE_S)); then
    WARNINGS+=("previous snapshot ${PREVIOUS_ID} is dated $(((prev_s - now_s) / 3600)) h after this host's clock ($(date -u +%Y-%m-%dT%H:%M:%SZ)): a clock was wrong (check NTP); snapshots are ordered by sequence")
    log "warning: ${WARNINGS[-1]}"
  fi
}

# Seconds since the run started.
elapsed_seconds() {
  elapsed_since "${START_S}"
}

#######################################
# Prints the result section and ends the result.
# Arguments: status, error message (may be empty), missing sources (comma-separated).
#######################################
report() {
  local status="$1" error="$2" missing="$3" previous_at=""
  [[ -n "${PREVIOUS_ID}" ]] && previous_at="$(snapshot_iso "${PREVIOUS_ID}")"
  local IFS=','
  kv_section backup \
    "status=${status}" \
    "snapshot=$([[ "${status}" == ok ]] && printf '%s' "${SNAPSHOT_ID}")" \
    "host_key=${HOST_KEY}" \
    "destination=$(store_url "backups/${HOST_KEY}/")" \
    "sources=${SOURCES[*]}" \
    "sources_missing=${missing}" \
    "units_total=${#U_ID[@]}" \
    "units_uploaded=${UNITS_UPLOADED}" \
    "units_reused=${UNITS_REUSED}" \
    "files=${FILES_TOTAL}" \
    "bytes_read=${BYTES_READ}" \
    "bytes_uploaded=${BYTES_UPLOADED}" \
    "duration_seconds=$(elapsed_seconds)" \
    "previous_snapshot=${PREVIOUS_ID}" \
    "previous_snapshot_at=${previous_at}" \
    "warnings=${#WARNINGS[@]}" \
    "warning=${WARNINGS[0]:-}" \
    "error=${error}"
  result_end
}

main() {
  read_config
  HOST="$(host_id)"
  STATE="$(state_dir)"
  store_init "$(env_str GPU_MAINT_BACKUP_DESTINATION "")"
  ensure_result_tmp_dir
  SCRATCH="${RESULT_TMP_DIR}"

  # The lock comes first: a second run must exit before it reads or writes anything.
  local lock_fd
  exec {lock_fd}>>"${STATE}/backup.lock" || die "cannot open lock ${STATE}/backup.lock"
  if ! flock -n "${lock_fd}"; then
    log "error: another backup is already running on this host (lock ${STATE}/backup.lock)"
    result_begin backup "${HOST}"
    kv_section backup status=busy "error=already running: another backup holds ${STATE}/backup.lock"
    result_end
    # Not a failure of this host: the running backup reports for itself (backup.run warning).
    exit 0
  fi
  log "backup started (lock ${STATE}/backup.lock held)"
  START_S="$(monotonic_seconds)"
  local created_at
  created_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  result_begin backup "${HOST}"

  if ! HOST_KEY="$(backup_host_key)"; then
    report failed "cannot determine the backup host key" ""
    exit 1
  fi
  local missing stale
  stale="$(store_remove_stale_partials "backups/${HOST_KEY}/")"
  ((stale == 0)) || log "removed ${stale} partial file(s) left by a backup that was stopped"
  if ! scan_units; then
    report failed "cannot read the units of ${SOURCES[*]}" "$(
      IFS=','
      printf '%s' "${MISSING_SOURCES[*]}"
    )"
    exit 1
  fi
  missing="$(
    IFS=','
    printf '%s' "${MISSING_SOURCES[*]}"
  )"
  if ((${#U_ID[@]} == 0)); then
    local why
    if ((${#MISSING_SOURCES[@]} == ${#SOURCES[@]})); then
      why="${missing//,/, } does not exist (backup.sources)"
    else
      why="no entries under ${SOURCES[*]}${missing:+ (${missing//,/, } does not exist)}"
    fi
    log "nothing to back up: ${why}"
    report empty "nothing to back up: ${why}" "${missing}"
    exit 0
  fi
  if ! load_reusable; then
    report failed "cannot list $(store_url "backups/${HOST_KEY}/")" "${missing}"
    exit 1
  fi

  # The id carries the next sequence number: the order of writing, whatever this host's clock says.
  # The lock rules out a concurrent run of this host, so the listing above is current and the id new.
  SNAPSHOT_SEQUENCE=$(($(snapshot_sequence "${PREVIOUS_ID:-0}") + 1))
  SNAPSHOT_ID="$(date -u +%Y%m%dT%H%M%SZ)-${SNAPSHOT_SEQUENCE}"
  check_clock

  # Fingerprints decide what is reused and how much must be read.
  local i reuse fp
  for i in "${!U_ID[@]}"; do
    reuse="${REUSABLE[${U_ID[i]}]:-}"
    if [[ -n "${reuse}" && "${reuse%%$'\t'*}" == "${U_FP[i]}" ]]; then
      U_REUSE[i]=1
    else
      U_REUSE[i]=0
      BYTES_TO_READ=$((BYTES_TO_READ + U_BYTES[i]))
    fi
  done
  progress 0 "${#U_ID[@]}"

  for i in "${!U_ID[@]}"; do
    if ((U_REUSE[i] == 1)); then
      IFS=$'\t' read -r _ "A_KEY[${i}]" "A_SHA[${i}]" "A_BYTES[${i}]" "A_FILES[${i}]" "A_SBYTES[${i}]" "A_LISTING[${i}]" <<<"${REUSABLE[${U_ID[i]}]}"
      A_UPLOADED[i]=false
      UNITS_REUSED=$((UNITS_REUSED + 1))
    else
      if ! upload_unit "${i}"; then
        finish_uploads || true
        report failed "upload of unit ${U_SRC[i]}/${U_REL[i]} failed; no snapshot written, previous snapshot ${PREVIOUS_ID:-(none)} intact" "${missing}"
        exit 1
      fi
      UNITS_UPLOADED=$((UNITS_UPLOADED + 1))
      BYTES_READ=$((BYTES_READ + A_SBYTES[i]))
    fi
    FILES_TOTAL=$((FILES_TOTAL + A_FILES[i]))
    progress $((i + 1)) "${#U_ID[@]}" "${U_ID[i]}"
  done
  if ! finish_uploads; then
    report failed "cannot verify the archives written; no snapshot written, previous snapshot ${PREVIOUS_ID:-(none)} intact" "${missing}"
    exit 1
  fi
  for i in "${!U_ID[@]}"; do
    [[ "${A_UPLOADED[i]}" == true ]] && BYTES_UPLOADED=$((BYTES_UPLOADED + A_BYTES[i]))
    add_unit_line "${i}" "${A_KEY[i]}" "${A_SHA[i]}" "${A_BYTES[i]}" "${A_FILES[i]}" "${A_SBYTES[i]}" "${A_LISTING[i]}" "${A_UPLOADED[i]}"
  done

  if ! store_flush || ! write_manifest "${created_at}"; then
    report failed "cannot write manifest $(store_url "backups/${HOST_KEY}/snapshots/${SNAPSHOT_ID}.json")" "${missing}"
    exit 1
  fi
  rm -f -- "${STATE}/backup-carry-over.tsv"
  log "snapshot ${SNAPSHOT_ID}: ${#U_ID[@]} units (${UNITS_UPLOADED} uploaded, ${UNITS_REUSED} reused), $(human_bytes "${BYTES_UPLOADED}") sent"
  report ok "" "${missing}"
}

main "$@"
