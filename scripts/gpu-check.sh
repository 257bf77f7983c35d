#!/usr/bin/env bash
#
# gpu-check: collects this host's GPU state and prints it as a sectioned result (scripts/lib/result.sh)
# on stdout; lambda/core/gpu interprets it. Raw data only: thresholds and severities live in TypeScript.
#
# Sections, in order:
#   identity              instance type (config or IMDSv2), instance id, uptime, boot id
#   driver                nvidia-smi path, kernel module version, NVIDIA GPUs on the PCI bus
#   nvidia-smi-help       status of nvidia-smi --help-query-gpu (its 40 kB text stays on the host)
#   query-fields          the wanted fields this driver lists (selected) and those it lacks (unlisted)
#   nvidia-smi-query      nvidia-smi --query-gpu=<known wanted fields> --format=csv (with header)
#   nvidia-smi-query-retry  only when the driver still rejected a field: the same query without it
#   nvidia-smi-list       nvidia-smi -L
#   gpus-seen-this-boot   bus ids and indexes of the GPUs seen earlier this boot (state dir)
#   kernel-xid-journal    NVRM Xid lines since the saved journal cursor (journalctl -k)
#   kernel-xid-dmesg      the same from dmesg, when the journal is unavailable (saved boot id + timestamp)
#   budget                the time budget and how much of it was used
# Without nvidia-smi only identity, driver, the kernel sections and budget are printed.
#
# Every probe runs under a deadline (probe → run_bounded: timeout -k plus a watchdog). The whole check
# ends within GPU_MAINT_GPU_CHECK_DEADLINE_S (+1 s) even when nvidia-smi ignores SIGTERM and never
# returns: each probe's limit is clamped to the time left, and once one nvidia-smi call has timed out
# the remaining ones are recorded as not run (exit 125) instead of being tried.
#
# Usage: gpu-check.sh        (configuration from the environment)
#   GPU_MAINT_INSTANCE_TYPE          EC2 instance type, or auto to read it from IMDSv2      [auto]
#   GPU_MAINT_NVSMI_TIMEOUT_S        deadline of each nvidia-smi call, 1-40 seconds          [15]
#   GPU_MAINT_GPU_CHECK_DEADLINE_S   budget of the whole check, 20-55 seconds                [50]
#   GPU_MAINT_STATE_DIR              kernel-log cursors, GPUs seen this boot   [/var/lib/gpu-maint]
#   GPU_MAINT_PCI_DEVICES_DIR        where PCI devices are listed           [/sys/bus/pci/devices]
#   GPU_MAINT_IMDS, GPU_MAINT_IMDS_ENDPOINT, GPU_MAINT_HOST_ID: see scripts/lib/common.sh
# Exit: 0 when the check ran, whatever it found; 1 when it could not run (bad configuration).

set -euo pipefail

# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"
# shellcheck source=lib/result.sh
source "${BASH_SOURCE[0]%/*}/lib/result.sh"
# shellcheck source=lib/xid-marker.sh
source "${BASH_SOURCE[0]%/*}/lib/xid-marker.sh"

# run_bounded lets a probe overrun its limit by up to 3 s (timeout -k) plus 2 s (its watchdog).
readonly KILL_GRACE_S=5
readonly XID_JOURNAL_TIMEOUT_S=8
readonly XID_DMESG_TIMEOUT_S=5
readonly DRIVER_FILE_TIMEOUT_S=2
# A GPU table is a few kB; more than this is not one (lambda/core/gpu/query-output.ts reads the note).
readonly NVSMI_MAX_OUTPUT_BYTES=1048576
# Exit status recorded for a probe that was not run (lambda/core/gpu/evaluate.ts reads it).
readonly NOT_RUN_EXIT="${RESULT_EXIT_NOT_RUN}"
# Fields nvidia-smi has known for a decade: the query used when --help-query-gpu gives nothing.
readonly BASE_FIELDS="index,name,pci.bus_id,uuid,temperature.gpu,utilization.gpu,memory.used,memory.total,power.draw,power.limit"
# What the evaluation reads, plus context for operators; only those this driver knows are queried.
readonly WANTED_FIELDS=(
  index name pci.bus_id uuid driver_version
  temperature.gpu temperature.memory utilization.gpu utilization.memory
  memory.used memory.total
  power.draw power.draw.average enforced.power.limit power.limit
  ecc.mode.current ecc.errors.uncorrected.volatile.total ecc.errors.uncorrected.aggregate.total
  remapped_rows.pending remapped_rows.failure remapped_rows.uncorrectable
  retired_pages.pending retired_pages.single_bit_ecc.count retired_pages.double_bit.count
  pcie.link.gen.current pcie.link.gen.max pcie.link.width.current pcie.link.width.max
  mig.mode.current persistence_mode pstate clocks.current.sm clocks.max.sm gpu_recovery_action
)
# Clock event reasons; drivers before 535 name them clocks_throttle_reasons.*.
readonly CLOCK_REASONS=(active hw_slowdown hw_thermal_slowdown hw_power_brake_slowdown sw_thermal_slowdown sw_power_cap gpu_idle)

DEADLINE_S=50
NVSMI_TIMEOUT_S=15
# Name of the nvidia-smi call that timed out; later calls are not run.
NVSMI_WEDGED=""
BOOT_ID=""
QUERY_FIELDS=""
UNLISTED_FIELDS=""

#######################################
# Validates the configuration from the environment.
# Globals: NVSMI_TIMEOUT_S, DEADLINE_S (set).
#######################################
read_config() {
  env_int -v NVSMI_TIMEOUT_S GPU_MAINT_NVSMI_TIMEOUT_S 15 1 40
  env_int -v DEADLINE_S GPU_MAINT_GPU_CHECK_DEADLINE_S 50 20 55
  env_matches GPU_MAINT_INSTANCE_TYPE auto '^(auto|[a-z0-9-]+\.[a-z0-9-]+)$' 'auto or an EC2 instance type such as p5.48xlarge' >/dev/null
}

#######################################
# Prints the limit a probe may get so that it ends, kill grace included, before the deadline while
# keeping reserve_s for the probes after it; 0 or less when there is no time left.
# Arguments: wanted limit in seconds, seconds to keep in reserve.
#######################################
limit_for() {
  local want_s="$1" reserve_s="$2" left_s
  left_s=$((DEADLINE_S - SECONDS - reserve_s - KILL_GRACE_S))
  # The watchdog counts 0.1 s sleeps, which run up to a tenth slow on a loaded host.
  left_s=$((left_s * 10 / 11))
  if ((want_s < left_s)); then
    printf '%s\n' "${want_s}"
  else
    printf '%s\n' "${left_s}"
  fi
}

#######################################
# Identity: instance type and id (IMDSv2 only on EC2 or with an explicit endpoint), uptime, boot id.
# Globals: BOOT_ID, HOST, IDENTITY (set; IDENTITY holds the identity section's key=value pairs).
#######################################
collect_identity() {
  local instance_type source="config" instance_id="" value uptime_s=""
  env_str -v instance_type GPU_MAINT_INSTANCE_TYPE auto
  # Called in this shell, not in $( ): the IMDSv2 token is fetched once and kept.
  if imds_get instance-id >"${RESULT_TMP_DIR}/imds-instance-id" 2>/dev/null; then
    value="$(head -c 64 "${RESULT_TMP_DIR}/imds-instance-id")"
    [[ "${value}" =~ ^[a-z]+-[0-9a-f]+$ ]] && instance_id="${value}"
    if [[ "${instance_type}" == "auto" ]] && imds_get instance-type >"${RESULT_TMP_DIR}/imds-instance-type" 2>/dev/null; then
      value="$(head -c 64 "${RESULT_TMP_DIR}/imds-instance-type")"
      if [[ "${value}" =~ ^[a-z0-9-]+\.[a-z0-9-]+$ ]]; then
        instance_type="${value}"
        source="imds"
      fi
    fi
  fi
  if [[ "${instance_type}" == "auto" ]]; then
    instance_type=""
    source="none"
  fi
  if [[ -r /proc/uptime ]]; then
    read -r value _ </proc/uptime || true
    uptime_s="${value%%.*}"
  fi
  if [[ -r /proc/sys/kernel/random/boot_id ]]; then
    read -r BOOT_ID </proc/sys/kernel/random/boot_id || true
  fi
  # The configured id, else the instance id just read, else the hostname (host_id without a second IMDS call).
  env_str -v HOST GPU_MAINT_HOST_ID "${instance_id}"
  [[ -n "${HOST}" ]] || HOST="$(hostname 2>/dev/null || uname -n)"
  IDENTITY=("instance_type=${instance_type}" "instance_type_source=${source}" "instance_id=${instance_id}"
    "uptime_s=${uptime_s}" "boot_id=${BOOT_ID}")
}

#######################################
# Counts NVIDIA display/3D controllers on the PCI bus (vendor 0x10de, class 0x03xxxx; NVSwitches
# are bridges and do not count). Seen even when no driver is loaded.
# Outputs: the count.
#######################################
count_pci_gpus() {
  local dir dev vendor class count=0
  env_str -v dir GPU_MAINT_PCI_DEVICES_DIR /sys/bus/pci/devices
  for dev in "${dir}"/*; do
    [[ -r "${dev}/vendor" && -r "${dev}/class" ]] || continue
    read -r vendor <"${dev}/vendor" || continue
    read -r class <"${dev}/class" || continue
    [[ "${vendor}" == "0x10de" && "${class}" == 0x03* ]] && count=$((count + 1))
  done
  printf '%s\n' "${count}"
}

#######################################
# The driver section: is nvidia-smi installed, is the kernel module loaded, are there NVIDIA GPUs.
# Outputs: the driver section.
#######################################
collect_driver() {
  local nvsmi module="" line
  nvsmi="$(command -v nvidia-smi || true)"
  if [[ -r /proc/driver/nvidia/version ]]; then
    line="$(timeout -k 1 "${DRIVER_FILE_TIMEOUT_S}" head -n 1 /proc/driver/nvidia/version 2>/dev/null || true)"
    [[ "${line}" =~ ([0-9]+\.[0-9]+(\.[0-9]+)?) ]] && module="${BASH_REMATCH[1]}"
  fi
  kv_section driver "nvidia_smi=${nvsmi}" "kernel_module=${module}" "pci_gpus=$(count_pci_gpus)"
}

#######################################
# Keeps at most NVSMI_MAX_OUTPUT_BYTES of a call's output (a broken driver can print hundreds of MB)
# and says so on its stderr ("output cut at N bytes"), which the evaluation reports.
# Arguments: stdout file, stderr file.
#######################################
cap_output() {
  local out="$1" err="$2" size
  size="$(stat -c '%s' -- "${out}" 2>/dev/null || printf '0')"
  ((size > NVSMI_MAX_OUTPUT_BYTES)) || return 0
  head -c "${NVSMI_MAX_OUTPUT_BYTES}" -- "${out}" >"${out}.cut" && mv -f -- "${out}.cut" "${out}"
  printf 'gpu-maint: output cut at %s bytes (nvidia-smi printed %s)\n' "${NVSMI_MAX_OUTPUT_BYTES}" "${size}" >>"${err}"
}

#######################################
# Runs one nvidia-smi call as a probe, unless an earlier call timed out or the budget is spent.
# Arguments: section name, show|hide (hide keeps the output out of the result: the help text is
#   40 kB and the evaluation does not need it), nvidia-smi arguments.
# Globals: NVSMI_WEDGED (set when this call times out).
# Returns: nvidia-smi's status; NOT_RUN_EXIT when it was not run.
#######################################
nvsmi_probe() {
  local name="$1" output="$2" limit_s rc=0 min_s=5 start dir="${RESULT_TMP_DIR}"
  shift 2
  if [[ -n "${NVSMI_WEDGED}" ]]; then
    skipped_section "${name}" "${NOT_RUN_EXIT}" "not run: nvidia-smi did not answer (${NVSMI_WEDGED} timed out)"
    return "${NOT_RUN_EXIT}"
  fi
  limit_s="$(limit_for "${NVSMI_TIMEOUT_S}" $((XID_JOURNAL_TIMEOUT_S + KILL_GRACE_S)))"
  ((NVSMI_TIMEOUT_S < min_s)) && min_s="${NVSMI_TIMEOUT_S}"
  if ((limit_s < min_s)); then
    skipped_section "${name}" "${NOT_RUN_EXIT}" "not run: time budget spent (${SECONDS}s of ${DEADLINE_S}s used)"
    return "${NOT_RUN_EXIT}"
  fi
  start="$(monotonic_seconds)"
  run_bounded "${limit_s}" "${dir}/${name}.out" "${dir}/${name}.err" nvidia-smi "$@" || rc=$?
  cap_output "${dir}/${name}.out" "${dir}/${name}.err"
  if [[ "${output}" == show ]]; then
    section_from_files "${name}" "${dir}/${name}.out" "${dir}/${name}.err" "${rc}" "${start}"
  else
    section_from_files "${name}" /dev/null "${dir}/${name}.err" "${rc}" "${start}"
  fi
  if ((rc == 124 || rc == 137)); then
    NVSMI_WEDGED="${name}"
    log "nvidia-smi ${*} did not answer within ${limit_s}s; skipping the remaining nvidia-smi calls"
  fi
  return "${rc}"
}

#######################################
# Picks the wanted fields this driver lists in --help-query-gpu (one unknown field fails the whole
# query). Falls back to BASE_FIELDS when the help text lists nothing.
# Arguments: file with the --help-query-gpu output (may be missing).
# Globals: QUERY_FIELDS (set: comma-separated), UNLISTED_FIELDS (set: wanted fields the driver lacks).
#######################################
select_fields() {
  local help_file="$1" line field prefix="" reason
  local -A valid=()
  local -a selected=() unlisted=()
  if [[ -s "${help_file}" ]]; then
    while IFS= read -r line; do
      [[ "${line}" == \"* ]] || continue
      while [[ "${line}" =~ \"([^\"]+)\" ]]; do
        valid["${BASH_REMATCH[1]}"]=1
        line="${line#*"${BASH_REMATCH[0]}"}"
      done
    done <"${help_file}"
  fi
  if ((${#valid[@]} == 0)); then
    QUERY_FIELDS="${BASE_FIELDS}"
    UNLISTED_FIELDS=""
    return 0
  fi
  for field in "${WANTED_FIELDS[@]}"; do
    if [[ -n "${valid[${field}]:-}" ]]; then
      selected+=("${field}")
    else
      unlisted+=("${field}")
    fi
  done
  if [[ -n "${valid[clocks_event_reasons.active]:-}" ]]; then
    prefix="clocks_event_reasons"
  elif [[ -n "${valid[clocks_throttle_reasons.active]:-}" ]]; then
    prefix="clocks_throttle_reasons"
  else
    unlisted+=("clocks_event_reasons.active")
  fi
  if [[ -n "${prefix}" ]]; then
    for reason in "${CLOCK_REASONS[@]}"; do
      [[ -n "${valid[${prefix}.${reason}]:-}" ]] && selected+=("${prefix}.${reason}")
    done
  fi
  local IFS=,
  QUERY_FIELDS="${selected[*]}"
  UNLISTED_FIELDS="${unlisted[*]+"${unlisted[*]}"}"
}

#######################################
# Prints the field an nvidia-smi query rejected ("Field "x" is not a valid field to query."), if any.
# Arguments: files with the query's stdout and stderr.
#######################################
rejected_field() {
  local file
  for file in "$@"; do
    [[ -r "${file}" ]] && sed -n 's/^Field "\([^"]*\)" is not a valid field to query.*/\1/p' "${file}"
  done | head -n 1 || true
  return 0
}

#######################################
# Queries the GPUs: field detection, one --query-gpu (retried once without a field the driver still
# rejects), -L. Remembers which GPUs were seen this boot.
#######################################
collect_nvidia_smi() {
  local fields rejected query_out rc=0 dir="${RESULT_TMP_DIR}"
  QUERY_FIELDS="${BASE_FIELDS}"
  UNLISTED_FIELDS=""
  if nvsmi_probe nvidia-smi-help hide --help-query-gpu; then
    select_fields "${dir}/nvidia-smi-help.out"
  fi
  kv_section query-fields "selected=${QUERY_FIELDS}" "unlisted=${UNLISTED_FIELDS}"
  fields="${QUERY_FIELDS}"
  query_out="${dir}/nvidia-smi-query.out"
  nvsmi_probe nvidia-smi-query show --query-gpu="${fields}" --format=csv || rc=$?
  rejected="$(rejected_field "${dir}/nvidia-smi-query.out" "${dir}/nvidia-smi-query.err")"
  if ((rc != 0)) && [[ -n "${rejected}" ]]; then
    log "nvidia-smi rejected field ${rejected} although --help-query-gpu listed it; retrying without it"
    fields=",${fields},"
    fields="${fields//,${rejected},/,}"
    fields="${fields#,}"
    fields="${fields%,}"
    rc=0
    nvsmi_probe nvidia-smi-query-retry show --query-gpu="${fields}" --format=csv || rc=$?
    query_out="${dir}/nvidia-smi-query-retry.out"
  fi
  nvsmi_probe nvidia-smi-list show -L || true
  remember_gpus "$((rc == 0))" "${query_out}"
}

#######################################
# Prints the GPUs seen earlier this boot (bus id and index per line) as a section, then adds those of
# this query. A GPU that was seen and is gone fell off the bus, whatever the instance type says.
# Arguments: 1 when the query succeeded, the query's stdout file.
#######################################
remember_gpus() {
  local query_ok="$1" query_out="$2" state file tmp saved_boot=""
  state="$(state_dir)"
  file="${state}/gpu-check.gpus-seen"
  tmp="${RESULT_TMP_DIR}/gpus-seen"
  : >"${tmp}"
  if [[ -r "${file}" ]]; then
    IFS= read -r saved_boot <"${file}" || true
    [[ "${saved_boot}" == "boot_id=${BOOT_ID}" ]] && tail -n +2 "${file}" >"${tmp}"
  fi
  section_from_files gpus-seen-this-boot "${tmp}" /dev/null 0 "$(monotonic_seconds)"
  ((query_ok == 1)) || return 0
  # Bus id and index columns, found by header name (units or not, any column order).
  awk -F', *' '
    NR == 1 { for (i = 1; i <= NF; i++) { h = $i; sub(/ *\[.*$/, "", h); if (h == "pci.bus_id" || h == "gpu_bus_id") b = i; if (h == "index") x = i }; n = NF; next }
    b && x && NF == n && $b ~ /^[0-9A-Fa-f]+:[0-9A-Fa-f]+:[0-9A-Fa-f]+/ { print toupper($b), $x }
  ' "${query_out}" >>"${tmp}" || return 0
  {
    printf 'boot_id=%s\n' "${BOOT_ID}"
    # Latest index per bus id; the file stays as small as the GPU count.
    awk '{ idx[$1] = $2 } END { for (b in idx) print b, idx[b] }' "${tmp}" | sort
  } >"${file}.$$.tmp" && mv -f "${file}.$$.tmp" "${file}"
}

#######################################
# Kernel Xid lines from the journal since the cursor (journalctl writes the cursor file itself).
# Runs in a child bash under probe. Arguments: cursor file.
#######################################
xid_from_journal() {
  set -o pipefail
  journalctl -k -o short-iso --no-pager --cursor-file="$1" | { grep -F "${XID_MARKER}" || true; }
}

#######################################
# Kernel Xid lines from dmesg newer than the saved (boot id, kernel timestamp); all of this boot's
# ring buffer on the first run or after a reboot. Runs in a child bash under probe.
# Arguments: state file, current boot id.
#######################################
xid_from_dmesg() {
  local state="$1" boot_id="$2" saved_boot="" last_ts="0" rc=0
  if [[ -r "${state}" ]]; then
    read -r saved_boot last_ts <"${state}" || true
  fi
  [[ "${saved_boot}" == "${boot_id}" && "${last_ts}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || last_ts=0
  # This run's own temp file: two checks at once must not write into each other's.
  local new="${state}.$$.new"
  rm -f -- "${new}"
  set -o pipefail
  dmesg | awk -v last="${last_ts}" -v boot="${boot_id}" -v state="${new}" -v marker="${XID_MARKER}" '
    match($0, /^\[ *[0-9]+\.[0-9]+\]/) { ts = substr($0, RSTART + 1, RLENGTH - 2) + 0; if (ts <= last) next; newest = ts }
    index($0, marker) { print }
    END { if (newest > 0) printf "%s %.6f\n", boot, newest > state }
  ' || rc=$?
  if ((rc == 0)) && [[ -s "${new}" ]]; then
    mv -f -- "${new}" "${state}"
  fi
  rm -f -- "${new}"
  return "${rc}"
}

#######################################
# Collects Xid lines since the last run: the journal, else dmesg.
#######################################
collect_xid() {
  local state limit_s rc=0 err="${RESULT_TMP_DIR}/kernel-xid-journal.err"
  state="$(state_dir)"
  export -f xid_from_journal xid_from_dmesg
  export XID_MARKER
  if command -v journalctl >/dev/null 2>&1; then
    limit_s="$(limit_for "${XID_JOURNAL_TIMEOUT_S}" 0)"
    if ((limit_s >= 1)); then
      # shellcheck disable=SC2016 # $1 is expanded by the child bash
      probe kernel-xid-journal "${limit_s}" bash -c 'xid_from_journal "$1"' xid "${state}/gpu-check.journal-cursor" || rc=$?
      # A journal without files, or one this user may not read, says so and exits 0.
      if ((rc == 0)) && ! grep -qE 'No journal files were found|not seeing messages' "${err}" 2>/dev/null; then
        return 0
      fi
    else
      skipped_section kernel-xid-journal "${NOT_RUN_EXIT}" "not run: time budget spent (${SECONDS}s of ${DEADLINE_S}s used)"
      return 0
    fi
  fi
  limit_s="$(limit_for "${XID_DMESG_TIMEOUT_S}" 0)"
  if ((limit_s >= 1)); then
    # shellcheck disable=SC2016 # $1 and $2 are expanded by the child bash
    probe kernel-xid-dmesg "${limit_s}" bash -c 'xid_from_dmesg "$1" "$2"' xid "${state}/gpu-check.dmesg-cursor" "${BOOT_ID}" || true
  else
    skipped_section kernel-xid-dmesg "${NOT_RUN_EXIT}" "not run: time budget spent (${SECONDS}s of ${DEADLINE_S}s used)"
  fi
}

main() {
  SECONDS=0
  export GPU_MAINT_TASK=gpu-check
  read_config
  ensure_result_tmp_dir
  HOST=""
  IDENTITY=()
  collect_identity
  result_begin gpu-check "${HOST}"
  kv_section identity "${IDENTITY[@]}"
  collect_driver
  if command -v nvidia-smi >/dev/null 2>&1; then
    collect_nvidia_smi
  else
    log "nvidia-smi not found: no NVIDIA driver installed"
  fi
  collect_xid
  kv_section budget "deadline_s=${DEADLINE_S}" "kill_grace_s=${KILL_GRACE_S}" "nvsmi_timeout_s=${NVSMI_TIMEOUT_S}" \
    "xid_timeout_s=${XID_JOURNAL_TIMEOUT_S}" "elapsed_s=${SECONDS}"
  result_end
}

main "$@"
