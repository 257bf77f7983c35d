# shellcheck shell=bash
#
# Restore and restore-test, shared by restore.sh and restore-test.sh (restore_main MODE).
# An archive is streamed into a staging directory with its sha256 computed on the way (tee into a
# hasher). Only when the checksum and the restored listing (entries, sizes, modes, link targets)
# match the manifest is the unit moved into place: a bad archive never replaces anything.
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
  local into="$1" got_sha="" hash_rc=0 file=""
  local -a pipe_status=()
  if [[ "${STORE_KIND}" == file ]]; then
    # store_path inline: no subshell per unit.
    file="${STORE_ROOT%/}/backups/${RESTORE_HOST_KEY}/${U_KEY}"
    if [[ ! -f "${file}" ]]; then
      restore_unit_error "archive $(restore_unit_url) is missing"
      return 1
    fi
  fi
  # The archive is hashed on its way into the staging dir (one read, the hash on another core) and
  # checked, with the restored listing, before the unit moves into place.
  restore_hash_start || {
    restore_unit_error "cannot start the sha256 of $(restore_unit_url)"
    return 1
  }
  {
    restore_archive_stream "${file}" 2>"${RESTORE_SCRATCH}/get.err" |
      timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" zstd -d -q -c |
      tar --extract --file=- --directory="${into}" --numeric-owner --preserve-permissions \
        "${TAR_PROGRESS_ARGS[@]+"${TAR_PROGRESS_ARGS[@]}"}" 2>"${RESTORE_SCRATCH}/tar.err"
    pipe_status=("${PIPESTATUS[@]}")
  } || true
  restore_hash_wait || hash_rc=$?
  # 141: SIGPIPE, the extraction stopped reading (judged by the sha256 below).
  if ((pipe_status[0] != 0 && pipe_status[0] != 141)); then
    restore_unit_error "cannot read $(restore_unit_url): $(head -c 300 "${RESTORE_SCRATCH}/get.err" | tr '\n' ' ')"
    return 1
  fi
  [[ -s "${RESTORE_SCRATCH}/digest" ]] && read -r got_sha _ <"${RESTORE_SCRATCH}/digest"
  if ((hash_rc != 0)) || [[ ! "${got_sha}" =~ ^[0-9a-f]{64}$ ]]; then
    restore_unit_error "the sha256 of $(restore_unit_url) could not be computed (exit ${hash_rc})"
    return 1
  fi
  if [[ "${got_sha}" != "${U_SHA}" ]]; then
    restore_unit_error "archive sha256 ${got_sha} does not match the manifest's ${U_SHA} (corrupt)" 1
    return 1
  fi
  if ((pipe_status[1] != 0 || pipe_status[2] != 0)); then
    restore_unit_error "extraction failed (zstd ${pipe_status[1]}, tar ${pipe_status[2]}): $(head -c 300 "${RESTORE_SCRATCH}/tar.err" | tr '\n' ' ')" 1
    return 1
  fi
  local digest entries bytes
  IFS=$'\t' read -r digest entries bytes < <(unit_listing "${into}" "${U_PATH}" "${RESTORE_SCRATCH}/listing" 3600) || {
    restore_unit_error "the restored tree cannot be listed"
    return 1
  }
  if [[ "${digest}" != "${U_LISTING}" || "${entries}" != "${U_FILES}" || "${bytes}" != "${U_SOURCE_BYTES}" ]]; then
    restore_unit_error "restored listing differs from the manifest (${entries} entries, ${bytes} bytes; expected ${U_FILES}, ${U_SOURCE_BYTES})" 1
    return 1
  fi
  R_BYTES_DOWNLOADED=$((R_BYTES_DOWNLOADED + U_BYTES))
  return 0
}

# Prints free bytes on the filesystem holding a directory.
free_bytes() {
  timeout -k 2 10 df -P -B1 -- "$1" 2>/dev/null | awk 'NR == 2 { print $4 }'
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
  local requested ids
  requested="$(env_str GPU_MAINT_RESTORE_SNAPSHOT latest)"
  RESTORE_HOST_KEY="$(env_str GPU_MAINT_RESTORE_HOST "")"
  if [[ -z "${RESTORE_HOST_KEY}" ]]; then
    RESTORE_HOST_KEY="$(backup_host_key)" || {
      RESTORE_ERROR="cannot determine this host's backup key"
      return 1
    }
  fi
  ids="$(snapshot_ids "${RESTORE_HOST_KEY}")" || {
    RESTORE_ERROR="cannot list $(store_url "backups/${RESTORE_HOST_KEY}/snapshots/")"
    return 1
  }
  if [[ -z "${ids}" ]]; then
    RESTORE_ERROR="no snapshot of host ${RESTORE_HOST_KEY} in $(store_url "backups/")"
    return 3
  fi
  if [[ "${requested}" == latest ]]; then
    RESTORE_SNAPSHOT="$(tail -n 1 <<<"${ids}")"
  elif grep -qxF -- "${requested}" <<<"${ids}"; then
    RESTORE_SNAPSHOT="${requested}"
  else
    RESTORE_ERROR="snapshot ${requested} of host ${RESTORE_HOST_KEY} not found; newest: $(tail -n 3 <<<"${ids}" | paste -sd' ' -)"
    return 1
  fi
  if ! store_get "backups/${RESTORE_HOST_KEY}/snapshots/${RESTORE_SNAPSHOT}.json" >"${RESTORE_SCRATCH}/manifest.json" ||
    ! manifest_units "${RESTORE_SCRATCH}/manifest.json" >"${RESTORE_SCRATCH}/units"; then
    RESTORE_ERROR="manifest of snapshot ${RESTORE_SNAPSHOT} cannot be read"
    return 1
  fi
  R_UNITS_TOTAL="$(wc -l <"${RESTORE_SCRATCH}/units")"
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
  local target force staging line sub dest
  target="$(env_str GPU_MAINT_RESTORE_TARGET "")"
  force="$(env_str GPU_MAINT_RESTORE_FORCE false)"
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
  if [[ "${force}" != true ]] && [[ -n "$(find "${target}" -mindepth 1 -maxdepth 1 ! -name '.gpu-maint-restore.*' -print -quit)" ]]; then
    RESTORE_ERROR="target ${target} is not empty; use --force to restore into it (restored units replace entries of the same name)"
    return 1
  fi
  restore_select_units >"${RESTORE_SCRATCH}/selected" || return 1
  local need=0 selected=0 free
  while IFS= read -r line; do
    restore_load_unit "${line}" || {
      RESTORE_ERROR="manifest of ${RESTORE_SNAPSHOT} has an unusable unit path"
      return 1
    }
    need=$((need + U_SOURCE_BYTES)) selected=$((selected + 1))
  done <"${RESTORE_SCRATCH}/selected"
  free="$(free_bytes "${target}")"
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
  RESTORE_SOURCES="$(cut -f10 "${RESTORE_SCRATCH}/units" | sort -u | wc -l)"
  while IFS= read -r line; do
    restore_load_unit "${line}"
    sub=""
    ((RESTORE_SOURCES > 1)) && sub="${U_SOURCE#/}"
    if ! path_stays_inside "${target}" "${sub:+${sub}/}${U_PATH}"; then
      restore_unit_error "${target}/${sub:+${sub}/}${U_PATH} leads outside the target (a symlink or .. on the way); not restored"
      restore_failed
      continue
    fi
    [[ -z "${sub}" ]] || mkdir -p -- "${staging}/${sub}"
    tar_progress_args restore "${U_ID}" "${R_UNITS_DONE}" "${selected}" "${R_BYTES}" "${need}" "${U_SOURCE_BYTES}"
    if ! restore_extract_unit "${staging}/${sub}"; then
      restore_failed
      rm -rf -- "${staging:?}/${sub}/${U_PATH%%/*}"
      continue
    fi
    dest="${target}/${sub:+${sub}/}${U_PATH}"
    if [[ -e "${dest}" || -L "${dest}" ]]; then
      # Only with --force (checked above): the verified unit replaces the entry of the same name.
      rm -rf -- "${dest:?}"
    fi
    mkdir -p -- "${dest%/*}"
    # A large file stored on its own goes into the directory its unit restored: that directory keeps
    # the mtime it was restored with.
    local keep_times=0
    if [[ "${U_PATH}" == */* ]] && touch -r "${dest%/*}" -- "${staging}/.parent-times" 2>/dev/null; then keep_times=1; fi
    if ! mv -- "${staging}/${sub:+${sub}/}${U_PATH}" "${dest}"; then
      restore_unit_error "cannot move it into ${dest}"
      restore_failed
      continue
    fi
    ((keep_times == 0)) || touch -r "${staging}/.parent-times" -- "${dest%/*}" || true
    # A unit below a directory leaves that directory in staging; a top-level one moved whole.
    [[ "${U_PATH}" != */* ]] || rm -rf -- "${staging:?}/${sub}/${U_PATH%%/*}"
    R_UNITS_DONE=$((R_UNITS_DONE + 1))
    R_FILES=$((R_FILES + U_FILES))
    R_BYTES=$((R_BYTES + U_SOURCE_BYTES))
    restore_record restored
    progress_record restore "${U_ID}" "${R_UNITS_DONE}" "${selected}" "${R_BYTES}" "${need}"
    log "restored unit ${U_ID} (${U_FILES} entries, $(human_bytes "${U_SOURCE_BYTES}")) to ${dest}"
  done <"${RESTORE_SCRATCH}/selected"
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
  while IFS= read -r -d '' dir; do
    pid="${dir##*/.gpu-maint-restore.}"
    pid="${pid%%.*}"
    if [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null; then
      continue
    fi
    log "removing ${dir}, left by a restore that was stopped"
    rm -rf -- "${dir:?}"
  done < <(find "$1" -mindepth 1 -maxdepth 1 -type d -name '.gpu-maint-restore.*' -print0)
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
  max="$(env_str GPU_MAINT_RESTORE_TEST_MAX_BYTES 10737418240)"
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
    free="$(free_bytes "${dir}")"
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
  destination="$(env_str GPU_MAINT_BACKUP_DESTINATION "")"
  [[ -n "${destination}" ]] || die "GPU_MAINT_BACKUP_DESTINATION is not set (file:///path or s3://bucket/prefix)"
  for tool in tar zstd sha256sum base64 shuf; do
    command -v "${tool}" >/dev/null 2>&1 || die "${RESTORE_MODE} needs ${tool} on PATH"
  done
  store_init "${destination}"
  command -v openssl >/dev/null 2>&1 && RESTORE_SHA256=(openssl dgst -sha256 -r)
  timeout -k 2 10 tee -p --version >/dev/null 2>&1 && RESTORE_TEE=(tee -p)
  on_exit restore_stop_hasher
  host="$(host_id)"
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
