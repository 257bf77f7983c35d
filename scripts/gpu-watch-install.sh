#!/usr/bin/env bash
#
# gpu-watch-install: installs the kernel-log watcher (the bundled scripts/gpu-watch.sh) and its systemd unit
# on this host and keeps it running. The State Manager association (lib/constructs/watcher-association.ts)
# runs it on every fleet host, again on a schedule: files that differ are replaced and the service restarted;
# a service that someone stopped or disabled is enabled and started again; nothing else is touched.
#
# Usage: gpu-watch-install.sh   (configuration from the environment)
#   GPU_MAINT_WATCH_SCRIPT_FILE  the bundled watcher to install                                   (required)
#   GPU_MAINT_WATCH_UNIT_FILE    the rendered gpu-maint-watch.service to install                  (required)
#   GPU_MAINT_STATE_DIR          the unit's one writable path: created here, as systemd cannot set up the
#                                sandbox's ReadWritePaths= for a path that does not exist   [/var/lib/gpu-maint]
#   GPU_MAINT_INSTALL_ROOT       prefix of the paths written (tests)                                    [/]
# Output: a `watch-install` key=value section (script_changed, unit_changed, restarted, active).
# Exit: 0 when the watcher is installed and active; 1 when it could not be installed or does not start.

set -euo pipefail

# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"
# shellcheck source=lib/result.sh
source "${BASH_SOURCE[0]%/*}/lib/result.sh"

readonly UNIT_NAME='gpu-maint-watch.service'
readonly SCRIPT_PATH='usr/local/lib/gpu-maint/gpu-watch.sh'
readonly UNIT_PATH="etc/systemd/system/${UNIT_NAME}"
readonly SYSTEMCTL_TIMEOUT_S=60

#######################################
# Replaces a file with new content when it differs (atomically: a temp file beside it, then mv).
# Arguments: source file, destination, mode. Outputs: "true" when replaced, else "false".
#######################################
install_if_changed() {
  local src="$1" dest="$2" mode="$3" tmp
  if [[ -f "${dest}" ]] && cmp -s -- "${src}" "${dest}"; then
    echo false
    return 0
  fi
  mkdir -p -- "${dest%/*}"
  tmp="$(mktemp "${dest}.XXXXXX")"
  cp -- "${src}" "${tmp}"
  chmod "${mode}" -- "${tmp}"
  mv -f -- "${tmp}" "${dest}"
  echo true
}

#######################################
# systemctl, bounded. Arguments: systemctl's arguments.
#######################################
sysctl_bounded() {
  timeout -k 5 "${SYSTEMCTL_TIMEOUT_S}" systemctl "$@"
}

main() {
  export GPU_MAINT_TASK=gpu-watch-install
  local script unit root
  env_str -v script GPU_MAINT_WATCH_SCRIPT_FILE ""
  env_str -v unit GPU_MAINT_WATCH_UNIT_FILE ""
  env_matches -v root GPU_MAINT_INSTALL_ROOT / '^/' 'an absolute path'
  [[ -r "${script}" ]] || die "GPU_MAINT_WATCH_SCRIPT_FILE must name the bundled watcher, got: '${script}'"
  [[ -r "${unit}" ]] || die "GPU_MAINT_WATCH_UNIT_FILE must name the rendered unit, got: '${unit}'"
  command -v systemctl >/dev/null 2>&1 || die "systemctl not found: the watcher is installed as a systemd service"
  root="${root%/}"
  local state
  env_matches -v state GPU_MAINT_STATE_DIR /var/lib/gpu-maint '^/' 'an absolute path'
  mkdir -p -- "${root}${state}" || die "cannot create the state dir ${root}${state}"
  local script_changed unit_changed restarted=false active
  script_changed="$(install_if_changed "${script}" "${root}/${SCRIPT_PATH}" 0755)"
  unit_changed="$(install_if_changed "${unit}" "${root}/${UNIT_PATH}" 0644)"
  if [[ "${unit_changed}" == true ]]; then
    sysctl_bounded daemon-reload || die "systemctl daemon-reload failed"
  fi
  sysctl_bounded enable "${UNIT_NAME}" >/dev/null 2>&1 || die "systemctl enable ${UNIT_NAME} failed"
  if [[ "${script_changed}" == true || "${unit_changed}" == true ]]; then
    sysctl_bounded restart "${UNIT_NAME}" || die "systemctl restart ${UNIT_NAME} failed"
    restarted=true
  elif ! sysctl_bounded is-active --quiet "${UNIT_NAME}"; then
    log "${UNIT_NAME} was not running; starting it"
    sysctl_bounded start "${UNIT_NAME}" || die "systemctl start ${UNIT_NAME} failed"
    restarted=true
  fi
  active="$(sysctl_bounded is-active "${UNIT_NAME}" 2>/dev/null || true)"
  kv_section watch-install "script_changed=${script_changed}" "unit_changed=${unit_changed}" "restarted=${restarted}" \
    "active=${active:-unknown}"
  [[ "${active}" == active ]] || die "${UNIT_NAME} is ${active:-unknown} after the install; see journalctl -u ${UNIT_NAME}"
}

main "$@"
