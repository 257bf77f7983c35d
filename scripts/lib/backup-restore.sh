# shellcheck shell=bash
#
# Restore and restore-test, shared by restore.sh and restore-test.sh (restore_main MODE).
# Restore extracts every unit into a staging dir (from file://, in two streams of several archives
# each; from S3, each into its own), then judges them all: each archive's sha256 (computed on the way
# from S3, by a hasher beside each stream from file://) and each restored listing (entries, sizes,
# modes, link targets, listed in one pass) against the manifest. Only verified units are moved into
# place: a bad archive never replaces anything.
# Restore-test streams, checks and removes one unit at a time (a bounded scratch dir).
# Needs common.sh, result.sh, backup-store.sh and backup-manifest.sh. Bundled; never run alone.

RESTORE_MODE=""
RESTORE_HOST_KEY=""
RESTORE_SNAPSHOT=""
RESTORE_SCRATCH=""
RESTORE_START_S=""
R_UNITS_TOTAL=0
R_UNITS_DONE=0
R_FILES=0
R_BYTES=0
R_BYTES_DOWNLOADED=0
R_FAILED=()
# Why each failed unit failed ("<unit id>: <reason>"), for the error line.
R_REASONS=()
R_LINES=()
# Why the current unit failed, and whether its archive is corrupt (quarantined) rather than unreachable.
R_UNIT_REASON=""
R_UNIT_CORRUPT=0

# Fields of the unit being restored (from manifest_units).
U_ID=""
U_KEY=""
U_SHA=""
U_BYTES=""
U_FILES=""
U_SOURCE_BYTES=""
U_LISTING=""
U_SOURCE=""
U_PATH=""

restore_elapsed() {
  elapsed_since "${RESTORE_START_S}"
}

#######################################
# Splits a manifest_units line into the U_* fields.
#######################################
restore_load_unit() {
  local path_b64
  IFS=$'\t' read -r U_ID _ U_KEY U_SHA U_BYTES U_FILES U_SOURCE_BYTES U_LISTING _ U_SOURCE path_b64 <<<"$1"
  U_PATH="$(base64 -d <<<"${path_b64}")" || return 1
  [[ -n "${U_PATH}" && "${U_PATH}" != /* && "/${U_PATH}/" != */../* ]] || return 1
}

#######################################
# Decodes the unit paths of RU_B64 into RU_PATH with one base64 process: each path's base64 is
# followed by that of a NUL byte (padded blocks decode one after the other), so the paths come out
# NUL-separated. A base64 that does not decode padded blocks in sequence gives another count: then
# each path is decoded on its own.
# Returns: non-zero when a path is empty, absolute or leads up (`..`).
#######################################
restore_decode_paths() {
  local b64 text="" path
  RU_PATH=()
  for b64 in "${RU_B64[@]+"${RU_B64[@]}"}"; do text+="${b64}"$'\n'"AA=="$'\n'; done
  while IFS= read -r -d '' path; do RU_PATH+=("${path}"); done < <(printf '%s' "${text}" | base64 -d 2>/dev/null)
  if ((${#RU_PATH[@]} != ${#RU_B64[@]})); then
    RU_PATH=()
    for b64 in "${RU_B64[@]+"${RU_B64[@]}"}"; do
      path="$(base64 -d <<<"${b64}")" || return 1
      RU_PATH+=("${path}")
    done
  fi
  for path in "${RU_PATH[@]+"${RU_PATH[@]}"}"; do
    [[ -n "${path}" && "${path}" != /* && "/${path}/" != */../* ]] || return 1
  done
}

#######################################
# Extracts the current unit's archive into a directory and verifies it against the manifest.
# Arguments: directory to extract into (the unit appears at <dir>/<unit path>).
# Returns: non-zero (with a log line) when the download, the checksum or the listing is wrong.
#######################################
restore_extract_unit() {
  R_UNIT_REASON=""
  R_UNIT_CORRUPT=0
  restore_extract_unit_checked "$@" && return 0
  # A checksum, extraction or listing mismatch means the stored archive is bad: marked so that the next
  # backup sends the unit again instead of reusing it (lib/backup-manifest.sh, quarantine/).
  ((R_UNIT_CORRUPT)) && restore_quarantine
  return 1
}

# Records why the current unit failed (a log line and R_UNIT_REASON); argument 2 = 1: the archive is bad.
restore_unit_error() {
  R_UNIT_REASON="$1"
  R_UNIT_CORRUPT="${2:-0}"
  log "error: unit ${U_ID}: ${R_UNIT_REASON}"
}

#######################################
# Writes the quarantine marker of the current unit's archive: backups/<host>/quarantine/<archive key>,
# a small JSON note of what was found. A marker that cannot be written is logged, not fatal.
#######################################
restore_quarantine() {
  local note="${RESTORE_SCRATCH}/quarantine.json"
  printf '{"key":"%s","sha256":"%s","snapshot":"%s","foundBy":"%s","at":"%s","reason":%s}\n' \
    "${U_KEY}" "${U_SHA}" "${RESTORE_SNAPSHOT}" "${RESTORE_MODE}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$(json_string "${R_UNIT_REASON}")" >"${note}"
  if store_put_file "${note}" "backups/${RESTORE_HOST_KEY}/quarantine/${U_KEY}"; then
    log "unit ${U_ID}: archive quarantined ($(store_url "backups/${RESTORE_HOST_KEY}/quarantine/${U_KEY}")); the next backup uploads it again"
  else
    log "warning: unit ${U_ID}: cannot write the quarantine marker of ${U_KEY}"
  fi
}

# The background hasher of the archive being restored, and the FIFO it reads.
RESTORE_HASH_PID=""
RESTORE_HASH_FIFO=""
RESTORE_SHA256=(sha256sum)
# tee that keeps feeding the hasher when the extraction stops early (-p: coreutils 8.24 and later).
RESTORE_TEE=(tee)

# Starts the hasher: the sha256 of what restore_archive_stream writes into the FIFO, into the digest file.
restore_hash_start() {
  if [[ -z "${RESTORE_HASH_FIFO}" ]]; then
    RESTORE_HASH_FIFO="${RESTORE_SCRATCH}/archive.fifo"
    mkfifo -- "${RESTORE_HASH_FIFO}" || return 1
  fi
  # The redirection empties the digest of the previous unit.
  timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" "${RESTORE_SHA256[@]}" <"${RESTORE_HASH_FIFO}" >"${RESTORE_SCRATCH}/digest" &
  RESTORE_HASH_PID=$!
}

# Waits for the hasher; returns its exit status.
restore_hash_wait() {
  local fd rc=0
  # A stream that never opened the FIFO (the archive could not be opened) would leave the hasher
  # blocked in open(2): a read-write open and close lets it see the end of its input.
  exec {fd}<>"${RESTORE_HASH_FIFO}"
  exec {fd}>&-
  wait "${RESTORE_HASH_PID}" || rc=$?
  RESTORE_HASH_PID=""
  return "${rc}"
}

# Exit handler: a hasher left by a stopped restore goes with it.
restore_stop_hasher() {
  [[ -z "${RESTORE_HASH_PID}" ]] || kill -- "${RESTORE_HASH_PID}" 2>/dev/null || true
  return 0
}

#######################################
# Writes the current unit's archive to stdout and into the hasher's FIFO. When the extraction stops
# early, `tee -p` still hashes the rest (an older tee stops at SIGPIPE), so a corrupt archive is
# reported by its sha256.
# Arguments: the archive's local path (file://), or empty (s3://: streamed with store_get).
#######################################
restore_archive_stream() {
  if [[ -n "$1" ]]; then
    timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" "${RESTORE_TEE[@]}" -- "${RESTORE_HASH_FIFO}" <"$1"
  else
    store_get "backups/${RESTORE_HOST_KEY}/${U_KEY}" "${STORE_TRANSFER_TIMEOUT_S}" |
      timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" "${RESTORE_TEE[@]}" -- "${RESTORE_HASH_FIFO}"
  fi
}

# The current unit's archive as a URL, for messages.
restore_unit_url() {
  store_url "backups/${RESTORE_HOST_KEY}/${U_KEY}"
}

restore_extract_unit_checked() {
  local into="$1" digest entries bytes
  restore_stream_unit "${into}" || return 1
  restore_check_read "${RESTORE_READ_SHA}" "${RESTORE_READ_HASH_RC}" "${RESTORE_READ_ERROR}" "${RESTORE_EXTRACT_ERROR}" || return 1
  IFS=$'\t' read -r digest entries bytes < <(unit_listing "${into}" "${U_PATH}" "${RESTORE_SCRATCH}/listing" 3600) || {
    restore_unit_error "the restored tree cannot be listed"
    return 1
  }
  restore_check_listing "${digest}" "${entries}" "${bytes}"
}

# What restore_stream_unit found: the archive's sha256 as read (empty when it could not be computed),
# the hasher's status, why the archive could not be read, why the extraction failed ("" when it did not).
RESTORE_READ_SHA=""
RESTORE_READ_HASH_RC=0
RESTORE_READ_ERROR=""
RESTORE_EXTRACT_ERROR=""

#######################################
# Streams the current unit's archive into a directory, its sha256 computed on the way (one read, the
# hash on another core), into RESTORE_READ_* and RESTORE_EXTRACT_ERROR. Judged by restore_check_read.
# Arguments: directory to extract into (the unit appears at <dir>/<unit path>).
# Returns: non-zero (with a log line) only when the archive is missing or the hasher cannot start.
#######################################
restore_stream_unit() {
  local into="$1" hash_rc=0 file=""
  local -a pipe_status=()
  RESTORE_READ_SHA="" RESTORE_READ_HASH_RC=0 RESTORE_READ_ERROR="" RESTORE_EXTRACT_ERROR=""
  if [[ "${STORE_KIND}" == file ]]; then
    # store_path inline: no subshell per unit.
    file="${STORE_ROOT%/}/backups/${RESTORE_HOST_KEY}/${U_KEY}"
    if [[ ! -f "${file}" ]]; then
      restore_unit_error "archive $(restore_unit_url) is missing"
      return 1
    fi
  fi
  restore_hash_start || {
    restore_unit_error "cannot start the sha256 of $(restore_unit_url)"
    return 1
  }
  {
    restore_archive_stream "${file}" 2>"${RESTORE_SCRATCH}/get.err" |
      timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" zstd -d -q -c |
      tar --extract "${TAR_READ_ARGS[@]}" --file=- --directory="${into}" --numeric-owner --preserve-permissions \
        "${TAR_PROGRESS_ARGS[@]+"${TAR_PROGRESS_ARGS[@]}"}" 2>"${RESTORE_SCRATCH}/tar.err"
    pipe_status=("${PIPESTATUS[@]}")
  } || true
  restore_hash_wait || hash_rc=$?
  RESTORE_READ_HASH_RC="${hash_rc}"
  # 141: SIGPIPE, the extraction stopped reading (judged by the sha256).
  if ((pipe_status[0] != 0 && pipe_status[0] != 141)); then
    RESTORE_READ_ERROR="cannot read $(restore_unit_url): $(head -c 300 "${RESTORE_SCRATCH}/get.err" | tr '\n' ' ')"
  fi
  [[ -s "${RESTORE_SCRATCH}/digest" ]] && read -r RESTORE_READ_SHA _ <"${RESTORE_SCRATCH}/digest"
  if ((pipe_status[1] != 0 || pipe_status[2] != 0)); then
    RESTORE_EXTRACT_ERROR="extraction failed (zstd ${pipe_status[1]}, tar ${pipe_status[2]}): $(head -c 300 "${RESTORE_SCRATCH}/tar.err" | tr '\n' ' ')"
  fi
  return 0
}

#######################################
# Judges how the current unit's archive was read: a read error, no sha256, a sha256 other than the
# manifest's (corrupt), an extraction that failed (corrupt), in this order.
# Arguments: sha256 as read, the hasher's status, read error, extraction error ("" when none).
# Returns: non-zero (restore_unit_error) when the unit failed.
#######################################
restore_check_read() {
  local got_sha="$1" hash_rc="$2" read_error="$3" extract_error="$4"
  if [[ -n "${read_error}" ]]; then
    restore_unit_error "${read_error}"
    return 1
  fi
  if ((hash_rc != 0)) || [[ ! "${got_sha}" =~ ^[0-9a-f]{64}$ ]]; then
    restore_unit_error "the sha256 of $(restore_unit_url) could not be computed (exit ${hash_rc})"
    return 1
  fi
  if [[ "${got_sha}" != "${U_SHA}" ]]; then
    restore_unit_error "archive sha256 ${got_sha} does not match the manifest's ${U_SHA} (corrupt)" 1
    return 1
  fi
  if [[ -n "${extract_error}" ]]; then
    restore_unit_error "${extract_error}" 1
    return 1
  fi
  return 0
}

# Compares the current unit's restored listing (digest, entries, bytes) with the manifest's.
restore_check_listing() {
  if [[ "$1" != "${U_LISTING}" || "$2" != "${U_FILES}" || "$3" != "${U_SOURCE_BYTES}" ]]; then
    restore_unit_error "restored listing differs from the manifest ($2 entries, $3 bytes; expected ${U_FILES}, ${U_SOURCE_BYTES})" 1
    return 1
  fi
  R_BYTES_DOWNLOADED=$((R_BYTES_DOWNLOADED + U_BYTES))
  return 0
}

# True when a directory holds an entry other than the staging dirs of restores (.gpu-maint-restore.*).
dir_has_entries() {
  local entry
  for entry in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [[ -e "${entry}" || -L "${entry}" ]] || continue
    [[ "${entry##*/}" == .gpu-maint-restore.* ]] || return 0
  done
  return 1
}

# Records one unit's outcome for the units section.
restore_record() {
  local path_json
  json_string_to path_json "${U_PATH}"
  R_LINES+=("$1 ${U_ID} files=${U_FILES} bytes=${U_SOURCE_BYTES} path=${path_json}")
}

#######################################
# Resolves the host key and snapshot and fetches its manifest into ${RESTORE_SCRATCH}/units.
# Returns: non-zero with a message in RESTORE_ERROR; 3 when the host has no snapshot.
#######################################
RESTORE_ERROR=""
restore_resolve() {
  local requested prefix listing key id newest="" found=0 manifest
  env_str -v requested GPU_MAINT_RESTORE_SNAPSHOT latest
  env_str -v RESTORE_HOST_KEY GPU_MAINT_RESTORE_HOST ""
  if [[ -z "${RESTORE_HOST_KEY}" ]]; then
    RESTORE_HOST_KEY="$(backup_host_key)" || {
      RESTORE_ERROR="cannot determine this host's backup key"
      return 1
    }
  fi
  store_confirm_client "backups/${RESTORE_HOST_KEY}/" || {
    RESTORE_ERROR="${STORE_CLIENT_ERROR}"
    return 1
  }
  # The newest snapshot, and whether the one asked for is there, in one pass over the listing.
  prefix="backups/${RESTORE_HOST_KEY}/snapshots/"
  listing="$(store_list "${prefix}")" || {
    RESTORE_ERROR="cannot list $(store_url "${prefix}")"
    return 1
  }
  while IFS=$'\t' read -r _ key; do
    id="${key#"${prefix}"}"
    id="${id%.json}"
    [[ "${id}" =~ ${SNAPSHOT_ID_RE} ]] || continue
    snapshot_after "${id}" "${newest}" && newest="${id}"
    [[ "${id}" != "${requested}" ]] || found=1
  done <<<"${listing}"
  if [[ -z "${newest}" ]]; then
    RESTORE_ERROR="no snapshot of host ${RESTORE_HOST_KEY} in $(store_url "backups/")"
    return 3
  fi
  if [[ "${requested}" == latest ]]; then
    RESTORE_SNAPSHOT="${newest}"
  elif ((found)); then
    RESTORE_SNAPSHOT="${requested}"
  else
    RESTORE_ERROR="snapshot ${requested} of host ${RESTORE_HOST_KEY} not found; newest: $(snapshot_ids "${RESTORE_HOST_KEY}" | tail -n 3 | paste -sd' ' -)"
    return 1
  fi
  # A file:// manifest is read where it lies; an s3:// one is fetched first.
  key="backups/${RESTORE_HOST_KEY}/snapshots/${RESTORE_SNAPSHOT}.json"
  manifest="${STORE_ROOT%/}/${key}"
  if [[ "${STORE_KIND}" != file ]]; then
    manifest="${RESTORE_SCRATCH}/manifest.json"
    store_get "${key}" >"${manifest}" || manifest=""
  fi
  if [[ -z "${manifest}" ]] || ! manifest_units "${manifest}" >"${RESTORE_SCRATCH}/units"; then
    RESTORE_ERROR="manifest of snapshot ${RESTORE_SNAPSHOT} cannot be read"
    return 1
  fi
  local -a lines=()
  mapfile -t lines <"${RESTORE_SCRATCH}/units"
  R_UNITS_TOTAL="${#lines[@]}"
  return 0
}

#######################################
# Prints the manifest lines of the units to restore: all, or those named in GPU_MAINT_RESTORE_UNITS
# (unit ids, or unit paths relative to their source). Returns non-zero (RESTORE_ERROR) when a named
# unit is not in the snapshot.
#######################################
restore_select_units() {
  local wanted line found unit_path
  local -a names=()
  while IFS= read -r wanted; do names+=("${wanted}"); done < <(env_list GPU_MAINT_RESTORE_UNITS "")
  if ((${#names[@]} == 0)); then
    cat -- "${RESTORE_SCRATCH}/units"
    return 0
  fi
  for wanted in "${names[@]}"; do
    found=0
    while IFS= read -r line; do
      unit_path="$(printf '%s' "${line##*$'\t'}" | base64 -d 2>/dev/null)" || unit_path=""
      # A unit path selects the large files stored on their own below it too.
      if [[ "${line%%$'\t'*}" == "${wanted}" || "${unit_path}" == "${wanted%/}" || "${unit_path}" == "${wanted%/}/"* ]]; then
        printf '%s\n' "${line}"
        found=1
      fi
    done <"${RESTORE_SCRATCH}/units"
    if ((found == 0)); then
      RESTORE_ERROR="unit ${wanted} is not in snapshot ${RESTORE_SNAPSHOT}; units: $(cut -f1 "${RESTORE_SCRATCH}/units" | head -n 10 | paste -sd' ' -)"
      return 1
    fi
  done
}

# The number of sources of the snapshot (restore_run counts them). The directory, relative to a
# restore target, that a unit's source maps to is none when the snapshot has one source (the target
# stands for it), else the source path without its leading slash.
RESTORE_SOURCES=0

#######################################
# True when a path below a directory stays inside it: no directory on the way is a symlink or `..`.
# With --force a restored unit replaces (rm -rf) the entry at its path; a symlinked parent such as
# <target>/org -> /data would otherwise redirect that deletion outside the target.
# Arguments: directory, relative path.
#######################################
path_stays_inside() {
  local p="$1" rest="$2" part
  while [[ "${rest}" == */* ]]; do
    part="${rest%%/*}"
    rest="${rest#*/}"
    [[ -z "${part}" || "${part}" == . ]] && continue
    p+="/${part}"
    [[ "${part}" != .. && ! -L "${p}" ]] || return 1
  done
  [[ "${rest}" != .. ]]
}

#######################################
# Restore mode: every selected unit into GPU_MAINT_RESTORE_TARGET.
#######################################
restore_run() {
  # Read with env_str, not env_bool: a bad value is reported in the restore's result, not by die.
  local target force staging line
  env_str -v target GPU_MAINT_RESTORE_TARGET ""
  env_str -v force GPU_MAINT_RESTORE_FORCE false
  [[ "${target}" == /* ]] || {
    RESTORE_ERROR="the restore target must be an absolute path, got: '${target}'"
    return 1
  }
  [[ "${force}" == true || "${force}" == false ]] || {
    RESTORE_ERROR="GPU_MAINT_RESTORE_FORCE must be true or false, got: '${force}'"
    return 1
  }
  mkdir -p -- "${target}" || {
    RESTORE_ERROR="cannot create target ${target}"
    return 1
  }
  target="$(cd "${target}" && pwd -P)"
  if [[ "${force}" != true ]] && dir_has_entries "${target}"; then
    RESTORE_ERROR="target ${target} is not empty; use --force to restore into it (restored units replace entries of the same name)"
    return 1
  fi
  local selected_lines="${RESTORE_SCRATCH}/units" names
  env_str -v names GPU_MAINT_RESTORE_UNITS ""
  if [[ -n "${names}" ]]; then
    restore_select_units >"${RESTORE_SCRATCH}/selected" || return 1
    selected_lines="${RESTORE_SCRATCH}/selected"
  fi
  restore_read_selected "${selected_lines}"
  restore_decode_paths || {
    RESTORE_ERROR="manifest of ${RESTORE_SNAPSHOT} has an unusable unit path"
    return 1
  }
  local need=0 selected="${#RU_ID[@]}" free k
  for k in "${!RU_ID[@]}"; do need=$((need + RU_SOURCE_BYTES[k])); done
  free_bytes_to free "${target}"
  if [[ "${free}" =~ ^[0-9]+$ ]] && ((free < need + need / 20)); then
    RESTORE_ERROR="not enough space in ${target}: $(human_bytes "${need}") to restore, $(human_bytes "${free}") free"
    return 1
  fi
  remove_stale_staging "${target}"
  # The pid in the name tells a later restore whether this one still runs.
  staging="$(mktemp -d "${target}/.gpu-maint-restore.$$.XXXXXX")" || {
    RESTORE_ERROR="cannot create a staging dir in ${target}"
    return 1
  }
  RESTORE_STAGING="${staging}"
  on_exit remove_restore_staging
  local source
  local -A source_set=()
  while IFS=$'\t' read -r _ _ _ _ _ _ _ _ _ source _; do source_set["/${source}"]=1; done <"${RESTORE_SCRATCH}/units"
  RESTORE_SOURCES="${#source_set[@]}"
  restore_read_units "${target}" "${staging}" "${selected}" "${need}"
  restore_verify_units "${staging}"
  restore_move_units "${target}" "${staging}"
  restore_record_units
  rm -rf -- "${staging:?}"
  RESTORE_STAGING=""
  ((${#R_FAILED[@]} == 0)) || {
    RESTORE_ERROR="$(restore_failure_summary)"
    return 1
  }
  if ((R_UNITS_DONE == 0)); then
    RESTORE_ERROR="snapshot ${RESTORE_SNAPSHOT} has no unit to restore: nothing was restored"
    return 1
  fi
  return 0
}

# Per selected unit k of a restore, in manifest order: the fields of its manifest line (id, archive
# key, archive sha256, archive bytes, entries, source bytes, listing digest, source, path as base64),
# read once by restore_read_selected; its unit path, directory below the target (its source's, with
# several sources), state (pending, failed or restored), why it failed, and what reading its archive
# found (restore_stream_unit's RESTORE_READ_* and RESTORE_EXTRACT_ERROR).
RU_ID=()
RU_KEY=()
RU_WANT_SHA=()
RU_BYTES=()
RU_FILES=()
RU_SOURCE_BYTES=()
RU_WANT_LISTING=()
RU_SOURCE=()
RU_B64=()
RU_PATH=()
RU_SUB=()
RU_STATE=()
RU_REASON=()
RU_SHA=()
RU_HASH_RC=()
RU_READ_ERROR=()
RU_EXTRACT_ERROR=()
# The dir below the staging dir that unit k was extracted into ("" when it was not): its own, <k>, or
# its stream's, s<n>, shared with the other units of the stream (restore_read_file_units).
RU_DIR=()
# Unit k of an archive key (file:// digests come back by key), and the restored listing of each unit.
declare -A RU_BY_KEY=()
RU_LISTING=()

# Reads the units to restore (manifest_units lines) into the RU_* fields, in one pass.
restore_read_selected() {
  local id key sha bytes files source_bytes listing source b64 k=0
  while IFS=$'\t' read -r id _ key sha bytes files source_bytes listing _ source b64; do
    RU_ID[k]="${id}" RU_KEY[k]="${key}" RU_WANT_SHA[k]="${sha}" RU_BYTES[k]="${bytes}" RU_FILES[k]="${files}"
    RU_SOURCE_BYTES[k]="${source_bytes}" RU_WANT_LISTING[k]="${listing}" RU_SOURCE[k]="${source}" RU_B64[k]="${b64}"
    k=$((k + 1))
  done <"$1"
}

# Sets the U_* fields to those of selected unit k (its path decoded once, by restore_run).
restore_unit_at() {
  U_ID="${RU_ID[$1]}" U_KEY="${RU_KEY[$1]}" U_SHA="${RU_WANT_SHA[$1]}" U_BYTES="${RU_BYTES[$1]}"
  U_FILES="${RU_FILES[$1]}" U_SOURCE_BYTES="${RU_SOURCE_BYTES[$1]}" U_LISTING="${RU_WANT_LISTING[$1]}"
  U_SOURCE="${RU_SOURCE[$1]}" U_PATH="${RU_PATH[$1]}"
  R_UNIT_REASON=""
  R_UNIT_CORRUPT=0
}

# Marks selected unit k failed with R_UNIT_REASON; an archive found bad is quarantined.
restore_unit_failed() {
  RU_STATE[$1]=failed
  RU_REASON[$1]="${R_UNIT_REASON}"
  ((R_UNIT_CORRUPT == 0)) || restore_quarantine
}

# The unit's path below the target: with several sources, below its source's dir.
restore_unit_rel() {
  REL_OUT="${RU_SUB[$1]:+${RU_SUB[$1]}/}${RU_PATH[$1]}"
}

#######################################
# Extracts every selected unit: from s3://, each into its own staging dir, <staging>/<k>, hashed on its
# way (restore_stream_unit); from file://, in streams (restore_read_file_units). Nothing is judged
# here: restore_verify_units does it for all units at once.
# Arguments: target, staging dir, number of units, their bytes.
#######################################
restore_read_units() {
  local target="$1" staging="$2" selected="$3" need="$4" k extracted=0
  local -a file_units=()
  for k in "${!RU_ID[@]}"; do
    restore_unit_at "${k}"
    RU_STATE[k]=pending
    RU_DIR[k]=""
    RU_SUB[k]=""
    ((RESTORE_SOURCES > 1)) && RU_SUB[k]="${U_SOURCE#/}"
    restore_unit_rel "${k}"
    if ! path_stays_inside "${target}" "${REL_OUT}"; then
      restore_unit_error "${target}/${REL_OUT} leads outside the target (a symlink or .. on the way); not restored"
      restore_unit_failed "${k}"
      continue
    fi
    if [[ "${STORE_KIND}" == file ]]; then
      file_units+=("${k}")
      continue
    fi
    mkdir -- "${staging}/${k}" || die "cannot create a staging dir in ${staging}"
    RU_DIR[k]="${k}"
    tar_progress_args restore "${U_ID}" "${k}" "${selected}" "${extracted}" "${need}" "${U_SOURCE_BYTES}" "${TAR_READ_RECORD_BYTES}"
    if ! restore_stream_unit "${staging}/${k}"; then
      restore_unit_failed "${k}"
      continue
    fi
    RU_SHA[k]="${RESTORE_READ_SHA}"
    RU_HASH_RC[k]="${RESTORE_READ_HASH_RC}"
    RU_READ_ERROR[k]="${RESTORE_READ_ERROR}"
    RU_EXTRACT_ERROR[k]="${RESTORE_EXTRACT_ERROR}"
    extracted=$((extracted + U_SOURCE_BYTES))
    progress_record restore "${U_ID}" "$((k + 1))" "${selected}" "${extracted}" "${need}"
  done
  ((${#file_units[@]} == 0)) || restore_read_file_units "${staging}" "${selected}" "${need}" "${file_units[@]}"
}

# Extractions running at once: two, as hosts have at least two cores and a tar writing files waits on
# the filesystem as much as on a core. The oldest is waited for first.
readonly RESTORE_PARALLEL=2
# The most archives in one stream: their keys go on one command line (well below ARG_MAX).
readonly RESTORE_STREAM_MAX_UNITS=256
# Per running extraction, oldest first: its name (s<n>: stream n; k: unit k alone), the pids of its
# zstd (timeout), its tar and its hasher (none for a unit alone: streams hash every archive), its FIFO.
RESTORE_JOB_NAME=()
RESTORE_JOB_ZSTD=()
RESTORE_JOB_TAR=()
RESTORE_JOB_HASH=()
RESTORE_JOB_FIFO=()
# One FIFO per running extraction (zstd writes, tar reads): two processes and their own statuses,
# without a subshell to collect them.
RESTORE_FIFOS=()
# The streams that failed (extracted again unit by unit).
RESTORE_STREAMS_FAILED=()

#######################################
# Extracts file:// archives in streams: one zstd decompresses several archives one after the other
# into one tar (--ignore-zeros reads past each archive's end), which extracts them into the stream's
# dir, <staging>/s<n>, while a hasher computes their sha256 from the page cache. Few processes for any
# number of units, and two streams at once (restore_plan_streams). A stream with a failed extraction or
# a bad archive is extracted again unit by unit, each into <staging>/<k> (restore_read_failed_streams),
# so that every unit is judged on its own.
# Arguments: staging dir, number of units, their bytes, the units k (file://, paths inside the target).
#######################################
restore_read_file_units() {
  local staging="$1" selected="$2" need="$3" k n extracted=0 host_dir="${STORE_ROOT%/}/backups/${RESTORE_HOST_KEY}"
  shift 3
  local -a present=()
  RESTORE_FIFOS=("${RESTORE_SCRATCH}/extract.0.fifo" "${RESTORE_SCRATCH}/extract.1.fifo")
  mkfifo -- "${RESTORE_FIFOS[@]}" || die "cannot create FIFOs in ${RESTORE_SCRATCH}"
  for k in "$@"; do
    restore_unit_at "${k}"
    RU_BY_KEY["${U_KEY}"]="${k}"
    if [[ -f "${host_dir}/${U_KEY}" ]]; then
      present+=("${k}")
    else
      RU_READ_ERROR[k]="archive $(restore_unit_url) is missing"
    fi
  done
  restore_plan_streams "${present[@]+"${present[@]}"}"
  for n in "${!RESTORE_STREAM_UNITS[@]}"; do
    [[ -n "${RESTORE_STREAM_UNITS[n]}" ]] || continue
    while ((${#RESTORE_JOB_NAME[@]} >= RESTORE_PARALLEL)); do restore_reap_extraction; done
    k="${RESTORE_STREAM_UNITS[n]%% *}"
    tar_progress_args restore "${RU_ID[k]}" "${k}" "${selected}" "${extracted}" "${need}" "${RESTORE_STREAM_BYTES[n]}" \
      "${TAR_READ_RECORD_BYTES}"
    restore_start_stream "${staging}" "${n}"
    extracted=$((extracted + RESTORE_STREAM_BYTES[n]))
    k="${RESTORE_STREAM_UNITS[n]##* }"
    progress_record restore "${RU_ID[k]}" "$((k + 1))" "${selected}" "${extracted}" "${need}"
  done
  while ((${#RESTORE_JOB_NAME[@]} > 0)); do restore_reap_extraction; done
  ((${#RESTORE_STREAMS_FAILED[@]} == 0)) || restore_read_failed_streams "${staging}"
}

# The units of each stream n (space-separated, in extraction order) and their bytes.
RESTORE_STREAM_UNITS=()
RESTORE_STREAM_BYTES=()

#######################################
# Puts units into streams (RESTORE_STREAM_UNITS, RU_DIR): whole groups, each a unit and the units of
# its source below it (large files stored on their own), these first, so that tar sets the directories'
# modes and times from the unit's own archive once the files below them are written. A source's groups
# go, in order, to the one of its two open streams with fewer bytes (one per core); a stream that
# reaches RESTORE_STREAM_MAX_UNITS archives is closed and another opened. A stream may be left empty.
# Arguments: the units k (paths inside the target).
#######################################
restore_plan_streams() {
  local k j p root slot n a b source
  local -A unit_at=() members=() open=()
  local -a roots=() count=()
  for k in "$@"; do
    restore_unit_rel "${k}"
    unit_at["${REL_OUT}"]="${k}"
  done
  for k in "$@"; do
    restore_unit_rel "${k}"
    # The outermost unit of its source above it, if any, leads its group.
    p="${REL_OUT}" root="${k}"
    while [[ "${p}" == */* ]]; do
      p="${p%/*}"
      j="${unit_at[${p}]:-}"
      [[ -n "${j}" && "${RU_SUB[j]}" == "${RU_SUB[k]}" ]] && root="${j}"
    done
    if [[ -z "${members[${root}]+set}" ]]; then
      roots+=("${root}")
      members["${root}"]=""
    fi
    ((root == k)) || members["${root}"]+=" ${k}"
  done
  RESTORE_STREAM_UNITS=()
  RESTORE_STREAM_BYTES=()
  for root in "${roots[@]+"${roots[@]}"}"; do
    # Open streams by "<slot> <source dir>" (a key that is never empty).
    source="${RU_SUB[root]}"
    for slot in 0 1; do
      [[ -z "${open["${slot} ${source}"]:-}" ]] || continue
      n="${#RESTORE_STREAM_UNITS[@]}"
      RESTORE_STREAM_UNITS[n]="" RESTORE_STREAM_BYTES[n]=0 count[n]=0
      open["${slot} ${source}"]="${n}"
    done
    a="${open["0 ${source}"]}" b="${open["1 ${source}"]}"
    slot=0 n="${a}"
    if ((RESTORE_STREAM_BYTES[b] < RESTORE_STREAM_BYTES[a])); then slot=1 n="${b}"; fi
    for k in ${members[${root}]} ${root}; do
      RESTORE_STREAM_UNITS[n]+="${RESTORE_STREAM_UNITS[n]:+ }${k}"
      RESTORE_STREAM_BYTES[n]=$((RESTORE_STREAM_BYTES[n] + RU_SOURCE_BYTES[k]))
      count[n]=$((count[n] + 1))
      RU_DIR[k]="s${n}"
    done
    ((count[n] < RESTORE_STREAM_MAX_UNITS)) || open["${slot} ${source}"]=""
  done
}

#######################################
# Starts extracting stream n into <staging>/s<n> in the background: zstd reads its archives (no copy
# into a hasher on the way) and writes into a FIFO that tar reads; a hasher reads them too.
# Arguments: staging dir, n.
#######################################
restore_start_stream() {
  local staging="$1" n="$2" k
  local -a keys=()
  for k in ${RESTORE_STREAM_UNITS[n]}; do
    restore_unit_at "${k}"
    keys+=("${U_KEY}")
  done
  mkdir -- "${staging}/s${n}" || die "cannot create a staging dir in ${staging}"
  (cd "${STORE_ROOT%/}/backups/${RESTORE_HOST_KEY}" &&
    exec timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" "${RESTORE_SHA256[@]}" -- "${keys[@]}") \
    >"${RESTORE_SCRATCH}/digests.${n}" 2>"${RESTORE_SCRATCH}/hash.err.${n}" &
  RESTORE_JOB_HASH+=("$!")
  restore_start_extraction "s${n}" "${staging}/s${n}" "${keys[@]}"
}

#######################################
# Starts one extraction job: zstd decompresses archives (keys below the host's dir), one after the
# other, into a free FIFO; tar extracts what it reads into a directory. Waits first for the oldest job
# when RESTORE_PARALLEL run. The caller has pushed the job's hasher pid (or "").
# Arguments: job name, directory, archive keys.
#######################################
restore_start_extraction() {
  local name="$1" into="$2" fifo
  shift 2
  # The FIFO of the oldest job still running is in use; a new job's FIFO is the other one then.
  fifo="${RESTORE_FIFOS[0]}"
  if ((${#RESTORE_JOB_FIFO[@]} > 0)) && [[ "${RESTORE_JOB_FIFO[0]}" == "${fifo}" ]]; then
    fifo="${RESTORE_FIFOS[1]}"
  fi
  (cd "${STORE_ROOT%/}/backups/${RESTORE_HOST_KEY}" &&
    exec timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" zstd -d -q -c -- "$@") >"${fifo}" &
  RESTORE_JOB_ZSTD+=("$!")
  # On stdin, not --file=FIFO: tar then reads its input to the end (a named archive it leaves after
  # the end-of-archive blocks, and zstd would die of SIGPIPE writing the padding).
  tar --extract --ignore-zeros "${TAR_READ_ARGS[@]}" --file=- --directory="${into}" --numeric-owner --preserve-permissions \
    "${TAR_PROGRESS_ARGS[@]+"${TAR_PROGRESS_ARGS[@]}"}" <"${fifo}" 2>"${RESTORE_SCRATCH}/tar.err.${name}" &
  RESTORE_JOB_TAR+=("$!")
  RESTORE_JOB_NAME+=("${name}")
  RESTORE_JOB_FIFO+=("${fifo}")
}

# Waits for the oldest running extraction and records how it ended: a stream is judged whole
# (restore_judge_stream), a unit alone keeps its extraction error.
restore_reap_extraction() {
  local name="${RESTORE_JOB_NAME[0]}" hash_pid="${RESTORE_JOB_HASH[0]}" zstd_rc=0 tar_rc=0 hash_rc=0 error=""
  wait "${RESTORE_JOB_ZSTD[0]}" || zstd_rc=$?
  wait "${RESTORE_JOB_TAR[0]}" || tar_rc=$?
  [[ -z "${hash_pid}" ]] || wait "${hash_pid}" || hash_rc=$?
  RESTORE_JOB_NAME=("${RESTORE_JOB_NAME[@]:1}")
  RESTORE_JOB_ZSTD=("${RESTORE_JOB_ZSTD[@]:1}")
  RESTORE_JOB_TAR=("${RESTORE_JOB_TAR[@]:1}")
  RESTORE_JOB_HASH=("${RESTORE_JOB_HASH[@]:1}")
  RESTORE_JOB_FIFO=("${RESTORE_JOB_FIFO[@]:1}")
  if ((zstd_rc != 0 || tar_rc != 0)); then
    error="extraction failed (zstd ${zstd_rc}, tar ${tar_rc}): $(head -c 300 "${RESTORE_SCRATCH}/tar.err.${name}" | tr '\n' ' ')"
  fi
  if [[ "${name}" == s* ]]; then
    restore_judge_stream "${name#s}" "${hash_rc}" "${error}"
  else
    RU_EXTRACT_ERROR[name]="${error}"
  fi
}

#######################################
# Records the sha256 of stream n's archives (its hasher's digests, `<sha256> [*]<key>`) and marks the
# stream failed when its extraction failed or an archive is not the manifest's.
# Arguments: n, the hasher's status, the extraction error ("" when none).
#######################################
restore_judge_stream() {
  local n="$1" hash_rc="$2" error="$3" sum name k ok=1
  while read -r sum name; do
    k="${RU_BY_KEY[${name#\*}]:-}"
    [[ -z "${k}" ]] || RU_SHA[k]="${sum}"
  done <"${RESTORE_SCRATCH}/digests.${n}"
  [[ -z "${error}" ]] || ok=0
  for k in ${RESTORE_STREAM_UNITS[n]}; do
    # The hasher's status counts only for an archive it gave no digest of (one it could not read).
    [[ -n "${RU_SHA[k]:-}" ]] || RU_HASH_RC[k]="${hash_rc}"
    restore_unit_at "${k}"
    [[ "${RU_SHA[k]:-}" == "${U_SHA}" ]] || ok=0
  done
  ((ok)) || RESTORE_STREAMS_FAILED+=("${n}")
}

#######################################
# Extracts the units of failed streams again, each alone into <staging>/<k>, two at once: those whose
# archive is the manifest's (the others fail on their sha256). Each unit keeps its own extraction error.
# Arguments: staging dir.
#######################################
restore_read_failed_streams() {
  local staging="$1" n k
  for n in "${RESTORE_STREAMS_FAILED[@]}"; do
    rm -rf -- "${staging:?}/s${n}"
    for k in ${RESTORE_STREAM_UNITS[n]}; do
      restore_unit_at "${k}"
      RU_DIR[k]=""
      [[ "${RU_SHA[k]:-}" == "${U_SHA}" ]] || continue
      log "unit ${U_ID}: extracted again on its own (another archive of its stream failed)"
      RU_DIR[k]="${k}"
      mkdir -- "${staging}/${k}" || die "cannot create a staging dir in ${staging}"
      while ((${#RESTORE_JOB_NAME[@]} >= RESTORE_PARALLEL)); do restore_reap_extraction; done
      RESTORE_JOB_HASH+=("")
      TAR_PROGRESS_ARGS=()
      restore_start_extraction "${k}" "${staging}/${k}" "${U_KEY}"
    done
  done
  while ((${#RESTORE_JOB_NAME[@]} > 0)); do restore_reap_extraction; done
}

# Exit handler: extractions and hashers left by a stopped restore go with them.
restore_stop_extractions() {
  local pid
  for pid in "${RESTORE_JOB_ZSTD[@]+"${RESTORE_JOB_ZSTD[@]}"}" "${RESTORE_JOB_TAR[@]+"${RESTORE_JOB_TAR[@]}"}" \
    "${RESTORE_JOB_HASH[@]+"${RESTORE_JOB_HASH[@]}"}"; do
    [[ -z "${pid}" ]] || kill -- "${pid}" 2>/dev/null || true
  done
  return 0
}

#######################################
# Judges every pending unit: how its archive was read (restore_check_read), then, for all those still
# pending, the restored listings against the manifest's, computed in one pass (restore_listings).
# Arguments: staging dir.
#######################################
restore_verify_units() {
  local staging="$1" k digest entries bytes
  local -a listed=()
  for k in "${!RU_ID[@]}"; do
    [[ "${RU_STATE[k]}" == pending ]] || continue
    restore_unit_at "${k}"
    if restore_check_read "${RU_SHA[k]:-}" "${RU_HASH_RC[k]:-0}" "${RU_READ_ERROR[k]:-}" "${RU_EXTRACT_ERROR[k]:-}"; then
      listed+=("${k}")
    else
      restore_unit_failed "${k}"
    fi
  done
  ((${#listed[@]} > 0)) || return 0
  if ! restore_listings "${staging}" "${listed[@]}"; then
    for k in "${listed[@]}"; do
      restore_unit_at "${k}"
      restore_unit_error "the restored tree cannot be listed"
      restore_unit_failed "${k}"
    done
    return 0
  fi
  for k in "${listed[@]}"; do
    restore_unit_at "${k}"
    IFS=$'\t' read -r digest entries bytes <<<"${RU_LISTING[k]}"
    if ! restore_check_listing "${digest}" "${entries}" "${bytes}"; then
      restore_unit_failed "${k}"
    fi
  done
}

# Keeps the listing records of the restored units below the staging dir, as `k<TAB>record` with the
# record's path relative to the unit's source (as unit_listing prints it): each entry goes to the
# deepest unit of its dir at or above it (first file: `dir NUL k NUL path` triples), so that a unit's
# records leave out the units below it (large files stored on their own), as the backup listed them;
# the parent dirs tar made for a unit belong to none. Fields 1-3 of a record (type, size, mode) hold no
# tab; the path ends at the record's last tab (an empty link target), or, for a symlink, at the first.
# shellcheck disable=SC2016 # an awk program: its $ are awk's
readonly RESTORE_LISTING_AWK='
BEGIN { RS = "\0" }
FNR == NR { f = (FNR - 1) % 3; if (f == 0) d = $0; else if (f == 1) k = $0; else unit[d "/" $0] = k; next }
{
  r = $0; head = ""
  for (i = 0; i < 3; i++) { t = index(r, "\t"); head = head substr(r, 1, t); r = substr(r, t + 1) }
  r = substr(r, 3)
  if (substr(head, 1, 2) == "l\t") p = substr(r, 1, index(r, "\t") - 1); else p = substr(r, 1, length(r) - 1)
  while (!(p in unit)) { if (!match(p, /\/[^\/]*$/)) next; p = substr(p, 1, RSTART - 1) }
  printf "%s\t%s./%s%c", unit[p], head, substr(r, index(r, "/") + 1), 0
}'

#######################################
# Lists the restored units below a staging dir at once, into RU_LISTING[k] (`digest<TAB>entries<TAB>
# bytes`, as unit_listing prints it): one find, one awk, one sort and one sha256sum for all of them.
# Arguments: staging dir, the units k to list.
# Returns: non-zero when the tree cannot be listed.
#######################################
restore_listings() {
  local staging="$1" dir="${RESTORE_SCRATCH}/listings" k sum name entries bytes
  shift
  rm -rf -- "${dir}" && mkdir -p -- "${dir}/u" || return 1
  for k in "$@"; do printf '%s\0%s\0%s\0' "${RU_DIR[k]}" "${k}" "${RU_PATH[k]}"; done >"${dir}/units"
  (cd "${staging}" && listing_records 3600 . -mindepth 2) >"${dir}/records" || return 1
  awk "${RESTORE_LISTING_AWK}" "${dir}/units" "${dir}/records" >"${dir}/ls.all" || return 1
  split_unit_records "${dir}/ls.all" "${dir}" lss '' || return 1
  local -a files=()
  for k in "$@"; do
    [[ -e "${dir}/u/${k}.lss" ]] || : >"${dir}/u/${k}.lss"
    files+=("${k}.lss")
    RU_LISTING[k]=""
  done
  declare -A counts=()
  while IFS=$'\t' read -r k entries bytes; do
    counts["${k}"]="${entries}"$'\t'"${bytes}"
  done < <(unit_listing_counts "${dir}/ls.all")
  while read -r sum name; do
    k="${name%.lss}"
    RU_LISTING[k]="${sum}"$'\t'"${counts[${k}]:-0	0}"
  done < <(cd "${dir}/u" && printf '%s\0' "${files[@]}" | timeout -k 5 3600 xargs -0 sha256sum --)
  for k in "$@"; do
    [[ -n "${RU_LISTING[k]}" ]] || return 1
  done
}

#######################################
# Moves the verified units from staging into place: by depth (a unit's parent dir is restored, or
# made, before the unit goes into it), with one mv per parent dir for its units. A verified unit below
# a verified unit of its stream goes with it (restore_find_carried). An entry of the same name (only
# with --force: the target was empty otherwise) is replaced. A large file stored on its own that goes
# into the directory its unit restored leaves that directory's mtime as it was restored.
# Arguments: target, staging dir.
#######################################
restore_move_units() {
  local target="$1" staging="$2" k depth_marks parent="" unit_parent
  local -a by_depth=() group=()
  restore_find_carried "${staging}"
  for k in "${!RU_ID[@]}"; do
    [[ "${RU_STATE[k]}" == pending && -z "${RU_CARRIER[k]:-}" ]] || continue
    restore_unit_rel "${k}"
    depth_marks="${REL_OUT//[!\/]/}"
    by_depth[${#depth_marks}]+=" ${k}"
  done
  for depth_marks in "${by_depth[@]+"${by_depth[@]}"}"; do
    for k in ${depth_marks}; do
      restore_unit_rel "${k}"
      unit_parent="${target}/${REL_OUT}"
      unit_parent="${unit_parent%/*}"
      if [[ "${unit_parent}" != "${parent}" && ${#group[@]} -gt 0 ]]; then
        restore_move_group "${target}" "${staging}" "${parent}" "${group[@]}"
        group=()
      fi
      parent="${unit_parent}"
      group+=("${k}")
    done
  done
  ((${#group[@]} == 0)) || restore_move_group "${target}" "${staging}" "${parent}" "${group[@]}"
  for k in "${!RU_CARRIER[@]}"; do
    restore_unit_at "${k}"
    restore_unit_rel "${k}"
    restore_check_moved "${k}" "${staging}" "${target}/${REL_OUT}"
  done
  log_lines "${RESTORE_MOVED_LOG[@]+"${RESTORE_MOVED_LOG[@]}"}"
}

# The log lines of the units moved into place (written together: one timestamp for them).
RESTORE_MOVED_LOG=()
# Per verified unit k below a verified unit of its stream: that unit, which it is moved with.
RU_CARRIER=()

#######################################
# Finds the units that go into place with a unit above them, in its tree (RU_CARRIER): in one stream
# dir, a verified unit below a verified one. A failed unit there is taken out of that tree first, the
# directory it was in keeping its times, so that it does not reach the target with it.
# Arguments: staging dir.
#######################################
restore_find_carried() {
  local staging="$1" k p carrier dropped
  local -A verified_at=()
  RU_CARRIER=()
  for k in "${!RU_ID[@]}"; do
    [[ "${RU_STATE[k]}" == pending && "${RU_DIR[k]}" == s* ]] && verified_at["${RU_DIR[k]}/${RU_PATH[k]}"]="${k}"
  done
  for k in "${!RU_ID[@]}"; do
    [[ "${RU_DIR[k]}" == s* ]] || continue
    p="${RU_PATH[k]}" carrier=""
    while [[ "${p}" == */* && -z "${carrier}" ]]; do
      p="${p%/*}"
      carrier="${verified_at["${RU_DIR[k]}/${p}"]:-}"
    done
    [[ -n "${carrier}" ]] || continue
    if [[ "${RU_STATE[k]}" == pending ]]; then
      RU_CARRIER[k]="${carrier}"
      continue
    fi
    dropped="${staging}/${RU_DIR[k]}/${RU_PATH[k]}"
    [[ -e "${dropped}" || -L "${dropped}" ]] || continue
    touch -r "${dropped%/*}" -- "${RESTORE_SCRATCH}/dropped-times" 2>/dev/null || true
    rm -rf -- "${dropped:?}"
    touch -r "${RESTORE_SCRATCH}/dropped-times" -- "${dropped%/*}" 2>/dev/null || true
  done
}

#######################################
# Marks unit k restored when it left staging and is at its place in the target, else failed.
# Arguments: k, staging dir, its place in the target.
#######################################
restore_check_moved() {
  local k="$1" staged="$2/${RU_DIR[$1]}/${RU_PATH[$1]}" dest="$3" size
  if [[ -e "${staged}" || -L "${staged}" || ! (-e "${dest}" || -L "${dest}") ]]; then
    restore_unit_error "cannot move it into ${dest}: $(head -c 300 "${RESTORE_SCRATCH}/mv.err" 2>/dev/null | tr '\n' ' ')"
    restore_unit_failed "${k}"
    return 0
  fi
  RU_STATE[k]=restored
  R_UNITS_DONE=$((R_UNITS_DONE + 1))
  R_FILES=$((R_FILES + U_FILES))
  R_BYTES=$((R_BYTES + U_SOURCE_BYTES))
  human_bytes_to size "${U_SOURCE_BYTES}"
  RESTORE_MOVED_LOG+=("restored unit ${U_ID} (${U_FILES} entries, ${size}) to ${dest}")
}

#######################################
# Moves units that go into one parent dir from staging into place, and marks each restored or failed.
# Arguments: target, staging dir, parent dir, the units k.
#######################################
restore_move_group() {
  local target="$1" staging="$2" parent="$3" k dest keep_times=0
  shift 3
  local -a sources=() moving=()
  # Checked again before anything is made or moved: a unit moved in before (a symlink, with several
  # sources) may now lie on the way.
  for k in "$@"; do
    restore_unit_rel "${k}"
    if path_stays_inside "${target}" "${REL_OUT}"; then
      moving+=("${k}")
      continue
    fi
    restore_unit_at "${k}"
    restore_unit_error "${target}/${REL_OUT} leads outside the target (a symlink or .. on the way); not restored"
    restore_unit_failed "${k}"
  done
  ((${#moving[@]} > 0)) || return 0
  set -- "${moving[@]}"
  [[ -d "${parent}" ]] || mkdir -p -- "${parent}" || true
  if [[ "${RU_PATH[$1]}" == */* ]] && touch -r "${parent}" -- "${staging}/.parent-times" 2>/dev/null; then keep_times=1; fi
  for k in "$@"; do
    dest="${parent}/${RU_PATH[k]##*/}"
    # Only with --force (checked by restore_run): the verified unit replaces the entry of the same name.
    if [[ -e "${dest}" || -L "${dest}" ]]; then rm -rf -- "${dest:?}"; fi
    sources+=("${staging}/${RU_DIR[k]}/${RU_PATH[k]}")
  done
  mv -t "${parent}" -- "${sources[@]}" 2>"${RESTORE_SCRATCH}/mv.err" || true
  ((keep_times == 0)) || touch -r "${staging}/.parent-times" -- "${parent}" || true
  for k in "$@"; do
    restore_unit_at "${k}"
    restore_check_moved "${k}" "${staging}" "${parent}/${U_PATH##*/}"
  done
}

# Records every selected unit's outcome, in manifest order (the units section, failed units and reasons).
restore_record_units() {
  local k
  for k in "${!RU_ID[@]}"; do
    restore_unit_at "${k}"
    if [[ "${RU_STATE[k]}" == restored ]]; then
      restore_record restored
    else
      R_UNIT_REASON="${RU_REASON[k]:-}"
      restore_failed
    fi
  done
}

# Records the current unit as failed, with R_UNIT_REASON.
restore_failed() {
  R_FAILED+=("${U_ID}")
  R_REASONS+=("${U_ID}: ${R_UNIT_REASON:-failed}")
  restore_record failed
}

# The error line of a run with failed units: how many, and the first reasons (the specific cause).
restore_failure_summary() {
  local n="${#R_FAILED[@]}" first="${R_REASONS[0]}"
  ((${#R_REASONS[@]} > 1)) && first+="; ${R_REASONS[1]}"
  ((${#R_REASONS[@]} > 2)) && first+="; and $((${#R_REASONS[@]} - 2)) more"
  printf '%s unit(s) of %s failed: %s' "${n}" "${R_UNITS_TOTAL}" "${first}"
}

#######################################
# Removes staging dirs that restores killed before they could clean up left in a target: those whose
# owner process (the pid in their name) is gone. Arguments: target.
#######################################
remove_stale_staging() {
  local dir pid
  for dir in "$1"/.gpu-maint-restore.*; do
    [[ -d "${dir}" && ! -L "${dir}" ]] || continue
    pid="${dir##*/.gpu-maint-restore.}"
    pid="${pid%%.*}"
    if [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null; then
      continue
    fi
    log "removing ${dir}, left by a restore that was stopped"
    rm -rf -- "${dir:?}"
  done
}

# Exit handler: the staging dir of a restore that is stopped (signal, error) goes with it.
RESTORE_STAGING=""
remove_restore_staging() {
  [[ -n "${RESTORE_STAGING}" && -d "${RESTORE_STAGING}" ]] && rm -rf -- "${RESTORE_STAGING}"
  RESTORE_STAGING=""
  return 0
}

#######################################
# Restore-test mode: a sample of units (all when they fit in GPU_MAINT_RESTORE_TEST_MAX_BYTES) is
# restored into a scratch dir one unit at a time, verified, and removed.
#######################################
restore_test_run() {
  local max scratch_root line total=0 dir free
  env_str -v max GPU_MAINT_RESTORE_TEST_MAX_BYTES 10737418240
  [[ "${max}" =~ ^[0-9]{1,15}$ ]] || {
    RESTORE_ERROR="GPU_MAINT_RESTORE_TEST_MAX_BYTES must be a byte count, got: '${max}'"
    return 1
  }
  scratch_root="$(env_str GPU_MAINT_RESTORE_SCRATCH_DIR "$(state_dir)")"
  mkdir -p -- "${scratch_root}"
  # A random sample that fits the bound, so that successive weekly tests cover different units.
  : >"${RESTORE_SCRATCH}/selected"
  while IFS= read -r line; do
    restore_load_unit "${line}" || {
      RESTORE_ERROR="manifest of ${RESTORE_SNAPSHOT} has an unusable unit path"
      return 1
    }
    if ((total + U_SOURCE_BYTES + U_BYTES <= max)); then
      printf '%s\n' "${line}" >>"${RESTORE_SCRATCH}/selected"
      total=$((total + U_SOURCE_BYTES + U_BYTES))
    fi
  done < <(shuf -- "${RESTORE_SCRATCH}/units")
  if [[ ! -s "${RESTORE_SCRATCH}/selected" ]]; then
    RESTORE_ERROR="no unit of snapshot ${RESTORE_SNAPSHOT} fits restoreTest.maxBytes ($(human_bytes "${max}"))"
    return 1
  fi
  dir="$(mktemp -d "${scratch_root}/restore-test.XXXXXX")" || {
    RESTORE_ERROR="cannot create a scratch dir in ${scratch_root}"
    return 1
  }
  RESTORE_TEST_DIR="${dir}"
  on_exit remove_restore_test_dir
  while IFS= read -r line; do
    restore_load_unit "${line}"
    free_bytes_to free "${dir}"
    if [[ "${free}" =~ ^[0-9]+$ ]] && ((free < U_SOURCE_BYTES + U_SOURCE_BYTES / 20)); then
      R_UNIT_CORRUPT=0
      restore_unit_error "not enough space in ${scratch_root} to test it ($(human_bytes "${U_SOURCE_BYTES}") needed)"
      restore_failed
      continue
    fi
    if restore_extract_unit "${dir}"; then
      R_UNITS_DONE=$((R_UNITS_DONE + 1))
      R_FILES=$((R_FILES + U_FILES))
      R_BYTES=$((R_BYTES + U_SOURCE_BYTES))
      restore_record verified
    else
      restore_failed
    fi
    rm -rf -- "${dir:?}/${U_PATH%%/*}"
  done <"${RESTORE_SCRATCH}/selected"
  remove_restore_test_dir
  ((${#R_FAILED[@]} == 0)) || {
    RESTORE_ERROR="$(restore_failure_summary)"
    return 1
  }
  if ((R_UNITS_DONE == 0)); then
    RESTORE_ERROR="snapshot ${RESTORE_SNAPSHOT} has no unit to test: nothing was verified"
    return 1
  fi
  return 0
}

RESTORE_TEST_DIR=""
remove_restore_test_dir() {
  [[ -n "${RESTORE_TEST_DIR}" && -d "${RESTORE_TEST_DIR}" ]] && rm -rf -- "${RESTORE_TEST_DIR}"
  RESTORE_TEST_DIR=""
  return 0
}

# Prints the summary section, the per-unit section and the end of the result.
restore_report() {
  local status="$1" snapshot_at=""
  [[ -n "${RESTORE_SNAPSHOT}" ]] && snapshot_at="$(snapshot_iso "${RESTORE_SNAPSHOT}")"
  kv_section "${RESTORE_MODE}" \
    "status=${status}" \
    "snapshot=${RESTORE_SNAPSHOT}" \
    "snapshot_at=${snapshot_at}" \
    "host_key=${RESTORE_HOST_KEY}" \
    "target=$([[ "${RESTORE_MODE}" == restore ]] && env_str GPU_MAINT_RESTORE_TARGET "")" \
    "units_total=${R_UNITS_TOTAL}" \
    "units_done=${R_UNITS_DONE}" \
    "units_failed=${#R_FAILED[@]}" \
    "failed_units=${R_FAILED[*]+"${R_FAILED[*]}"}" \
    "files=${R_FILES}" \
    "bytes=${R_BYTES}" \
    "bytes_downloaded=${R_BYTES_DOWNLOADED}" \
    "duration_seconds=$(restore_elapsed)" \
    "error=${RESTORE_ERROR}"
  kv_section "${RESTORE_MODE}-units" "${R_LINES[@]+"${R_LINES[@]}"}"
  result_end
}

#######################################
# Entry point of restore.sh (mode restore) and restore-test.sh (mode restore-test).
#######################################
restore_main() {
  RESTORE_MODE="$1"
  export LC_ALL=C
  local destination tool host rc=0
  env_str -v destination GPU_MAINT_BACKUP_DESTINATION ""
  [[ -n "${destination}" ]] || die "GPU_MAINT_BACKUP_DESTINATION is not set (file:///path or s3://bucket/prefix)"
  for tool in tar zstd sha256sum base64 shuf; do
    command -v "${tool}" >/dev/null 2>&1 || die "${RESTORE_MODE} needs ${tool} on PATH"
  done
  store_init "${destination}"
  command -v openssl >/dev/null 2>&1 && RESTORE_SHA256=(openssl dgst -sha256 -r)
  # Only streamed archives go through tee (restore from file:// has zstd read the file).
  if [[ "${STORE_KIND}" != file || "${RESTORE_MODE}" != restore ]]; then
    timeout -k 2 10 tee -p --version >/dev/null 2>&1 && RESTORE_TEE=(tee -p)
  fi
  on_exit restore_stop_hasher
  on_exit restore_stop_extractions
  host_id -v host
  ensure_result_tmp_dir
  RESTORE_SCRATCH="${RESULT_TMP_DIR}"
  RESTORE_START_S="$(monotonic_seconds)"
  result_begin "${RESTORE_MODE}" "${host}"
  restore_resolve || rc=$?
  if ((rc == 3)) && [[ "${RESTORE_MODE}" == restore-test ]]; then
    log "${RESTORE_ERROR}"
    restore_report empty
    return 0
  elif ((rc != 0)); then
    log "error: ${RESTORE_ERROR}"
    restore_report failed
    return 1
  fi
  if [[ "${RESTORE_MODE}" == restore ]]; then
    restore_run || rc=$?
  else
    restore_test_run || rc=$?
  fi
  if ((rc != 0)); then
    log "error: ${RESTORE_ERROR}"
    restore_report failed
    # A restore test that found a bad archive ran: that is a finding, not a failure to run.
    if [[ "${RESTORE_MODE}" == restore-test ]] && ((${#R_FAILED[@]} > 0)); then
      return 0
    fi
    return 1
  fi
  restore_report ok
  return 0
}
