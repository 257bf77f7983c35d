#!/usr/bin/env bash
#
# gpu-watch: follows the kernel log and prints one JSON line per NVIDIA Xid incident as soon as the kernel
# writes it, so that an Xid 79 alerts in seconds rather than at the next scheduled gpu-check. It keeps the
# lines gpu-check keeps (the marker of scripts/lib/xid-marker.sh) and forwards them raw: lambda/core/gpu/xid.ts
# parses and classifies them, as it does gpu-check's (one set of rules).
#
# Debounce: the first line of a (PCI id, Xid code) is printed at once with count 1; later lines of that key
# within GPU_MAINT_WATCH_DEBOUNCE_S are counted and printed as one event (their count, the latest line) when
# the window ends, which opens the next window. At most one event per key and window, whatever the storm;
# at most MAX_KEYS keys are tracked and lines are cut at MAX_LINE_BYTES (bounded memory).
#
# Event, one line on stdout:
#   {"source":"gpu-maint.watcher","host":"i-0abc","at":"2026-12-02T08:00:01Z","key":"0000:2b:00|79","count":1,"line":"<kernel line>"}
# plus "gpusSeen":"<gpu-check's gpu-check.gpus-seen state>" once gpu-check has run this boot (the collector in AWS
# has no other way to learn gpu-check's GPU index of a bus id).
#
# The follower (journalctl -k -f with a cursor file, else dmesg -w) is restarted whenever it exits (journal
# rotation, a driver reload that restarts journald, a crash), from the cursor. journalctl writes the cursor
# file on SIGTERM/SIGINT only from systemd 254 (https://github.com/systemd/systemd/issues/26746, fixed by
# https://github.com/systemd/systemd/pull/27519); older ones replay from the cursor of their first start,
# so lines not newer than the last one forwarded (kept in gpu-watch.last-line) are dropped after a restart.
#
# Usage: gpu-watch.sh        (configuration from the environment; runs until stopped)
#   GPU_MAINT_WATCH_DEBOUNCE_S   window per (GPU, Xid code), 1-60 seconds                          [5]
#   GPU_MAINT_WATCH_SOURCE       journal | dmesg | auto (journal when journalctl exists)            [auto]
#   GPU_MAINT_WATCH_EVENT_BUS    EventBridge bus name or ARN: each event is also put there with
#                                `aws events put-events` (source gpu-maint.watcher)                  [unset]
#   GPU_MAINT_WATCH_MAX_RESTARTS stop after this many follower exits, 0 = never (tests)              [0]
#   GPU_MAINT_STATE_DIR          journal cursor and last line                       [/var/lib/gpu-maint]
#   GPU_MAINT_HOST_ID, GPU_MAINT_IMDS, GPU_MAINT_IMDS_ENDPOINT: see scripts/lib/common.sh
# Exit: 0 when stopped (SIGTERM, or GPU_MAINT_WATCH_MAX_RESTARTS reached); 1 on bad configuration.

set -euo pipefail

# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"
# shellcheck source=lib/json.sh
source "${BASH_SOURCE[0]%/*}/lib/json.sh"
# shellcheck source=lib/xid-marker.sh
source "${BASH_SOURCE[0]%/*}/lib/xid-marker.sh"

readonly EVENT_SOURCE='gpu-maint.watcher'
readonly DETAIL_TYPE='GPU kernel Xid'
readonly MAX_KEYS=256
readonly MAX_LINE_BYTES=1024
readonly PUT_EVENTS_TIMEOUT_S=10
# Seconds between follower restarts, growing to RESTART_MAX_S while it keeps failing at once.
readonly RESTART_MIN_S=1
readonly RESTART_MAX_S=30

DEBOUNCE_S=5
SOURCE=auto
EVENT_BUS=""
MAX_RESTARTS=0
HOST=""
STATE=""
LAST_LINE=""
REGION_ARGS=()

#######################################
# Validates the configuration from the environment.
#######################################
read_config() {
  env_int -v DEBOUNCE_S GPU_MAINT_WATCH_DEBOUNCE_S 5 1 60
  env_enum -v SOURCE GPU_MAINT_WATCH_SOURCE auto auto journal dmesg
  # Empty: print events only (local mode); the pattern accepts a bus name or ARN.
  EVENT_BUS="$(env_matches GPU_MAINT_WATCH_EVENT_BUS "" '^((arn:[a-z-]+:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[A-Za-z0-9._/-]{1,256})?$' \
    'an EventBridge bus name or ARN')"
  env_int -v MAX_RESTARTS GPU_MAINT_WATCH_MAX_RESTARTS 0
  # A bus ARN names its region: the CLI need not find one in the host's configuration.
  if [[ "${EVENT_BUS}" =~ ^arn:[a-z-]+:events:([a-z0-9-]+): ]]; then
    REGION_ARGS=(--region "${BASH_REMATCH[1]}")
  fi
  if [[ "${SOURCE}" == auto ]]; then
    SOURCE=dmesg
    command -v journalctl >/dev/null 2>&1 && SOURCE=journal
  fi
}

#######################################
# Prints one event and, in AWS mode, puts it on the event bus (bounded; a failure is logged, the
# scheduled gpu-check still reports the line).
# Arguments: key, count, kernel line.
#######################################
emit() {
  local key="$1" count="$2" line="$3" at event entries gpus_seen=""
  printf -v at '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  # gpu-check's GPU indexes by bus id, so that the collector keys the alert as gpu-check does (a read, no fork).
  if [[ -r "${STATE}/gpu-check.gpus-seen" ]]; then
    IFS= read -r -d '' -n "${MAX_LINE_BYTES}" gpus_seen <"${STATE}/gpu-check.gpus-seen" || true
  fi
  local fields=("source=${EVENT_SOURCE}" "host=${HOST}" "at=${at}" "key=${key}" "count:=${count}" "line=${line}")
  [[ -n "${gpus_seen}" ]] && fields+=("gpusSeen=${gpus_seen}")
  event="$(json_object "${fields[@]}")"
  printf '%s\n' "${event}"
  # A redirection, not a command: no fork per event.
  [[ -n "${LAST_LINE}" ]] && printf '%s\n' "${LAST_LINE}" >"${STATE}/gpu-watch.last-line"
  [[ -n "${EVENT_BUS}" ]] || return 0
  entries="[$(json_object "Source=${EVENT_SOURCE}" "DetailType=${DETAIL_TYPE}" "EventBusName=${EVENT_BUS}" "Detail=${event}")]"
  # PutEvents reports per-entry failures in FailedEntryCount with exit 0:
  # https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
  local out
  if ! out="$(timeout -k 2 "${PUT_EVENTS_TIMEOUT_S}" aws events put-events "${REGION_ARGS[@]+"${REGION_ARGS[@]}"}" \
    --entries "${entries}" --output text --query FailedEntryCount 2>&1)"; then
    log "put-events to ${EVENT_BUS} failed: ${out:0:300}"
  elif [[ "${out}" != 0 ]]; then
    log "put-events to ${EVENT_BUS}: ${out:0:300} entries failed"
  fi
}

# The debounce, in awk: bash reads a pipe one byte per system call, too slow for an Xid storm. Input: kernel
# lines, and "<TICK> <epoch s>" lines from the ticker (they close windows when the log is quiet). Output, one
# line per event: key TAB count TAB newest line timestamp TAB kernel line.
# shellcheck disable=SC2016 # awk's own $ fields
readonly DEBOUNCE_AWK='
function out(key, count, line) { printf "%s\t%d\t%s\t%s\n", key, count, last, line; fflush() }
function flush(now,   k) {
  for (k in until) {
    if (until[k] > now) continue
    if (pending[k] > 0) { out(k, pending[k], pline[k]); until[k] = now + window; pending[k] = 0; pline[k] = "" }
    else { delete until[k]; delete pending[k]; delete pline[k]; keys-- }
  }
}
BEGIN { now = start + 0; keys = 0 }
$1 == tick { now = $2 + 0; flush(now); next }
index($0, marker) == 0 { next }
{
  line = substr($0, 1, maxlen); gsub(/\t/, " ", line)
  if ($1 ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T/) { if (last != "" && !($1 "" > last "")) next; last = $1 "" }
  key = "unparsed"
  if (match(line, /Xid \([^)]+\): [0-9]+/)) {
    m = substr(line, RSTART + 5, RLENGTH - 5); i = index(m, "): ")
    key = substr(m, 1, i - 1) "|" substr(m, i + 3)
  }
  if (!(key in until) && keys >= maxkeys) key = "overflow"
  if (key in until) { pending[key]++; pline[key] = line; next }
  until[key] = now + window; pending[key] = 0; pline[key] = ""; keys++
  out(key, 1, line)
}
END { flush(now + window) }
'
readonly TICK='__gpu_watch_tick__'
AWK_OPTS=()

#######################################
# mawk (Debian's awk) waits for a full input buffer before it reads a line from a pipe; -W interactive
# makes it read line by line. gawk and busybox awk read pipes line by line already.
# Globals: AWK_OPTS (set).
#######################################
detect_awk() {
  if timeout -k 1 3 awk -W version 2>/dev/null </dev/null | grep -q '^mawk'; then
    AWK_OPTS=(-W interactive)
  fi
  return 0
}

#######################################
# The follower's lines and a tick every second, until the follower exits.
#######################################
kernel_lines() {
  follow &
  local pid=$! pause_fd
  # A pipe nobody writes to: `read -t 1` on it waits a second without forking a `sleep` every second (idle CPU).
  exec {pause_fd}<> <(:)
  while kill -0 "${pid}" 2>/dev/null; do
    printf '%s %(%s)T\n' "${TICK}" -1
    read -r -t 1 -u "${pause_fd}" _ || true
  done
  exec {pause_fd}<&-
  wait "${pid}" || log "kernel log follower exited with status $?"
}

#######################################
# Debounces the kernel lines and emits the events, until the follower exits.
#######################################
watch_once() {
  local now key count last line
  printf -v now '%(%s)T' -1
  while IFS=$'\t' read -r key count last line; do
    LAST_LINE="${last}"
    emit "${key}" "${count}" "${line}"
  done < <(kernel_lines | awk "${AWK_OPTS[@]+"${AWK_OPTS[@]}"}" -v tick="${TICK}" -v marker="${XID_MARKER}" -v window="${DEBOUNCE_S}" \
    -v maxkeys="${MAX_KEYS}" -v maxlen="${MAX_LINE_BYTES}" -v start="${now}" -v last="${LAST_LINE}" "${DEBOUNCE_AWK}")
}

#######################################
# Starts the kernel log follower on stdout.
#######################################
follow() {
  if [[ "${SOURCE}" == journal ]]; then
    local -a from=()
    # Without a cursor (first start), only what is written from now on: gpu-check reported the past.
    [[ -s "${STATE}/gpu-watch.journal-cursor" ]] || from=(--lines=0)
    exec journalctl -k -f -q -o short-iso-precise --no-pager "${from[@]+"${from[@]}"}" \
      --cursor-file="${STATE}/gpu-watch.journal-cursor"
  fi
  # dmesg -w prints the ring buffer first; -w alone since util-linux 2.22. The ring buffer has no cursor.
  exec dmesg -w
}

main() {
  export GPU_MAINT_TASK=gpu-watch
  read_config
  STATE="$(state_dir)"
  host_id -v HOST
  detect_awk
  if [[ -r "${STATE}/gpu-watch.last-line" ]]; then
    IFS= read -r LAST_LINE <"${STATE}/gpu-watch.last-line" || true
  fi
  trap 'exit 0' TERM INT
  local restarts=0 pause_s="${RESTART_MIN_S}" started
  log "following the kernel log (${SOURCE}) for Xid lines; debounce ${DEBOUNCE_S}s${EVENT_BUS:+, event bus ${EVENT_BUS}}"
  while true; do
    started="${SECONDS}"
    watch_once || true
    restarts=$((restarts + 1))
    log "kernel log follower ended (restart ${restarts}); restarting from the cursor"
    if ((MAX_RESTARTS > 0 && restarts >= MAX_RESTARTS)); then
      log "stopping after ${restarts} follower restarts (GPU_MAINT_WATCH_MAX_RESTARTS)"
      return 0
    fi
    # A follower that ran a while gets restarted at once; one that keeps failing, with growing pauses.
    if ((SECONDS - started > RESTART_MAX_S)); then
      pause_s="${RESTART_MIN_S}"
    else
      pause_s=$((pause_s * 2 > RESTART_MAX_S ? RESTART_MAX_S : pause_s * 2))
    fi
    sleep "${pause_s}"
  done
}

main "$@"
