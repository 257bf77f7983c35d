#!/usr/bin/env bash
#
# Installs the logrotate configuration rendered from config (logrotate.groups) as
# /etc/logrotate.d/gpu-maint: written atomically (temp file in the same directory, then rename),
# validated with `logrotate -d`, and rolled back to the previous file when validation fails.
#
# Usage: logrotate-apply.sh   (configuration from environment variables)
#   GPU_MAINT_LOGROTATE_CONFIG_B64   the rendered file, base64 (a safe transport through SSM's parameter substitution)
#   GPU_MAINT_LOGROTATE_TARGET       file to write (default /etc/logrotate.d/gpu-maint; for tests)
#   GPU_MAINT_LOGROTATE_MAIN_CONFIG  main config validated too when it was valid before the change
#                                    (default /etc/logrotate.conf for the default target, else none;
#                                    it catches logs listed twice across files)
# Output: the result contract; section logrotate-apply (target, changed, valid, rolled_back, sha256,
#   previous_sha256, groups, message) and the logrotate -d output as logrotate-validate.
# Exit: 0 when the configuration is installed and valid; 1 when it could not be applied (logrotate
#   missing, bad input, the lock held by another run, or validation failed and the previous file
#   was restored), so that State Manager reports the host as non-compliant.

set -euo pipefail
export LC_ALL=C

# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"
# shellcheck source=lib/result.sh
source "${BASH_SOURCE[0]%/*}/lib/result.sh"

readonly DEFAULT_TARGET=/etc/logrotate.d/gpu-maint
readonly LOGROTATE_TIMEOUT_S=60

#######################################
# Replaces a file atomically with the content of another: a temp file in the target's directory
# (hidden, with a name logrotate ignores while it is there), mode 0644, then rename.
# Arguments: source file, target file.
#######################################
atomic_install() {
  local src="$1" target="$2" dir tmp
  dir="$(dirname -- "${target}")"
  tmp="$(mktemp --suffix='~' "${dir}/.gpu-maint.XXXXXX")"
  if ! cat -- "${src}" >"${tmp}" || ! chmod 0644 "${tmp}"; then
    rm -f -- "${tmp}"
    return 1
  fi
  # logrotate ignores configs owned by others than root when it runs as root.
  if [[ "${EUID}" -eq 0 ]]; then chown root:root "${tmp}" 2>/dev/null || true; fi
  sync -- "${tmp}" 2>/dev/null || true
  mv -f -- "${tmp}" "${target}"
}

sha256_of() {
  sha256sum -- "$1" | awk '{ print $1 }'
}

#######################################
# Checks that every compresscmd/uncompresscmd in a config is an executable (logrotate -d does not).
# Arguments: config file.
# Outputs: the first missing program.
#######################################
missing_compressor() {
  local program
  while read -r program; do
    if [[ ! -x "${program}" ]]; then
      printf '%s\n' "${program}"
      return 0
    fi
  done < <(awk '$1 == "compresscmd" || $1 == "uncompresscmd" { print $2 }' "$1")
  return 0
}

#######################################
# Prints the summary section and ends the result.
# Arguments: key=value pairs.
#######################################
finish() {
  kv_section logrotate-apply "$@"
  result_end
}

#######################################
# Ends the result with a failure message and exits 1. After result_begin a bare `die` would leave the
# result without its end line, which reads as truncated output instead of the reason.
# Uses main's target, changed and rolled_back. Arguments: message.
#######################################
fail() {
  log "error: $1"
  finish "target=${target}" "changed=${changed}" valid=false "rolled_back=${rolled_back}" "message=$1"
  exit 1
}

main() {
  local target main_conf work changed=false valid=false rolled_back=false message=""
  local new_sha previous_sha="" groups main_ok_before=false host
  env_matches -v target GPU_MAINT_LOGROTATE_TARGET "${DEFAULT_TARGET}" '^/' 'an absolute path'
  if [[ "${target}" == "${DEFAULT_TARGET}" ]]; then
    env_opt -v main_conf GPU_MAINT_LOGROTATE_MAIN_CONFIG /etc/logrotate.conf
  else
    env_str -v main_conf GPU_MAINT_LOGROTATE_MAIN_CONFIG ""
  fi

  host_id -v host
  result_begin logrotate "${host}"
  work="${RESULT_TMP_DIR}"
  if ! command -v logrotate >/dev/null 2>&1; then
    finish "target=${target}" changed=false valid=false rolled_back=false "message=logrotate is not installed on this host"
    exit 1
  fi
  if [[ ! -d "$(dirname -- "${target}")" ]]; then
    finish "target=${target}" changed=false valid=false rolled_back=false "message=directory $(dirname -- "${target}") does not exist"
    exit 1
  fi
  local config_b64
  env_str -v config_b64 GPU_MAINT_LOGROTATE_CONFIG_B64 ""
  if [[ -z "${config_b64}" ]] ||
    ! printf '%s' "${config_b64}" | base64 -d >"${work}/new" 2>/dev/null; then
    finish "target=${target}" changed=false valid=false rolled_back=false "message=GPU_MAINT_LOGROTATE_CONFIG_B64 is empty or not base64"
    exit 1
  fi
  new_sha="$(sha256_of "${work}/new")"
  groups="$(grep -c '{[[:space:]]*$' "${work}/new" || true)"

  local lock
  lock="$(state_dir)/logrotate.lock"
  exec 9>>"${lock}" || fail "cannot open the lock ${lock}"
  flock -w 60 9 || fail "another logrotate apply holds ${lock}"

  if [[ -n "${main_conf}" && -f "${main_conf}" ]] &&
    timeout -k 5 "${LOGROTATE_TIMEOUT_S}" logrotate -d -s "${work}/state-before" "${main_conf}" >/dev/null 2>&1; then
    main_ok_before=true
  fi
  if [[ -f "${target}" ]]; then
    cp -p -- "${target}" "${work}/previous" || fail "cannot keep a copy of ${target}; nothing was changed"
    previous_sha="$(sha256_of "${work}/previous")"
  fi
  if [[ "${previous_sha}" != "${new_sha}" ]]; then
    atomic_install "${work}/new" "${target}" || fail "cannot write ${target}"
    changed=true
    log "wrote ${target} (${groups} groups)"
  fi

  local rc=0 missing
  probe logrotate-validate "${LOGROTATE_TIMEOUT_S}" logrotate -d -s "${work}/state" "${target}" || rc=$?
  missing="$(missing_compressor "${target}")"
  if ((rc != 0)); then
    message="logrotate -d exited ${rc}: $(grep -m 1 '^error:' "${work}/logrotate-validate.err" || true)"
  elif [[ -n "${missing}" ]]; then
    message="compression program ${missing} is not installed"
  elif [[ "${main_ok_before}" == true ]]; then
    probe logrotate-validate-main "${LOGROTATE_TIMEOUT_S}" logrotate -d -s "${work}/state-main" "${main_conf}" || rc=$?
    ((rc == 0)) || message="${main_conf} no longer validates with the new file: $(grep -m 1 '^error:' "${work}/logrotate-validate-main.err" || true)"
  fi
  if [[ -z "${message}" ]]; then
    valid=true
  else
    log "validation failed: ${message}"
    if [[ "${changed}" == true ]]; then
      if [[ -f "${work}/previous" ]]; then
        atomic_install "${work}/previous" "${target}" || fail "${message}; restoring the previous ${target} failed"
      else
        rm -f -- "${target}"
      fi
      rolled_back=true
      log "restored the previous ${target}"
    fi
  fi
  finish "target=${target}" "changed=${changed}" "valid=${valid}" "rolled_back=${rolled_back}" \
    "sha256=${new_sha}" "previous_sha256=${previous_sha}" "groups=${groups}" "message=${message}"
  [[ "${valid}" == true ]] || exit 1
}

main "$@"
