# shellcheck shell=bash
#
# Shared helpers for gpu-maint task scripts: logging, bounded command execution, config lists,
# host identity (IMDSv2) and the state directory.
# Bundled into each task script at build time (see lib/task-scripts.ts); never executed alone.

# Logs go to stderr so that stdout carries only the result contract.
log() {
  log_lines "$*"
}

# Logs each argument as a line, all with one timestamp (one date process for many lines).
log_lines() {
  (($# > 0)) || return 0
  local now line
  now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for line in "$@"; do
    printf '%s gpu-maint[%s]: %s\n' "${now}" "${GPU_MAINT_TASK:-task}" "${line}"
  done >&2
}

#######################################
# Prints a progress record on stderr when GPU_MAINT_PROGRESS=1 (the CLI sets it on a terminal and
# renders the records as one updating line with rate and ETA; see lambda/adapters/local/progress.ts).
# Arguments: task, unit, units done, units total, bytes done, bytes total.
#######################################
progress_record() {
  [[ "${GPU_MAINT_PROGRESS:-0}" == 1 ]] || return 0
  printf 'progress: task=%s unit=%s units=%s/%s bytes=%s/%s\n' "$1" "${2// /_}" "$3" "$4" "$5" "$6" >&2
}

# tar options of tar_progress_args; empty unless GPU_MAINT_PROGRESS=1.
TAR_PROGRESS_ARGS=()
# Archive bytes between two progress records from inside one unit.
readonly TAR_PROGRESS_EVERY_BYTES=33554432
# tar options for reading an archive from a pipe in 512 KiB records instead of the 10 KiB it was
# written in: --read-full-records keeps reading until a record is full (or the input ends), "using a
# blocking factor larger than what the archive uses" as GNU tar's manual allows
# (https://www.gnu.org/software/tar/manual/html_node/Reading.html). Forty times fewer reads and
# writes: the restore script of 256 MiB of weights takes 0.35 s instead of 0.45 s (bench/README.md).
# shellcheck disable=SC2034 # read by the scripts that extract archives
readonly TAR_READ_ARGS=(--blocking-factor=1024 --read-full-records)
# shellcheck disable=SC2034 # read by the scripts that extract archives
readonly TAR_READ_RECORD_BYTES=524288

#######################################
# Sets TAR_PROGRESS_ARGS to tar options that print a progress record (progress_record's format) about
# every 32 MiB tar reads or writes, so that one long unit shows movement too; empty unless
# GPU_MAINT_PROGRESS=1. tar runs the action through /bin/sh with TAR_CHECKPOINT (records so far); the
# record goes to a copy of this script's stderr on descriptor 8 (callers capture tar's own stderr; dash
# redirects only descriptors 0-9, and /dev/fd/N cannot reopen the socket node gives a child as stderr).
# Arguments: task, unit, units done, units total, bytes done before this unit, bytes total, bytes of
#   this unit (the record never counts more than that for the unit), tar's record size in bytes
#   (default 10240: tar's own; TAR_READ_RECORD_BYTES with TAR_READ_ARGS).
#######################################
# shellcheck disable=SC2034 # TAR_PROGRESS_ARGS is read by the scripts that source this lib.
tar_progress_args() {
  TAR_PROGRESS_ARGS=()
  [[ "${GPU_MAINT_PROGRESS:-0}" == 1 ]] || return 0
  exec 8>&2
  local unit="${2// /_}"
  # Single-quoted for sh: any unit name stays one literal argument.
  local quoted="'${unit//\'/\'\\\'\'}'"
  local action record="${8:-10240}"
  action="c=\$((TAR_CHECKPOINT * ${record})); [ \"\$c\" -gt $7 ] && c=$7;"
  action+=" printf 'progress: task=%s unit=%s units=%s/%s bytes=%s/%s\\n' $1 ${quoted} $3 $4 \$(($5 + c)) $6 >&8"
  TAR_PROGRESS_ARGS=("--checkpoint=$(((TAR_PROGRESS_EVERY_BYTES + record - 1) / record))" "--checkpoint-action=exec=${action}")
}

# Sets the variable named by $1 to the free bytes on the filesystem holding directory $2 ("" when
# df cannot tell).
free_bytes_to() {
  local free_bytes_="" _
  # POSIX output (-P): a header, then one line whose 4th field is the available bytes.
  { read -r _ && read -r _ _ _ free_bytes_ _; } < <(timeout -k 2 10 df -P -B1 -- "$2" 2>/dev/null) || true
  printf -v "$1" '%s' "${free_bytes_}"
}

#######################################
# Prints a monotonic time in seconds: /proc/uptime, which a step of the wall clock (NTP setting a skewed
# clock right) does not move; the wall clock only where there is no /proc. Pair with elapsed_since.
#######################################
monotonic_seconds() {
  local uptime _
  if read -r uptime _ 2>/dev/null </proc/uptime; then
    printf '%s\n' "${uptime}"
  else
    date +%s.%N
  fi
}

#######################################
# Prints the seconds since a monotonic_seconds reading, with two decimals and never negative: in the
# shell when both readings are /proc/uptime's (hundredths), else with awk.
# Arguments: start (monotonic_seconds).
#######################################
elapsed_since() {
  local elapsed_end_="" elapsed_cs_ _
  read -r elapsed_end_ _ 2>/dev/null </proc/uptime || elapsed_end_=""
  if [[ "$1" =~ ^[0-9]{1,12}\.[0-9]{2}$ && "${elapsed_end_}" =~ ^[0-9]{1,12}\.[0-9]{2}$ ]]; then
    elapsed_cs_=$((10#${elapsed_end_/./} - 10#${1/./}))
    ((elapsed_cs_ >= 0)) || elapsed_cs_=0
    printf '%d.%02d' $((elapsed_cs_ / 100)) $((elapsed_cs_ % 100))
    return 0
  fi
  awk -v s="$1" -v e="$(monotonic_seconds)" 'BEGIN { d = e - s; if (d < 0) d = 0; printf "%.2f", d }'
}

EXIT_HANDLERS=()

#######################################
# Registers a function to run when the script exits; handlers run in reverse order of registration.
# Use this instead of `trap ... EXIT`, which would replace the handlers of the libs.
# Arguments: function name.
#######################################
on_exit() {
  EXIT_HANDLERS+=("$1")
  trap run_exit_handlers EXIT
}

run_exit_handlers() {
  local i
  for ((i = ${#EXIT_HANDLERS[@]} - 1; i >= 0; i--)); do
    "${EXIT_HANDLERS[i]}" || true
  done
}

die() {
  log "error: $*"
  exit 1
}

# Stop requests: local mode forwards Ctrl-C (INT), TERM and HUP to the script's process group.
STOP_SIGNAL=""
# Scripts with safe points (cleanup) set this to true and check stop_requested between steps.
STOP_AT_SAFE_POINTS=false
# Process group of the probe run_bounded is waiting for (its timeout(1)), stopped with the script.
RUNNING_PROBE_PID=""

#######################################
# Handles a stop signal. A script with safe points only records it (stop_requested) and finishes its
# result at the next one; any other script stops its running probe and exits 128 + the signal number
# at once, its exit handlers removing temp files (locks are released with the process).
# Arguments: signal name (INT, TERM, HUP).
#######################################
on_stop_signal() {
  STOP_SIGNAL="$1"
  [[ "${STOP_AT_SAFE_POINTS}" == true ]] && return 0
  log "received SIG$1: stopping"
  if [[ -n "${RUNNING_PROBE_PID}" ]]; then
    kill -KILL -- "-${RUNNING_PROBE_PID}" 2>/dev/null || true
  fi
  exit "$(stop_exit_code)"
}

# 128 + the number of the stop signal received (129 HUP, 130 INT, 143 TERM).
stop_exit_code() {
  case "${STOP_SIGNAL}" in
  HUP) printf '129\n' ;;
  INT) printf '130\n' ;;
  *) printf '143\n' ;;
  esac
}

# True once a stop signal was received.
stop_requested() {
  [[ -n "${STOP_SIGNAL}" ]]
}

# Installs the stop traps; subshells that must stop at safe points call it again (bash resets traps there).
trap_stop_signals() {
  trap 'on_stop_signal INT' INT
  trap 'on_stop_signal TERM' TERM
  trap 'on_stop_signal HUP' HUP
}
trap_stop_signals

#######################################
# Runs a command with a hard deadline that holds even when the command ignores SIGTERM or sits in
# uninterruptible sleep (a wedged NVIDIA driver): `timeout -k` kills it, and if even that does not
# return, the watchdog abandons the process instead of waiting forever.
# Arguments: seconds, stdout file, stderr file, command and its arguments.
# Returns: the command's status; 124 when timeout fired, 137 when killed or abandoned.
#######################################
run_bounded() {
  local limit_s="$1" out_file="$2" err_file="$3"
  shift 3
  local kill_after_s=3
  # timeout(1) leads a process group of its own: the command and everything it started.
  timeout -k "${kill_after_s}" "${limit_s}" "$@" >"${out_file}" 2>"${err_file}" </dev/null &
  local pid=$!
  RUNNING_PROBE_PID="${pid}"
  # Ticks of 0.1 s: the timeout itself, its kill grace, and 2 s for timeout(1) to report back.
  local ticks=0 max_ticks=$(((limit_s + kill_after_s + 2) * 10))
  while kill -0 "${pid}" 2>/dev/null; do
    if ((ticks >= max_ticks)); then
      kill -KILL -- "-${pid}" 2>/dev/null || true
      kill -KILL "${pid}" 2>/dev/null || true
      disown "${pid}" 2>/dev/null || true
      RUNNING_PROBE_PID=""
      printf 'gpu-maint: abandoned after %ss: %s did not exit after SIGKILL\n' "${limit_s}" "$1" >>"${err_file}"
      return 137 # RESULT_EXIT_KILLED (lib/result.sh)
    fi
    sleep 0.1
    ticks=$((ticks + 1))
  done
  local rc=0
  wait "${pid}" || rc=$?
  # timeout(1) only waits for its own child: a grandchild that ignored SIGTERM (journalctl behind a
  # pipe) would outlive the deadline. Whatever is left of the probe's process group goes now.
  kill -KILL -- "-${pid}" 2>/dev/null || true
  RUNNING_PROBE_PID=""
  return "${rc}"
}

#######################################
# Splits a comma-separated config list into lines, dropping empty items and surrounding blanks.
# Arguments: the list.
# Outputs: one item per line.
#######################################
split_list() {
  local item
  local -a items=()
  IFS=',' read -r -a items <<<"${1:-}"
  for item in "${items[@]+"${items[@]}"}"; do
    item="${item#"${item%%[![:space:]]*}"}"
    item="${item%"${item##*[![:space:]]}"}"
    [[ -n "${item}" ]] && printf '%s\n' "${item}"
  done
  return 0
}

#######################################
# Settings. Every GPU_MAINT_* setting is read through one of these, so that each has one rule: the
# default applies when the variable is unset or empty (env_opt, env_list: only when unset, since an
# empty value is a setting), and a bad value stops the script naming the variable, the value and what was expected.
# Defaults are the config schema's (lambda/config/schema.ts); test/tasks/bash-defaults.test.ts holds
# them equal. Each prints the value on stdout, x="$(env_int NAME 3 1 10)", or with `-v VAR` first
# assigns it to VAR, env_int -v x NAME 3 1 10: no subshell, whose fork costs about 1 ms in a loaded
# script (a backup reads a dozen settings). env_list -v assigns an array.
# Arguments: [-v VAR] variable name, default, then per kind: env_int min max; env_enum the allowed
#   values; env_matches an extended regex and a description of what it accepts.
#######################################

# Prints a value, or assigns it to the variable named by the first argument (when not empty).
env_emit() {
  if [[ -n "$1" ]]; then printf -v "$1" '%s' "$2"; else printf '%s\n' "$2"; fi
}

env_str() {
  local env_out_=""
  [[ "$1" != -v ]] || { env_out_="$2" && shift 2; }
  env_emit "${env_out_}" "${!1:-$2}"
}

env_int() {
  local env_out_=""
  [[ "$1" != -v ]] || { env_out_="$2" && shift 2; }
  local env_value_="${!1:-$2}" env_min_="${3:-0}" env_max_="${4:-999999999999999}"
  # No leading zeros: bash arithmetic would read 010 as octal, and SSM's patterns refuse them too.
  if [[ ! "${env_value_}" =~ ^(0|[1-9][0-9]{0,14})$ ]] || ((env_value_ < env_min_ || env_value_ > env_max_)); then
    die "$1 must be a whole number from ${env_min_} to ${env_max_}, got: '${env_value_}'"
  fi
  env_emit "${env_out_}" "${env_value_}"
}

env_number() {
  local env_out_=""
  [[ "$1" != -v ]] || { env_out_="$2" && shift 2; }
  local env_value_="${!1:-$2}"
  [[ "${env_value_}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$1 must be a non-negative number, got: '${env_value_}'"
  env_emit "${env_out_}" "${env_value_}"
}

env_bool() {
  env_enum "$@" true false
}

env_enum() {
  local env_out_=""
  [[ "$1" != -v ]] || { env_out_="$2" && shift 2; }
  local env_name_="$1" env_value_="${!1:-$2}" env_allowed_
  shift 2
  for env_allowed_ in "$@"; do
    if [[ "${env_value_}" == "${env_allowed_}" ]]; then
      env_emit "${env_out_}" "${env_value_}"
      return 0
    fi
  done
  local IFS='|'
  die "${env_name_} must be one of ${*}, got: '${env_value_}'"
}

env_matches() {
  local env_out_=""
  [[ "$1" != -v ]] || { env_out_="$2" && shift 2; }
  local env_value_="${!1:-$2}"
  [[ "${env_value_}" =~ $3 ]] || die "$1 must be $4, got: '${env_value_}'"
  env_emit "${env_out_}" "${env_value_}"
}

# The default only when the variable is unset: an empty value is a setting (none).
env_opt() {
  local env_out_=""
  [[ "$1" != -v ]] || { env_out_="$2" && shift 2; }
  env_emit "${env_out_}" "${!1-$2}"
}

# One item per line (split_list), or with `-v ARRAY` the items as its elements; the default only
# when the variable is unset.
env_list() {
  if [[ "$1" != -v ]]; then
    split_list "${!1-$2}"
    return 0
  fi
  local -n env_items_="$2"
  local env_item_
  local -a env_all_=()
  env_items_=()
  IFS=',' read -r -a env_all_ <<<"${!3-$4}"
  for env_item_ in "${env_all_[@]+"${env_all_[@]}"}"; do
    env_item_="${env_item_#"${env_item_%%[![:space:]]*}"}"
    env_item_="${env_item_%"${env_item_##*[![:space:]]}"}"
    [[ -z "${env_item_}" ]] || env_items_+=("${env_item_}")
  done
}

#######################################
# Prints the state directory (cursors, locks), creating it. On hosts it is /var/lib/gpu-maint.
#######################################
state_dir() {
  local dir
  env_str -v dir GPU_MAINT_STATE_DIR /var/lib/gpu-maint
  mkdir -p "${dir}" || die "cannot create state dir ${dir}"
  printf '%s\n' "${dir}"
}

#######################################
# True when this looks like an EC2 instance (from DMI, no network), or when an IMDS endpoint was
# configured explicitly (tests, or hosts where DMI is hidden). Off EC2 nothing is sent to IMDS.
#######################################
imds_enabled() {
  local f mode endpoint
  env_str -v mode GPU_MAINT_IMDS auto
  [[ "${mode}" == "off" ]] && return 1
  env_str -v endpoint GPU_MAINT_IMDS_ENDPOINT ""
  [[ -n "${endpoint}" ]] && return 0
  for f in /sys/devices/virtual/dmi/id/sys_vendor /sys/devices/virtual/dmi/id/board_vendor; do
    if [[ -r "${f}" ]] && grep -qi 'amazon' "${f}" 2>/dev/null; then
      return 0
    fi
  done
  [[ -r /sys/hypervisor/uuid ]] && grep -qi '^ec2' /sys/hypervisor/uuid 2>/dev/null
}

IMDS_TOKEN=""

#######################################
# Reads one IMDSv2 metadata path (token fetched once per run).
# Arguments: path below /latest/meta-data/, e.g. instance-type.
# Outputs: the value; returns non-zero when IMDS is unavailable.
#######################################
imds_get() {
  imds_enabled || return 1
  command -v curl >/dev/null 2>&1 || return 1
  local endpoint
  env_str -v endpoint GPU_MAINT_IMDS_ENDPOINT http://169.254.169.254
  if [[ -z "${IMDS_TOKEN}" ]]; then
    IMDS_TOKEN="$(timeout -k 1 3 curl -fsS --connect-timeout 1 --max-time 2 -X PUT \
      -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "${endpoint}/latest/api/token" 2>/dev/null)" || return 1
  fi
  timeout -k 1 3 curl -fsS --connect-timeout 1 --max-time 2 \
    -H "X-aws-ec2-metadata-token: ${IMDS_TOKEN}" "${endpoint}/latest/meta-data/$1" 2>/dev/null
}

#######################################
# Prints this host's id (with -v VAR, sets VAR instead): the configured override, the EC2 instance id,
# else the hostname. Found once per script: later calls, subshells included, reuse it (on EC2 it costs
# two IMDS requests).
#######################################
HOST_ID_FOUND=""
host_id() {
  local host_out_=""
  [[ "${1:-}" != -v ]] || { host_out_="$2" && shift 2; }
  if [[ -z "${HOST_ID_FOUND}" ]]; then
    local host_id_=""
    env_str -v host_id_ GPU_MAINT_HOST_ID ""
    if [[ -z "${host_id_}" ]] && ! { host_id_="$(imds_get instance-id)" && [[ -n "${host_id_}" ]]; }; then
      host_id_="$(hostname 2>/dev/null || uname -n)" || return 1
    fi
    HOST_ID_FOUND="${host_id_}"
  fi
  env_emit "${host_out_}" "${HOST_ID_FOUND}"
}
