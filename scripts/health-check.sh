#!/usr/bin/env bash
#
# Collects host health data for the health-check task and prints it as a sectioned result on stdout:
# space and inodes of the filesystems holding the configured paths, memory, load, required systemd
# units, journal errors in a recent window, TCP reachability of endpoints, and reboot-required.
# It only collects: thresholds and severities live in the TypeScript core (lambda/core/health).
#
# Usage: health-check.sh   (configuration from environment variables)
#   GPU_MAINT_MOUNTS               comma-separated paths whose filesystems are checked (default /)
#   GPU_MAINT_SERVICES             comma-separated systemd units that must be active (default none)
#   GPU_MAINT_ENDPOINTS            `auto` (on EC2: regional SSM, EC2 messages and S3 endpoints;
#                                  elsewhere none), comma-separated host:port, or empty for none
#                                  (default auto)
#   GPU_MAINT_ENDPOINT_TIMEOUT_S   TCP connect timeout per endpoint in seconds (default 3)
#   GPU_MAINT_JOURNAL_WINDOW_MIN   window for counting journal errors in minutes (default 60)
#   GPU_MAINT_PROC_DIR             where meminfo and loadavg are read (default /proc; for tests)
#   GPU_MAINT_REBOOT_REQUIRED_FILE Debian/Ubuntu flag file (default /var/run/reboot-required; for tests)
# Exit: 0 when the check ran (findings are data), 1 when it could not run (e.g. invalid configuration).

set -euo pipefail
# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"
# shellcheck source=lib/result.sh
source "${BASH_SOURCE[0]%/*}/lib/result.sh"

# Deadlines in seconds. df can hang on a dead network filesystem; journalctl on a huge journal.
readonly DF_TIMEOUT_S=10
readonly READ_TIMEOUT_S=5
readonly SYSTEMCTL_TIMEOUT_S=10
readonly JOURNAL_TIMEOUT_S=30
readonly NEEDS_RESTARTING_TIMEOUT_S=60
# The journal section carries a sample, not every line: an SSM result keeps only 24,000 characters.
readonly JOURNAL_SAMPLE_LINES=20
readonly JOURNAL_SAMPLE_LINE_CHARS=240

#######################################
# Joins arguments with commas.
#######################################
join_list() {
  local IFS=','
  printf '%s' "$*"
}

#######################################
# Exits with a clear message when a list item does not match its pattern. Runs before the result
# begins, so that bad configuration is a failed run (exit 1), never a truncated result.
# Arguments: variable name, what an item must be, pattern, then the items.
#######################################
require_items() {
  local name="$1" expected="$2" pattern="$3" item
  shift 3
  for item in "$@"; do
    [[ "${item}" =~ ${pattern} ]] || die "${name} must list ${expected} separated by commas, got item: '${item}'"
  done
}

#######################################
# Points TMPDIR at memory-backed /dev/shm when nothing else was chosen: probe output goes through
# temp files, and the check must still run when the disk it reports on is full.
#######################################
use_memory_tmpdir() {
  if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]]; then
    export TMPDIR=/dev/shm
  fi
}

#######################################
# Whether a path exists, under a deadline: even stat() blocks on a dead hard-mounted NFS share.
# Arguments: path.
# Outputs: 1 (exists), 0 (does not exist) or hung.
#######################################
path_state() {
  local rc=0
  timeout -k 1 "${READ_TIMEOUT_S}" test -e "$1" </dev/null || rc=$?
  if ((rc == 0)); then
    echo 1
  elif ((rc >= 124)); then
    echo hung
  else
    echo 0
  fi
}

#######################################
# Space and inodes of the filesystem under each configured path, one df per path so that one hung
# network mount cannot hide the others. Missing paths are recorded, not probed.
# Outputs: section mount-paths (path.N, exists.N = 1, 0 or hung), then df.N and df-inodes.N per
#   existing path.
#######################################
check_mounts() {
  local -a paths=() states=() pairs=()
  local path i
  mapfile -t paths < <(env_list GPU_MAINT_MOUNTS /)
  ((${#paths[@]} > 0)) || paths=(/)
  for i in "${!paths[@]}"; do
    states[i]="$(path_state "${paths[i]}")"
    pairs+=("path.${i}=${paths[i]}" "exists.${i}=${states[i]}")
  done
  kv_section mount-paths "count=${#paths[@]}" "${pairs[@]}"
  for i in "${!paths[@]}"; do
    path="${paths[i]}"
    [[ "${states[i]}" == "1" ]] || continue
    local rc=0
    probe "df.${i}" "${DF_TIMEOUT_S}" df -P -- "${path}" || rc=$?
    if ((rc == 124 || rc == 137)); then
      skipped_section "df-inodes.${i}" "${RESULT_EXIT_NOT_RUN}" "not run: df -P on ${path} did not answer within ${DF_TIMEOUT_S}s"
    else
      probe "df-inodes.${i}" "${DF_TIMEOUT_S}" df -Pi -- "${path}" || true
    fi
  done
}

#######################################
# Memory (MemAvailable and what is needed to estimate it on kernels without it) and load.
# Outputs: sections meminfo, loadavg, cpus.
#######################################
check_memory_and_load() {
  local proc
  env_str -v proc GPU_MAINT_PROC_DIR /proc
  probe meminfo "${READ_TIMEOUT_S}" grep -E '^(MemTotal|MemFree|MemAvailable|Buffers|Cached|SwapTotal|SwapFree):' \
    -- "${proc}/meminfo" || true
  probe loadavg "${READ_TIMEOUT_S}" cat -- "${proc}/loadavg" || true
  # Online CPUs, not nproc: nproc honours OMP_NUM_THREADS and CPU affinity, load counts the whole host.
  probe cpus "${READ_TIMEOUT_S}" getconf _NPROCESSORS_ONLN || true
}

#######################################
# State of each required systemd unit. A host without systemctl is recorded, not an error.
# Arguments: the unit names.
# Outputs: section services (required=list), then service:<unit> per unit, or section systemd.
#######################################
check_services() {
  local -a units=("$@")
  local unit
  kv_section services "required=$(join_list "$@")"
  ((${#units[@]} > 0)) || return 0
  if ! command -v systemctl >/dev/null 2>&1; then
    skipped_section systemd "${RESULT_EXIT_NOT_FOUND}" "systemctl not found: this host does not run systemd"
    return 0
  fi
  for unit in "${units[@]}"; do
    probe "service:${unit}" "${SYSTEMCTL_TIMEOUT_S}" \
      systemctl show --property=Id,LoadState,ActiveState,SubState,Result -- "${unit}" || true
  done
}

#######################################
# Journal entries of priority err or worse in the window. journalctl's output is counted here and
# sampled (its last lines), because a bad hour can log far more than a result may carry.
# Outputs: sections journal-count (lines, window_min) and journal (sample, stderr, exit status),
#   or a journal section recording that journalctl is missing.
#######################################
check_journal() {
  local window_min="$1"
  if ! command -v journalctl >/dev/null 2>&1; then
    skipped_section journal "${RESULT_EXIT_NOT_FOUND}" "journalctl not found: no systemd journal on this host"
    return 0
  fi
  local dir start rc=0 lines
  ensure_result_tmp_dir
  dir="${RESULT_TMP_DIR}"
  start="$(monotonic_seconds)"
  run_bounded "${JOURNAL_TIMEOUT_S}" "${dir}/journal.all" "${dir}/journal.all-err" \
    journalctl -p err..emerg --since "-${window_min} min" -o cat --no-pager -q || rc=$?
  lines="$(awk 'END { print NR }' "${dir}/journal.all")"
  tail -n "${JOURNAL_SAMPLE_LINES}" "${dir}/journal.all" | cut -c "1-${JOURNAL_SAMPLE_LINE_CHARS}" >"${dir}/journal.out"
  head -c 2000 "${dir}/journal.all-err" >"${dir}/journal.err"
  kv_section journal-count "lines=${lines}" "window_min=${window_min}" "sample_lines=${JOURNAL_SAMPLE_LINES}"
  section_from_files journal "${dir}/journal.out" "${dir}/journal.err" "${rc}" "${start}"
}

#######################################
# The endpoints `auto` stands for on EC2: what SSM Run Command and S3 need, and STS (the backup host key
# `aws-userid` asks it who the instance is, through the regional endpoint a VPC endpoint serves:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sts_vpc_endpoint_create.html), which a
# private subnet reaches through VPC endpoints or NAT. Host names only: the check must never depend on a public IP.
# Arguments: region, DNS suffix (amazonaws.com, amazonaws.com.cn).
# Outputs: one host:port per line.
#######################################
default_endpoints() {
  local region="$1" domain="$2" service
  for service in ssm ec2messages ssmmessages s3 sts; do
    printf '%s.%s.%s:443\n' "${service}" "${region}" "${domain}"
  done
}

ENDPOINT_TARGETS=()

#######################################
# Resolves the endpoint setting into ENDPOINT_TARGETS; `auto` reads the region from IMDS on EC2.
# Arguments: `auto` or a comma-separated host:port list.
# Outputs: section endpoints (mode, ec2, region, targets, error).
#######################################
resolve_endpoints() {
  local spec="$1" region domain
  ENDPOINT_TARGETS=()
  if [[ "${spec}" != "auto" ]]; then
    mapfile -t ENDPOINT_TARGETS < <(split_list "${spec}")
    kv_section endpoints mode=list "targets=$(join_list "${ENDPOINT_TARGETS[@]+"${ENDPOINT_TARGETS[@]}"}")"
    return 0
  fi
  if ! imds_enabled; then
    kv_section endpoints mode=auto ec2=0 targets=
    return 0
  fi
  if ! region="$(imds_get placement/region)" || [[ ! "${region}" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]; then
    kv_section endpoints mode=auto ec2=1 targets= "error=cannot read the region from IMDS (placement/region)"
    return 0
  fi
  # IMDS knows the partition's DNS suffix; the China regions are the case that differs.
  if ! domain="$(imds_get services/domain)" || [[ ! "${domain}" =~ ^[a-z0-9.-]+$ ]]; then
    domain="amazonaws.com"
    [[ "${region}" == cn-* ]] && domain="amazonaws.com.cn"
  fi
  mapfile -t ENDPOINT_TARGETS < <(default_endpoints "${region}" "${domain}")
  kv_section endpoints mode=auto ec2=1 "region=${region}" "targets=$(join_list "${ENDPOINT_TARGETS[@]}")"
}

#######################################
# Opens and closes a TCP connection to each target under a deadline (bash /dev/tcp: no nc needed).
# Arguments: endpoint setting (see resolve_endpoints), connect timeout in seconds.
# Outputs: section endpoint:<host>:<port> per target; exit 0 = reachable.
#######################################
check_endpoints() {
  local timeout_s="$2" endpoint
  resolve_endpoints "$1"
  for endpoint in "${ENDPOINT_TARGETS[@]+"${ENDPOINT_TARGETS[@]}"}"; do
    # shellcheck disable=SC2016 # expanded by the inner bash
    probe "endpoint:${endpoint}" "${timeout_s}" \
      "${BASH}" -c 'exec 3<>"/dev/tcp/$1/$2"' tcp-connect "${endpoint%:*}" "${endpoint##*:}" || true
  done
}

#######################################
# Whether the host wants a reboot: the Debian/Ubuntu flag file (and the packages that asked), or
# `needs-restarting -r` on RHEL-family hosts (exit 1 = reboot required).
# Outputs: section reboot-check (method, file, present), plus reboot-required, reboot-required-pkgs
#   or needs-restarting with the raw output.
#######################################
check_reboot_required() {
  local file
  env_str -v file GPU_MAINT_REBOOT_REQUIRED_FILE /var/run/reboot-required
  if [[ -e "${file}" ]]; then
    kv_section reboot-check method=file "file=${file}" present=1
    probe reboot-required "${READ_TIMEOUT_S}" cat -- "${file}" || true
    if [[ -e "${file}.pkgs" ]]; then
      probe reboot-required-pkgs "${READ_TIMEOUT_S}" head -n 50 -- "${file}.pkgs" || true
    fi
  elif command -v needs-restarting >/dev/null 2>&1; then
    kv_section reboot-check method=needs-restarting
    probe needs-restarting "${NEEDS_RESTARTING_TIMEOUT_S}" needs-restarting -r || true
  elif command -v dpkg >/dev/null 2>&1; then
    # Debian family: the flag file is how packages ask for a reboot, so its absence means none.
    kv_section reboot-check method=file "file=${file}" present=0
  else
    kv_section reboot-check method=none
  fi
}

main() {
  # shellcheck disable=SC2034 # read by log() in lib/common.sh: names the task in logs before result_begin
  GPU_MAINT_TASK=health-check
  local endpoint_timeout_s journal_window_min endpoints
  local -a units=() endpoint_items=()
  env_int -v endpoint_timeout_s GPU_MAINT_ENDPOINT_TIMEOUT_S 3 1 60
  env_int -v journal_window_min GPU_MAINT_JOURNAL_WINDOW_MIN 60 1 10080
  mapfile -t units < <(env_list GPU_MAINT_SERVICES "")
  require_items GPU_MAINT_SERVICES 'systemd unit names' '^[A-Za-z0-9@._:-]+$' "${units[@]+"${units[@]}"}"
  env_opt -v endpoints GPU_MAINT_ENDPOINTS auto # empty: none
  if [[ "${endpoints}" != "auto" ]]; then
    mapfile -t endpoint_items < <(split_list "${endpoints}")
    require_items GPU_MAINT_ENDPOINTS 'auto or host:port items' '^[A-Za-z0-9.-]+:[0-9]{1,5}$' \
      "${endpoint_items[@]+"${endpoint_items[@]}"}"
  fi
  use_memory_tmpdir
  local host
  host_id -v host
  result_begin health-check "${host}"
  check_mounts
  check_memory_and_load
  check_services "${units[@]+"${units[@]}"}"
  check_journal "${journal_window_min}"
  check_endpoints "${endpoints}" "${endpoint_timeout_s}"
  check_reboot_required
  result_end
}

# Sourcing the script (tests of default_endpoints) defines the functions without running the check.
if [[ "${BASH_SOURCE[0]:-$0}" == "$0" ]]; then
  main "$@"
fi
