# shellcheck shell=bash
#
# Backup destination I/O shared by backup.sh, restore.sh and restore-test.sh: `file:///path` and
# `s3://bucket/prefix` behind one set of functions. Keys are relative to the destination root, e.g.
# `backups/i-0abc/snapshots/20261128T020000Z.json`.
#
# Writes commit atomically: a file:// object is written under a temporary name in its final directory
# and renamed after it is complete and synced; an s3:// upload is fed through a FIFO whose write end
# this shell holds, so the upload only sees end-of-file (and completes) when the caller commits: curl's
# uploader also needs the commit file written just before, and aborts its multipart upload without
# it; the AWS CLI is killed before it can see end-of-file. A multipart upload left by a killed run
# goes to the bucket's abort-incomplete-multipart lifecycle rule.
# S3 requests go through curl (s3-http.sh) when it can sign them for this run, else the AWS CLI
# (STORE_S3_CLIENT).
# Needs common.sh (log, die, on_exit), result.sh (ensure_result_tmp_dir) and s3-http.sh. Bundled
# into each script; never run alone.

STORE_KIND=""
STORE_ROOT=""
STORE_BUCKET=""
STORE_PREFIX=""
STORE_AWS_ARGS=()
# What sends S3 requests: curl (s3-http.sh) or aws (the AWS CLI).
STORE_S3_CLIENT="aws"
# Deadline of small requests (list, manifest get/put) and of one archive transfer.
env_int -v STORE_REQUEST_TIMEOUT_S GPU_MAINT_STORE_REQUEST_TIMEOUT_S 300 1
env_int -v STORE_TRANSFER_TIMEOUT_S GPU_MAINT_STORE_TRANSFER_TIMEOUT_S 86400 1
# Temporary objects of the file:// store carry this prefix; prune removes stale ones.
readonly STORE_PARTIAL_PREFIX=".partial-"

# The upload in flight (store_upload_begin .. store_upload_commit/abort).
STORE_UPLOAD_FD=""
STORE_UPLOAD_PID=""
STORE_UPLOAD_TMP=""
STORE_UPLOAD_KEY=""
STORE_UPLOAD_FIFO=""
# file:// archives renamed into place, and their fsyncs (in the background until store_flush).
STORE_UNSYNCED=()
STORE_SYNC_PIDS=()
# Committed archives whose fsync waits for store_flush (small ones).
STORE_SYNC_BATCH=()

# s3:// archives small enough are staged on local disk and sent in batches, each batch by one AWS
# CLI process (`aws s3 cp --recursive`: one start-up, parallel transfers) instead of one process per
# object: each start costs about 0.5 s of CPU before its first byte. A batch is a folder mirroring
# the keys below the destination root; while one is sent in the background the next one fills.
STORE_STAGE_ROOT=""
# Bytes a batch may hold (upper bounds of its archives); 0: staging off, every archive streamed.
STORE_STAGE_BUDGET=0
STORE_STAGE_BATCH=""
STORE_STAGE_SEQ=0
STORE_STAGE_BYTES=0
STORE_STAGE_COUNT=0
# Key folders made in every new batch folder (one mkdir for all).
STORE_STAGE_FOLDERS=()
# The batch being sent: its process, folder and archive count.
STORE_SEND_PID=""
STORE_SEND_DIR=""
STORE_SEND_COUNT=0
# Whether the upload in flight is staged, and its expected size.
STORE_UPLOAD_STAGED=0
STORE_UPLOAD_EXPECTED=0
# Local uploads handed to a background writer (store_upload_detach), by slot: the temporary file (the
# staged file itself when staged), key, whether staged, expected size, and the writer's pid.
declare -A STORE_DETACHED_TMP=()
declare -A STORE_DETACHED_KEY=()
declare -A STORE_DETACHED_STAGED=()
declare -A STORE_DETACHED_EXPECTED=()
declare -A STORE_DETACHED_PID=()
# A small object's upload started before its content exists (store_put_prepare): its key, the gate's
# pid, the write end of the FIFO the gate reads its go from, and that FIFO.
STORE_PUT_KEY=""
STORE_PUT_PID=""
STORE_PUT_FD=""
STORE_PUT_FIFO=""
# `setpriv --pdeathsig KILL --` where util-linux has it (2.33+): a process started through it is killed
# when its parent dies. Checked once, by the first store_put_prepare.
STORE_PDEATH=()
STORE_PDEATH_CHECKED=0

#######################################
# Parses the destination and prepares the store.
# Arguments: destination (`file:///abs/path` or `s3://bucket[/prefix]`).
#######################################
store_init() {
  local dest="$1" rest
  STORE_AWS_ARGS=()
  case "${dest}" in
  file:///*)
    STORE_KIND="file"
    STORE_ROOT="${dest#file://}"
    while [[ "${STORE_ROOT}" == */ && "${STORE_ROOT}" != / ]]; do STORE_ROOT="${STORE_ROOT%/}"; done
    ;;
  s3://?*)
    STORE_KIND="s3"
    rest="${dest#s3://}"
    STORE_BUCKET="${rest%%/*}"
    STORE_PREFIX="${rest#"${STORE_BUCKET}"}"
    STORE_PREFIX="${STORE_PREFIX#/}"
    [[ -z "${STORE_PREFIX}" || "${STORE_PREFIX}" == */ ]] || STORE_PREFIX+="/"
    [[ "${STORE_BUCKET}" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] ||
      die "backup destination ${dest}: bucket name '${STORE_BUCKET}' is not a valid S3 bucket name"
    # Each AWS CLI request: connect and read (per socket read) timeouts, and a bounded number of
    # attempts, so that an endpoint that accepts and never answers fails a call in minutes instead of
    # holding it. https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-options.html
    # (--cli-read-timeout, --cli-connect-timeout),
    # https://docs.aws.amazon.com/credref/latest/refdocs/setting-global-max_attempts.html
    local read_timeout_s endpoint_url
    env_int -v read_timeout_s GPU_MAINT_STORE_READ_TIMEOUT_S 60 1 9999
    STORE_AWS_ARGS+=(--cli-connect-timeout "$((read_timeout_s < 10 ? read_timeout_s : 10))" --cli-read-timeout "${read_timeout_s}")
    export AWS_MAX_ATTEMPTS="${AWS_MAX_ATTEMPTS:-3}"
    env_str -v endpoint_url GPU_MAINT_S3_ENDPOINT_URL ""
    if [[ -n "${endpoint_url}" ]]; then
      STORE_AWS_ARGS+=(--endpoint-url "${endpoint_url}")
    fi
    store_choose_s3_client "${dest}" "${endpoint_url}" "${read_timeout_s}"
    ;;
  *)
    die "backup destination must be file:///absolute/path or s3://bucket[/prefix], got: '${dest}'"
    ;;
  esac
  on_exit store_abort_in_flight
}

# Sets STORE_S3_CLIENT from GPU_MAINT_S3_CLIENT (auto, curl or aws): auto takes curl when s3h_init
# finds it can sign this run's requests (store_confirm_client then proves it), and says why not otherwise.
# Arguments: destination, endpoint URL (may be empty), read timeout in seconds.
STORE_S3_WANTED="aws"
store_choose_s3_client() {
  env_str -v STORE_S3_WANTED GPU_MAINT_S3_CLIENT auto
  STORE_S3_CLIENT="aws"
  case "${STORE_S3_WANTED}" in
  auto | curl)
    ensure_result_tmp_dir
    if s3h_init "${STORE_BUCKET}" "$2" "$3" "${RESULT_TMP_DIR}/s3"; then
      STORE_S3_CLIENT="curl"
      return 0
    fi
    store_leave_curl "$1" || die "${STORE_CLIENT_ERROR}"
    ;;
  aws) store_leave_curl "$1" || die "${STORE_CLIENT_ERROR}" ;;
  *) die "GPU_MAINT_S3_CLIENT must be auto, curl or aws, got: '${STORE_S3_WANTED}'" ;;
  esac
}

# Moves the run to the AWS CLI (S3H_WHY says why).
# Arguments: destination. Returns: non-zero with STORE_CLIENT_ERROR set when curl was required or the
#   AWS CLI is missing.
STORE_CLIENT_ERROR=""
store_leave_curl() {
  STORE_S3_CLIENT="aws"
  if [[ "${STORE_S3_WANTED}" == curl ]]; then
    STORE_CLIENT_ERROR="GPU_MAINT_S3_CLIENT=curl, but curl cannot send the requests of $1: ${S3H_WHY}"
    return 1
  elif [[ "${STORE_S3_WANTED}" == auto ]]; then
    log "S3 requests go through the AWS CLI: ${S3H_WHY}"
  fi
  command -v aws >/dev/null 2>&1 && return 0
  STORE_CLIENT_ERROR="backup destination $1 needs the AWS CLI (aws) on PATH (${S3H_WHY:-GPU_MAINT_S3_CLIENT=aws})"
  return 1
}

#######################################
# Proves curl's signature with the run's first requests (s3h_probe: an empty listing of the host's own
# folder and a read of a key in it, both allowed by its IAM policy), before its other requests; a
# refusal moves the run to the AWS CLI.
# Nothing to do for file:// or the AWS CLI.
# Arguments: key prefix of the host's folder, e.g. `backups/i-0abc/`.
# Returns: non-zero with STORE_CLIENT_ERROR set (logged) when no client can send the run's requests.
#######################################
store_confirm_client() {
  [[ "${STORE_KIND}" == s3 && "${STORE_S3_CLIENT}" == curl ]] || return 0
  s3h_probe "${STORE_REQUEST_TIMEOUT_S}" "${STORE_PREFIX}$1" && return 0
  store_leave_curl "$(store_url "")" && return 0
  log "error: ${STORE_CLIENT_ERROR}"
  return 1
}

# Exit handler: an upload still in flight when the script exits is abandoned, never completed; a
# batch being sent is stopped (each object of it is stored whole or not at all) and the staging
# folder removed.
store_abort_in_flight() {
  if [[ -n "${STORE_UPLOAD_FD}" || -n "${STORE_UPLOAD_PID}" ]]; then
    store_upload_abort
  fi
  store_put_cancel
  local slot
  for slot in "${!STORE_DETACHED_TMP[@]}"; do
    store_upload_abort_detached "${slot}"
  done
  if [[ -n "${STORE_SEND_PID}" ]]; then
    kill -TERM "${STORE_SEND_PID}" 2>/dev/null || true
    wait "${STORE_SEND_PID}" 2>/dev/null || true
    STORE_SEND_PID=""
  fi
  [[ -z "${STORE_STAGE_ROOT}" ]] || rm -rf -- "${STORE_STAGE_ROOT}"
  return 0
}

#######################################
# Turns staging on for an s3:// store: small archives are written below a folder of their own in
# dir (on disk, not a tmpfs: the state dir) and sent in batches. Staging folders a killed run left
# behind are removed now (the caller holds the backup lock); the folder of this run is made only when
# a first archive is to be written (store_make_folders), so that a run that sends nothing costs no
# process for it.
# Arguments: dir, budget in bytes (0: off).
#######################################
STORE_STAGE_PARENT=""
STORE_STAGE_WANTED=0
store_stage_init() {
  local dir="$1" budget="$2"
  [[ "${STORE_KIND}" == s3 ]] || return 0
  local -a stale=("${dir}"/backup-stage.*)
  [[ ! -e "${stale[0]}" ]] || rm -rf -- "${stale[@]}" 2>/dev/null || true
  STORE_STAGE_PARENT="${dir}"
  STORE_STAGE_WANTED="${budget}"
}

# Makes this run's staging folder. A batch holds at most the budget, and at most a quarter of the
# free space of the folder's disk, so that staging never fills it; with less than 64 MiB free,
# staging stays off (every archive is streamed).
store_stage_open() {
  local budget="${STORE_STAGE_WANTED}" free
  STORE_STAGE_WANTED=0
  ((budget > 0)) || return 0
  free_bytes_to free "${STORE_STAGE_PARENT}"
  [[ "${free}" =~ ^[0-9]+$ ]] || free=0
  if ((free < 67108864)); then
    log "staging off: $(human_bytes "${free}") free in ${STORE_STAGE_PARENT}; every archive is streamed on its own"
    return 0
  fi
  ((budget <= free / 4)) || budget=$((free / 4))
  STORE_STAGE_ROOT="$(mktemp -d "${STORE_STAGE_PARENT}/backup-stage.XXXXXX")" || return 0
  STORE_STAGE_BUDGET="${budget}"
  store_stage_next_batch
}

# Starts a new, empty batch folder (with the key folders made so far).
store_stage_next_batch() {
  STORE_STAGE_SEQ=$((STORE_STAGE_SEQ + 1))
  STORE_STAGE_BATCH="${STORE_STAGE_ROOT}/${STORE_STAGE_SEQ}"
  STORE_STAGE_BYTES=0
  STORE_STAGE_COUNT=0
  local -a dirs=("${STORE_STAGE_BATCH}")
  local key
  for key in "${STORE_STAGE_FOLDERS[@]+"${STORE_STAGE_FOLDERS[@]}"}"; do dirs+=("${STORE_STAGE_BATCH}/${key}"); done
  mkdir -p -- "${dirs[@]}"
}

# Counts an archive into the batch being filled (1) or out of it (-1). Arguments: 1 or -1, its size bound.
store_stage_count() {
  STORE_STAGE_COUNT=$((STORE_STAGE_COUNT + $1))
  STORE_STAGE_BYTES=$((STORE_STAGE_BYTES + $1 * $2))
}

# True when the batch being filled holds archives.
store_stage_filled() {
  [[ -n "${STORE_STAGE_ROOT}" ]] && ((STORE_STAGE_COUNT > 0))
}

# True when an archive of at most this many bytes would be staged (not streamed on its own).
store_stage_takes() {
  [[ -n "${STORE_STAGE_ROOT}" ]] && (($1 <= STORE_STAGE_BUDGET))
}

# True when the batch being filled holds archives and one more of this many bytes would overflow it:
# the caller then hashes the batch's archives and calls store_stage_send.
store_stage_full() {
  store_stage_takes "$1" && ((STORE_STAGE_COUNT > 0 && STORE_STAGE_BYTES + $1 > STORE_STAGE_BUDGET))
}

# Sets STORE_LOCAL_FILE to the local file an archive was written to (file://, or staged for s3://);
# empty for an archive streamed to S3. Arguments: key.
STORE_LOCAL_FILE=""
store_local_file_set() {
  STORE_LOCAL_FILE=""
  if [[ "${STORE_KIND}" == file ]]; then
    STORE_LOCAL_FILE="${STORE_ROOT%/}/$1"
  elif [[ -n "${STORE_STAGE_ROOT}" && -f "${STORE_STAGE_BATCH}/$1" ]]; then
    STORE_LOCAL_FILE="${STORE_STAGE_BATCH}/$1"
  fi
}

# Prints the local file of an archive (store_local_file_set); nothing for one streamed to S3.
# Arguments: key.
store_local_file() {
  store_local_file_set "$1"
  [[ -z "${STORE_LOCAL_FILE}" ]] || printf '%s\n' "${STORE_LOCAL_FILE}"
}

#######################################
# Sends the batch being filled in the background (one AWS CLI process) and starts a new one; waits
# first for the batch sent before, so that at most two batches are on disk. Any exit status but 0 is
# a failure: 1 is a failed transfer, 2 a file skipped (all others sent), both leave an archive the
# manifest would name missing (https://docs.aws.amazon.com/cli/latest/topic/return-codes.html). A
# batch cut short leaves whole objects or none: "Amazon S3 never adds partial objects"
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html); unfinished multipart uploads
# go to the bucket's abort-incomplete-multipart rule.
# Returns: non-zero when the batch sent before failed (logged).
#######################################
store_stage_send() {
  [[ -n "${STORE_STAGE_ROOT}" ]] && ((STORE_STAGE_COUNT > 0)) || return 0
  if ((${#STORE_DETACHED_TMP[@]} > 0)); then
    log "error: a batch of archives cannot be sent while ${#STORE_DETACHED_TMP[@]} of them are being written"
    return 1
  fi
  store_stage_wait || return 1
  STORE_SEND_DIR="${STORE_STAGE_BATCH}"
  STORE_SEND_COUNT="${STORE_STAGE_COUNT}"
  if [[ "${STORE_S3_CLIENT}" == curl ]]; then
    s3h_put_tree "${STORE_SEND_DIR}" "${STORE_PREFIX}" "${STORE_TRANSFER_TIMEOUT_S}" >/dev/null 2>"${STORE_SEND_DIR}.err" &
  else
    timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" aws s3 cp --recursive --only-show-errors --no-progress \
      "${STORE_SEND_DIR}" "s3://${STORE_BUCKET}/${STORE_PREFIX}" "${STORE_AWS_ARGS[@]+"${STORE_AWS_ARGS[@]}"}" \
      >/dev/null 2>"${STORE_SEND_DIR}.err" &
  fi
  STORE_SEND_PID=$!
  store_stage_next_batch
}

#######################################
# Waits for the batch being sent, then removes its folder.
# Returns: non-zero when one of its archives could not be stored (logged with the CLI's words).
#######################################
store_stage_wait() {
  [[ -n "${STORE_SEND_PID}" ]] || return 0
  local rc=0
  wait "${STORE_SEND_PID}" || rc=$?
  STORE_SEND_PID=""
  if ((rc != 0)); then
    log "error: upload of ${STORE_SEND_COUNT} archive(s) to $(store_url "") failed (${STORE_S3_CLIENT} exit ${rc}): $(head -c 300 "${STORE_SEND_DIR}.err" 2>/dev/null | tr '\n' ' ')"
  fi
  rm -rf -- "${STORE_SEND_DIR}" "${STORE_SEND_DIR}.err"
  return "${rc}"
}

#######################################
# Removes the temporary files (file://) that writers killed before they could clean up left below a
# key prefix: those whose writer (the pid that ends their name) is gone. S3 needs nothing: an upload
# never completed leaves no object, and the bucket's lifecycle rule aborts its multipart upload.
# Arguments: key prefix. Outputs: the number removed.
#######################################
store_remove_stale_partials() {
  local n=0 file pid
  if [[ "${STORE_KIND}" == file && -d "$(store_path "$1")" ]]; then
    while IFS= read -r -d '' file; do
      pid="${file##*.}"
      if [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null; then
        continue
      fi
      rm -f -- "${file}" && n=$((n + 1))
    done < <(timeout -k 5 "${STORE_REQUEST_TIMEOUT_S}" find "$(store_path "$1")" -type f -name "${STORE_PARTIAL_PREFIX}*" -print0)
  fi
  printf '%s\n' "${n}"
}

# Makes the folders of keys in a file:// store or the staging folder of an s3:// one, with one
# process (S3 has no folders). A folder that cannot be made is reported by the write into it.
# Arguments: key prefixes.
store_make_folders() {
  local -a dirs=()
  local key
  if [[ "${STORE_KIND}" == s3 ]]; then
    ((STORE_STAGE_WANTED == 0)) || store_stage_open
    [[ -n "${STORE_STAGE_ROOT}" ]] || return 0
    STORE_STAGE_FOLDERS+=("$@")
    for key in "$@"; do dirs+=("${STORE_STAGE_BATCH}/${key}"); done
    mkdir -p -- "${dirs[@]}" 2>/dev/null || true
    return 0
  fi
  for key in "$@"; do dirs+=("${STORE_ROOT%/}/${key}"); done
  timeout -k 5 "${STORE_REQUEST_TIMEOUT_S}" mkdir -p -- "${dirs[@]}" 2>/dev/null || true
}

# Prints a human-readable location for a key (logs and messages).
store_url() {
  if [[ "${STORE_KIND}" == file ]]; then
    printf 'file://%s/%s\n' "${STORE_ROOT%/}" "$1"
  else
    printf 's3://%s/%s%s\n' "${STORE_BUCKET}" "${STORE_PREFIX}" "$1"
  fi
}

store_path() {
  printf '%s/%s\n' "${STORE_ROOT%/}" "$1"
}

# Runs the AWS CLI with the store's endpoint under a deadline; the network can hang.
store_aws() {
  local limit_s="$1"
  shift
  timeout -k 10 "${limit_s}" aws "$@" "${STORE_AWS_ARGS[@]+"${STORE_AWS_ARGS[@]}"}"
}

#######################################
# Lists objects below a key prefix.
# Arguments: key prefix ending with `/`.
# Outputs: `size<TAB>key` lines (keys relative to the destination root); temporary objects excluded.
#######################################
store_list() {
  local prefix="$1"
  if [[ "${STORE_KIND}" == file ]]; then
    local dir
    dir="$(store_path "${prefix}")"
    [[ -d "${dir}" ]] || return 0
    timeout -k 5 "${STORE_REQUEST_TIMEOUT_S}" find "${dir}" -type f ! -name "${STORE_PARTIAL_PREFIX}*" \
      -printf "%s\t${prefix//%/%%}%P\n"
  elif [[ "${STORE_S3_CLIENT}" == curl ]]; then
    local size key
    s3h_list "${STORE_PREFIX}${prefix}" "${STORE_REQUEST_TIMEOUT_S}" | while IFS=$'\t' read -r size key; do
      printf '%s\t%s\n' "${size}" "${key#"${STORE_PREFIX}"}"
    done
    ((PIPESTATUS[0] == 0))
  else
    local out
    out="$(store_aws "${STORE_REQUEST_TIMEOUT_S}" s3api list-objects-v2 --bucket "${STORE_BUCKET}" \
      --prefix "${STORE_PREFIX}${prefix}" --query 'Contents[].[Size,Key]' --output text)" || return 1
    [[ -z "${out}" || "${out}" == None ]] && return 0
    local size key
    while IFS=$'\t' read -r size key; do
      [[ -n "${key}" && "${size}" =~ ^[0-9]+$ ]] || continue
      printf '%s\t%s\n' "${size}" "${key#"${STORE_PREFIX}"}"
    done <<<"${out}"
  fi
}

#######################################
# Copies an object to stdout.
# Arguments: key; optional deadline in seconds (default: the small-request deadline).
#######################################
store_get() {
  local key="$1" limit_s="${2:-${STORE_REQUEST_TIMEOUT_S}}"
  if [[ "${STORE_KIND}" == file ]]; then
    timeout -k 5 "${limit_s}" cat -- "$(store_path "${key}")"
  elif [[ "${STORE_S3_CLIENT}" == curl ]]; then
    s3h_get "${STORE_PREFIX}${key}" "${limit_s}"
  else
    store_aws "${limit_s}" s3 cp --only-show-errors "s3://${STORE_BUCKET}/${STORE_PREFIX}${key}" -
  fi
}

#######################################
# Starts the s3:// upload of a small object (a manifest) before its content exists, so that the AWS
# CLI's start (about 0.5 s of Python imports, see store_stage_send) overlaps the run's remaining work
# instead of following it; store_put_file with the same key feeds and completes it. Nothing happens
# on file://, or when the FIFO cannot be made (store_put_file then starts the CLI itself).
# The CLI reads from a gate (store_put_gate), not from this shell: a FIFO's reader sees end-of-file
# whenever its writer dies, and a CLI reading end-of-file stores what it read as a whole object. The
# gate sends the content only after reading a complete go line; when this shell exits without one
# (killed, failed, store_put_cancel), the gate stops the CLI before its input ends. Were the gate itself
# killed (`pkill -9 -f backup.sh` matches it too), the CLI's input would end with it: timeout(1) and
# the CLI are started with a parent-death signal (STORE_PDEATH), so they die with the gate, before
# the CLI can send what it read (without setpriv, such an empty object is an unreadable manifest: prune
# keeps it, never counts it as a good snapshot and deletes no archive; lambda/core/backup/prune.ts).
# Arguments: key, scratch dir.
#######################################
store_put_prepare() {
  local key="$1" scratch="$2" fd
  # curl starts in milliseconds: nothing to hide.
  [[ "${STORE_KIND}" == s3 && "${STORE_S3_CLIENT}" == aws ]] || return 0
  store_put_cancel
  if ((STORE_PDEATH_CHECKED == 0)); then
    STORE_PDEATH_CHECKED=1
    if timeout -k 2 10 setpriv --pdeathsig KILL -- true 2>/dev/null; then STORE_PDEATH=(setpriv --pdeathsig KILL --); fi
  fi
  STORE_PUT_FIFO="${scratch}/put-go.fifo"
  rm -f -- "${STORE_PUT_FIFO}" "${STORE_PUT_FIFO}.data"
  mkfifo -- "${STORE_PUT_FIFO}" "${STORE_PUT_FIFO}.data" || {
    STORE_PUT_FIFO=""
    return 0
  }
  store_put_gate "${key}" "${STORE_PUT_FIFO}.data" <"${STORE_PUT_FIFO}" >/dev/null 2>"${STORE_PUT_FIFO}.err" &
  STORE_PUT_PID=$!
  exec {fd}>"${STORE_PUT_FIFO}" || {
    kill "${STORE_PUT_PID}" 2>/dev/null || true
    STORE_PUT_PID=""
    return 0
  }
  STORE_PUT_FD="${fd}"
  STORE_PUT_KEY="${key}"
}

#######################################
# The gate of a prepared upload (runs in the background; stdin: the go FIFO). Starts the AWS CLI on a
# FIFO of its own, then waits for one line `<local file>`: sends that file and returns the CLI's status.
# On end-of-file without a line it stops the CLI (which has read nothing yet) while still holding the
# CLI's input open, so that no object is stored.
# Arguments: key, data FIFO.
#######################################
store_put_gate() {
  local key="$1" data="$2" file cli out rc=0
  # A simple command, so that $! is timeout(1) itself (setpriv execs it) and a TERM reaches the CLI;
  # --foreground keeps the CLI in the script's process group (a group kill stops it too).
  "${STORE_PDEATH[@]+"${STORE_PDEATH[@]}"}" timeout --foreground -k 10 "${STORE_TRANSFER_TIMEOUT_S}" \
    "${STORE_PDEATH[@]+"${STORE_PDEATH[@]}"}" aws s3 cp --only-show-errors --content-type application/json - \
    "s3://${STORE_BUCKET}/${STORE_PREFIX}${key}" "${STORE_AWS_ARGS[@]+"${STORE_AWS_ARGS[@]}"}" <"${data}" >/dev/null &
  cli=$!
  exec {out}>"${data}"
  if IFS= read -r file && [[ -f "${file}" ]]; then
    cat -- "${file}" >&"${out}" || rc=1
    exec {out}>&-
    wait "${cli}" || rc=$?
    return "${rc}"
  fi
  kill -TERM "${cli}" 2>/dev/null || true
  wait "${cli}" 2>/dev/null || true
  exec {out}>&-
  return 1
}

# Cancels a prepared upload: the gate reads end-of-file and stops its CLI; nothing is stored.
store_put_cancel() {
  [[ -n "${STORE_PUT_PID}" ]] || return 0
  store_put_close_go
  wait "${STORE_PUT_PID}" 2>/dev/null || true
  store_put_forget
}

store_put_close_go() {
  if [[ -n "${STORE_PUT_FD}" ]]; then
    exec {STORE_PUT_FD}>&-
    STORE_PUT_FD=""
  fi
}

store_put_forget() {
  rm -f -- "${STORE_PUT_FIFO}" "${STORE_PUT_FIFO}.data" "${STORE_PUT_FIFO}.err"
  STORE_PUT_PID="" STORE_PUT_KEY="" STORE_PUT_FIFO=""
}

#######################################
# Completes a prepared upload of this key with a local file. A subshell writes the go line: were the
# gate gone, SIGPIPE ends the subshell, not this script.
# Arguments: local file, key. Returns: non-zero when no upload of this key was prepared or it failed
#   (logged; the caller then puts the file on its own).
#######################################
store_put_commit() {
  local file="$1" key="$2" rc=0
  [[ -n "${STORE_PUT_PID}" && "${STORE_PUT_KEY}" == "${key}" ]] || return 1
  (printf '%s\n' "${file}" >&"${STORE_PUT_FD}") 2>/dev/null || rc=1
  store_put_close_go
  wait "${STORE_PUT_PID}" || rc=$?
  if ((rc != 0)); then
    log "the upload of $(store_url "${key}") started ahead failed (exit ${rc}): $(head -c 300 "${STORE_PUT_FIFO}.err" 2>/dev/null | tr '\n' ' '); putting it again"
  fi
  store_put_forget
  return "${rc}"
}

#######################################
# Writes a small local file (a manifest) as an object, atomically (through the upload store_put_prepare
# started for this key, if any).
# Arguments: local file, key.
#######################################
store_put_file() {
  local file="$1" key="$2"
  store_put_commit "${file}" "${key}" && return 0
  # An upload prepared for another key (or none) is not this one.
  store_put_cancel
  if [[ "${STORE_KIND}" == file ]]; then
    local target tmp
    target="$(store_path "${key}")"
    [[ -d "${target%/*}" ]] || mkdir -p -- "${target%/*}" || return 1
    tmp="${target%/*}/${STORE_PARTIAL_PREFIX}${target##*/}.$$"
    if cp -- "${file}" "${tmp}" && sync -- "${tmp}" && mv -f -- "${tmp}" "${target}"; then
      sync -- "${target%/*}" 2>/dev/null || true
      return 0
    fi
    rm -f -- "${tmp}"
    return 1
  elif [[ "${STORE_S3_CLIENT}" == curl ]]; then
    s3h_put_file "${file}" "${STORE_PREFIX}${key}" "${STORE_REQUEST_TIMEOUT_S}" application/json
  else
    store_aws "${STORE_REQUEST_TIMEOUT_S}" s3 cp --only-show-errors --content-type application/json \
      "${file}" "s3://${STORE_BUCKET}/${STORE_PREFIX}${key}"
  fi
}

#######################################
# Starts a streamed upload. Write the data to fd ${STORE_UPLOAD_FD}, then call store_upload_commit
# (only when everything written is complete) or store_upload_abort.
# Arguments: key, expected size in bytes (S3 part sizing; an upper bound is fine), scratch dir.
#######################################
store_upload_begin() {
  local key="$1" expected="$2" scratch="$3" fd
  STORE_UPLOAD_KEY="${key}"
  STORE_UPLOAD_STAGED=0
  if [[ "${STORE_KIND}" == s3 ]] && store_stage_takes "${expected}"; then
    # Staged: written under its key in the batch folder, sent with the batch (store_stage_send).
    # Nothing sends a batch while one of its archives is being written.
    local target="${STORE_STAGE_BATCH}/${key}"
    [[ -d "${target%/*}" ]] || mkdir -p -- "${target%/*}" || return 1
    STORE_UPLOAD_TMP="${target}"
    exec {fd}>"${STORE_UPLOAD_TMP}" || return 1
    STORE_UPLOAD_FD="${fd}"
    STORE_UPLOAD_STAGED=1
    STORE_UPLOAD_EXPECTED="${expected}"
  elif [[ "${STORE_KIND}" == file ]]; then
    local target="${STORE_ROOT%/}/${key}"
    [[ -d "${target%/*}" ]] || mkdir -p -- "${target%/*}" || return 1
    STORE_UPLOAD_TMP="${target%/*}/${STORE_PARTIAL_PREFIX}${target##*/}.$$"
    exec {fd}>"${STORE_UPLOAD_TMP}" || return 1
    STORE_UPLOAD_FD="${fd}"
  else
    STORE_UPLOAD_FIFO="${scratch}/upload.fifo"
    rm -f -- "${STORE_UPLOAD_FIFO}" "${STORE_UPLOAD_FIFO}.commit"
    mkfifo -- "${STORE_UPLOAD_FIFO}" || return 1
    if [[ "${STORE_S3_CLIENT}" == curl ]]; then
      # Completes only after reading end-of-file with the commit file present (store_upload_commit).
      s3h_put_stream "${STORE_PREFIX}${key}" "${expected}" "${scratch}/s3-parts" "${STORE_UPLOAD_FIFO}.commit" \
        "${STORE_TRANSFER_TIMEOUT_S}" <"${STORE_UPLOAD_FIFO}" &
    else
      # A simple command, not a function: $! must be timeout(1) itself, so that a signal reaches the CLI.
      # --foreground keeps the CLI in this script's process group: when the script is killed, the CLI
      # dies with it instead of reading end-of-file and completing a partial object.
      timeout --foreground -k 10 "${STORE_TRANSFER_TIMEOUT_S}" aws s3 cp --only-show-errors --expected-size "${expected}" - \
        "s3://${STORE_BUCKET}/${STORE_PREFIX}${key}" "${STORE_AWS_ARGS[@]+"${STORE_AWS_ARGS[@]}"}" <"${STORE_UPLOAD_FIFO}" &
    fi
    STORE_UPLOAD_PID=$!
    # The reader opens the FIFO as it starts, so opening the write end below never blocks for long;
    # the upload sees end-of-file only when this shell closes that end.
    exec {fd}>"${STORE_UPLOAD_FIFO}" || {
      kill "${STORE_UPLOAD_PID}" 2>/dev/null || true
      return 1
    }
    STORE_UPLOAD_FD="${fd}"
  fi
}

# Closes the upload's write end (if open).
store_upload_close_fd() {
  if [[ -n "${STORE_UPLOAD_FD}" ]]; then
    exec {STORE_UPLOAD_FD}>&-
    STORE_UPLOAD_FD=""
  fi
}

#######################################
# Renames a complete file:// temporary file into place under its key and schedules its fsync.
# Arguments: temporary file, key, `small` (fsync batched by store_flush) or `large` (fsynced in the
#   background at once).
# Returns: non-zero when it could not be renamed (the temporary file is removed then).
#######################################
store_file_commit() {
  local tmp="$1" target="${STORE_ROOT%/}/$2" size_hint="$3"
  if ! mv -f -- "${tmp}" "${target}"; then
    rm -f -- "${tmp}"
    return 1
  fi
  STORE_UNSYNCED+=("${target}")
  if [[ "${size_hint}" == small ]]; then
    # Small archives are fsynced together by store_flush: one process for all of them.
    STORE_SYNC_BATCH+=("${target}")
  else
    # fsync in the background: write-back overlaps the next unit; store_flush waits for it.
    timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" sync -- "${target}" &
    STORE_SYNC_PIDS+=("$!")
  fi
}

#######################################
# Hands the local upload in flight (store_upload_is_local) to a writer started in the background that
# holds its own copy of the descriptor: this shell's write end is closed and the upload's state moves
# to a slot, so that another upload can begin while this one is written. A staged archive counts into
# its batch at once; the batch is not sent while it is being written (store_stage_send refuses).
# Finish with store_upload_commit_detached (once the writer succeeded) or store_upload_abort_detached.
# Arguments: slot name, pid of the writer (stopped by store_abort_in_flight when the script exits).
# Returns: non-zero when the upload in flight is not a local one (nothing changed then).
#######################################
store_upload_detach() {
  local slot="$1"
  store_upload_is_local || return 1
  store_upload_close_fd
  STORE_DETACHED_TMP["${slot}"]="${STORE_UPLOAD_TMP}"
  STORE_DETACHED_KEY["${slot}"]="${STORE_UPLOAD_KEY}"
  STORE_DETACHED_STAGED["${slot}"]="${STORE_UPLOAD_STAGED}"
  STORE_DETACHED_EXPECTED["${slot}"]="${STORE_UPLOAD_EXPECTED}"
  STORE_DETACHED_PID["${slot}"]="$2"
  ((STORE_UPLOAD_STAGED == 0)) || store_stage_count 1 "${STORE_UPLOAD_EXPECTED}"
  STORE_UPLOAD_TMP=""
  STORE_UPLOAD_KEY=""
  STORE_UPLOAD_STAGED=0
}

# Drops a detached upload's slot. Arguments: slot name.
store_detached_forget() {
  unset 'STORE_DETACHED_TMP[$1]' 'STORE_DETACHED_KEY[$1]' 'STORE_DETACHED_STAGED[$1]' \
    'STORE_DETACHED_EXPECTED[$1]' 'STORE_DETACHED_PID[$1]'
}

# Waits for a detached upload's writer. Arguments: slot name. Returns: the writer's status.
store_upload_wait_detached() {
  local rc=0
  wait "${STORE_DETACHED_PID[$1]}" || rc=$?
  STORE_DETACHED_PID["$1"]=""
  return "${rc}"
}

#######################################
# Completes a detached upload whose writer exited successfully (store_upload_wait_detached).
# Arguments: slot name, `small` or `large` (as store_upload_commit).
# Returns: non-zero when the object could not be stored (nothing is left under its key then).
#######################################
store_upload_commit_detached() {
  local slot="$1" rc=0
  if ((STORE_DETACHED_STAGED[${slot}] == 0)); then
    store_file_commit "${STORE_DETACHED_TMP[${slot}]}" "${STORE_DETACHED_KEY[${slot}]}" "${2:-large}" || rc=1
  fi
  store_detached_forget "${slot}"
  return "${rc}"
}

#######################################
# Abandons a detached upload: its writer is stopped (if it still runs) and waited for, its file
# removed, and a staged one taken out of its batch. Arguments: slot name.
#######################################
store_upload_abort_detached() {
  local slot="$1" pid="${STORE_DETACHED_PID[$1]}"
  if [[ -n "${pid}" ]]; then
    kill -TERM "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  fi
  rm -f -- "${STORE_DETACHED_TMP[${slot}]}"
  ((STORE_DETACHED_STAGED[${slot}] == 0)) || store_stage_count -1 "${STORE_DETACHED_EXPECTED[${slot}]}"
  store_detached_forget "${slot}"
}

#######################################
# Completes the upload started by store_upload_begin.
# Arguments: `small` for an archive whose fsync can wait for store_flush (default: large, fsynced in
#   the background at once).
# Returns: non-zero when the object could not be stored (nothing is left under its key then).
#######################################
store_upload_commit() {
  local rc=0 size_hint="${1:-large}"
  # curl's uploader completes the object only when it finds this file at end-of-file.
  [[ "${STORE_S3_CLIENT}" != curl || -z "${STORE_UPLOAD_PID}" ]] || : >"${STORE_UPLOAD_FIFO}.commit" || rc=1
  store_upload_close_fd
  if ((STORE_UPLOAD_STAGED)); then
    store_stage_count 1 "${STORE_UPLOAD_EXPECTED}"
    STORE_UPLOAD_TMP=""
    STORE_UPLOAD_STAGED=0
  elif [[ "${STORE_KIND}" == file ]]; then
    store_file_commit "${STORE_UPLOAD_TMP}" "${STORE_UPLOAD_KEY}" "${size_hint}" || rc=1
    STORE_UPLOAD_TMP=""
  else
    wait "${STORE_UPLOAD_PID}" || rc=$?
    STORE_UPLOAD_PID=""
    rm -f -- "${STORE_UPLOAD_FIFO}" "${STORE_UPLOAD_FIFO}.commit"
  fi
  return "${rc}"
}

#######################################
# Abandons the upload started by store_upload_begin: the S3 upload is killed before it sees
# end-of-file, so no object is created; the file:// temporary file is removed.
#######################################
store_upload_abort() {
  if [[ "${STORE_KIND}" == file ]] || ((STORE_UPLOAD_STAGED)); then
    store_upload_close_fd
    [[ -n "${STORE_UPLOAD_TMP}" ]] && rm -f -- "${STORE_UPLOAD_TMP}"
    STORE_UPLOAD_TMP=""
    STORE_UPLOAD_STAGED=0
  elif [[ "${STORE_S3_CLIENT}" == curl ]]; then
    # End-of-file without the commit file: the uploader aborts its multipart upload and stores nothing.
    store_upload_close_fd
    [[ -z "${STORE_UPLOAD_PID}" ]] || wait "${STORE_UPLOAD_PID}" 2>/dev/null || true
    STORE_UPLOAD_PID=""
    [[ -z "${STORE_UPLOAD_FIFO}" ]] || rm -f -- "${STORE_UPLOAD_FIFO}" "${STORE_UPLOAD_FIFO}.commit"
  else
    if [[ -n "${STORE_UPLOAD_PID}" ]]; then
      # timeout(1) forwards the signal to the AWS CLI (and SIGKILLs it 10 s later). The write end stays
      # open until the CLI is gone: were it closed first, the CLI could read end-of-file and complete.
      kill -TERM "${STORE_UPLOAD_PID}" 2>/dev/null || true
      wait "${STORE_UPLOAD_PID}" 2>/dev/null || true
    fi
    store_upload_close_fd
    STORE_UPLOAD_PID=""
    [[ -n "${STORE_UPLOAD_FIFO}" ]] && rm -f -- "${STORE_UPLOAD_FIFO}"
  fi
  return 0
}

# Starts the fsync of the small archives committed so far (file://) in the background, so that their
# write-back overlaps other work; store_flush waits for it.
store_sync_start() {
  ((${#STORE_SYNC_BATCH[@]} > 0)) || return 0
  timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" sync -- "${STORE_SYNC_BATCH[@]}" &
  STORE_SYNC_PIDS+=("$!")
  STORE_SYNC_BATCH=()
}

#######################################
# Makes every archive committed so far durable (file://: fsync of the files, started at commit, and
# of their folders; s3://: the last staged batch sent, and every batch stored); called before a
# manifest is written, so that a manifest never names an archive a crash can lose. A failed fsync
# is not retried: a second one can succeed on dropped pages.
#######################################
store_flush() {
  if [[ "${STORE_KIND}" == s3 ]]; then
    store_stage_send && store_stage_wait
    return
  fi
  ((${#STORE_UNSYNCED[@]} > 0)) || return 0
  local -a dirs=()
  local f pid rc=0
  for pid in "${STORE_SYNC_PIDS[@]}"; do
    wait "${pid}" || rc=1
  done
  STORE_SYNC_PIDS=()
  if ((${#STORE_SYNC_BATCH[@]} > 0)); then
    timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" sync -- "${STORE_SYNC_BATCH[@]}" || rc=1
    STORE_SYNC_BATCH=()
  fi
  if ((rc != 0)); then
    log "error: fsync of an archive under $(store_url "") failed"
    return 1
  fi
  for f in "${STORE_UNSYNCED[@]}"; do dirs+=("${f%/*}"); done
  timeout -k 10 "${STORE_REQUEST_TIMEOUT_S}" sync -- "${dirs[@]}" 2>/dev/null || true
  STORE_UNSYNCED=()
}

# True when the upload in flight is a local file, file:// or staged (hashed after it is written, see
# store_file_digest).
store_upload_is_local() {
  [[ -n "${STORE_UPLOAD_TMP}" ]] && { [[ "${STORE_KIND}" == file ]] || ((STORE_UPLOAD_STAGED)); }
}

#######################################
# Prints `<sha256> <bytes>` of a local file, e.g. a file:// archive just written (read back from the
# page cache as a rule): one pass of OpenSSL's SHA-256 (SHA-NI where the CPU has it) costs less than
# copying the stream through tee, can run while the next unit compresses, and hashes what was stored.
# Arguments: file.
#######################################
store_file_digest() {
  local file="$1" sum bytes
  if command -v openssl >/dev/null 2>&1; then
    sum="$(timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" openssl dgst -sha256 -r "${file}")" || return 1
  else
    sum="$(timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" sha256sum -- "${file}")" || return 1
  fi
  bytes="$(stat -c %s -- "${file}")" || return 1
  [[ "${sum:0:64}" =~ ^[0-9a-f]{64}$ ]] || return 1
  printf '%s %s\n' "${sum:0:64}" "${bytes}"
}

#######################################
# Prints `<sha256> <bytes>` of each of several local files, in order, with two processes for all
# of them (the small archives of a run). Arguments: files (names without newlines).
#######################################
store_files_digest() {
  local -a sums=() sizes=()
  if command -v openssl >/dev/null 2>&1; then
    mapfile -t sums < <(timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" openssl dgst -sha256 -r -- "$@") || return 1
  else
    mapfile -t sums < <(timeout -k 10 "${STORE_TRANSFER_TIMEOUT_S}" sha256sum -- "$@") || return 1
  fi
  mapfile -t sizes < <(stat -c %s -- "$@") || return 1
  ((${#sums[@]} == $# && ${#sizes[@]} == $#)) || return 1
  local k
  for ((k = 0; k < $#; k++)); do
    [[ "${sums[k]:0:64}" =~ ^[0-9a-f]{64}$ && "${sizes[k]}" =~ ^[0-9]+$ ]] || return 1
    printf '%s %s\n' "${sums[k]:0:64}" "${sizes[k]}"
  done
}

# Passes stdin to stdout in 1 MiB chunks and writes "<sha256> <bytes>" to the file named by argv[1].
# Pipes grown to 1 MiB and OpenSSL's SHA-256 (hashlib) keep the copy cheap; a broken pipe fails it.
readonly DIGEST_PASSTHROUGH_PY='
import fcntl, hashlib, os, sys
for fd in (0, 1):
    try:
        fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
    except OSError:
        pass
h, n = hashlib.sha256(), 0
while True:
    chunk = os.read(0, 1 << 20)
    if not chunk:
        break
    h.update(chunk)
    n += len(chunk)
    view = memoryview(chunk)
    while view:
        view = view[os.write(1, view):]
with open(sys.argv[1], "w") as out:
    out.write("%s %d\n" % (h.hexdigest(), n))
'

#######################################
# Copies stdin to stdout and records `<sha256> <bytes>` of what passed in a file: the digest of a
# stream computed on the way. Uses python3 when present, else tee with sha256sum and wc.
# Arguments: digest file, scratch dir (for the FIFOs of the fallback).
# Returns: non-zero when the copy or the digest failed (e.g. the reader went away).
#######################################
digest_passthrough() {
  local out="$1" scratch="$2"
  if command -v python3 >/dev/null 2>&1; then
    python3 -c "${DIGEST_PASSTHROUGH_PY}" "${out}"
    return
  fi
  local sha_fifo="${scratch}/digest-sha.fifo" count_fifo="${scratch}/digest-count.fifo" sha_pid count_pid rc=0 sum bytes
  rm -f -- "${sha_fifo}" "${count_fifo}"
  mkfifo -- "${sha_fifo}" "${count_fifo}" || return 1
  sha256sum <"${sha_fifo}" >"${out}.sha" &
  sha_pid=$!
  wc -c <"${count_fifo}" >"${out}.count" &
  count_pid=$!
  tee -- "${sha_fifo}" "${count_fifo}" || rc=$?
  wait "${sha_pid}" || rc=1
  wait "${count_pid}" || rc=1
  rm -f -- "${sha_fifo}" "${count_fifo}"
  ((rc == 0)) || return "${rc}"
  sum="$(head -c 64 "${out}.sha")"
  read -r bytes <"${out}.count"
  printf '%s %s\n' "${sum}" "${bytes}" >"${out}"
}
