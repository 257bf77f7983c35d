# shellcheck shell=bash
#
# The result contract (version 1) between task scripts and the TypeScript core
# (lambda/core/contract.ts parses it). A result on stdout looks like:
#
#   @@gpu-maint v1 begin task=gpu-check host=i-0abc at=2026-11-28T12:00:00Z
#   @@gpu-maint section nvidia-smi-query
#   <raw stdout of the probe>
#   @@gpu-maint stderr nvidia-smi-query        (only when the probe wrote to stderr)
#   <raw stderr of the probe>
#   @@gpu-maint status nvidia-smi-query exit=0 seconds=0.4
#   ...
#   @@gpu-maint v1 end task=gpu-check
#
# Raw lines that start with "@@gpu-maint" are escaped as "\@@gpu-maint". A result without its end
# line was truncated. Action tasks (backup, cleanup) emit key=value sections with kv_section.

# The contract's constants; lambda/core/contract.ts RESULT_CONTRACT holds the same values, and
# test/scripts/result-lib.test.ts proves they are equal.
GPU_MAINT_CONTRACT_VERSION=1
# Exit status recorded for a probe that hit its deadline (timeout(1)), or was killed or abandoned.
# shellcheck disable=SC2034 # read by the task scripts that source this lib
readonly RESULT_EXIT_TIMED_OUT=124 RESULT_EXIT_KILLED=137
# Exit status recorded for a probe that was not run (skipped_section), and for a missing command.
# shellcheck disable=SC2034 # read by the task scripts that source this lib
readonly RESULT_EXIT_NOT_RUN=125 RESULT_EXIT_NOT_FOUND=127
RESULT_TMP_DIR=""

# Creates the per-run scratch dir for probe output (in this shell, not a subshell, so that the
# exit handler that removes it belongs to the script itself).
ensure_result_tmp_dir() {
  if [[ -z "${RESULT_TMP_DIR}" ]]; then
    RESULT_TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gpu-maint.XXXXXX")" || die "cannot create a temp dir"
    on_exit remove_result_tmp_dir
  fi
}

# Removes the scratch dir; again after a moment when a child that was being stopped (a background
# writer's reader) wrote into it meanwhile.
remove_result_tmp_dir() {
  [[ -n "${RESULT_TMP_DIR}" ]] || return 0
  local tries=0
  until rm -rf -- "${RESULT_TMP_DIR}" 2>/dev/null; do
    if ((++tries == 3)); then
      log "warning: cannot remove ${RESULT_TMP_DIR}"
      break
    fi
    sleep 0.1
  done
  return 0
}

#######################################
# Starts a result.
# Arguments: task name, host id.
#######################################
result_begin() {
  GPU_MAINT_TASK="$1"
  ensure_result_tmp_dir
  printf '@@gpu-maint v%s begin task=%s host=%s at=%s\n' \
    "${GPU_MAINT_CONTRACT_VERSION}" "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

result_end() {
  printf '@@gpu-maint v%s end task=%s\n' "${GPU_MAINT_CONTRACT_VERSION}" "${GPU_MAINT_TASK}"
}

# Copies a file to stdout, escaping contract markers and ending with a newline.
emit_escaped() {
  [[ -s "$1" ]] || return 0
  # shellcheck disable=SC1003 # sed's "$a\" appends a newline only when the last line lacks one
  sed -e 's/^@@gpu-maint/\\@@gpu-maint/' -e '$a\' "$1"
}

#######################################
# Runs one probe under a deadline and prints it as a section with its exit status.
# Arguments: section name, timeout seconds, command and its arguments.
# Returns: the probe's status (callers decide whether it matters; the section records it).
#######################################
probe() {
  local name="$1" limit_s="$2"
  shift 2
  local dir start rc=0
  ensure_result_tmp_dir
  dir="${RESULT_TMP_DIR}"
  start="$(monotonic_seconds)"
  run_bounded "${limit_s}" "${dir}/${name}.out" "${dir}/${name}.err" "$@" || rc=$?
  section_from_files "${name}" "${dir}/${name}.out" "${dir}/${name}.err" "${rc}" "${start}"
  return "${rc}"
}

#######################################
# Prints a section from captured files.
# Arguments: name, stdout file, stderr file, exit status, start time (monotonic_seconds).
#######################################
section_from_files() {
  local name="$1" out="$2" err="$3" rc="$4" start="$5" seconds
  seconds="$(elapsed_since "${start}")"
  printf '@@gpu-maint section %s\n' "${name}"
  emit_escaped "${out}"
  if [[ -s "${err}" ]]; then
    printf '@@gpu-maint stderr %s\n' "${name}"
    emit_escaped "${err}"
  fi
  printf '@@gpu-maint status %s exit=%s seconds=%s\n' "${name}" "${rc}" "${seconds}"
}

#######################################
# Prints a section that records a probe which was not run, with the reason on stderr.
# Arguments: section name, exit status to record, reason.
#######################################
skipped_section() {
  printf '@@gpu-maint section %s\n@@gpu-maint stderr %s\n%s\n@@gpu-maint status %s exit=%s seconds=0\n' \
    "$1" "$1" "$3" "$1" "$2"
}

#######################################
# Prints a key=value section (summaries of actions). Values must be single-line.
# Arguments: section name, then key=value pairs.
#######################################
kv_section() {
  local name="$1" pair
  shift
  printf '@@gpu-maint section %s\n' "${name}"
  for pair in "$@"; do
    printf '%s\n' "${pair//$'\n'/ }"
  done
  printf '@@gpu-maint status %s exit=0 seconds=0\n' "${name}"
}
