#!/usr/bin/env bash
#
# Frees disk space on a GPU host without losing fresh or protected data: old experiment runs, old
# checkpoints (always keeping the newest per directory), unused docker images and package caches.
# Dry run by default: it reports what it would delete and deletes nothing.
#
# Usage: cleanup.sh   (configuration from environment variables, declared in lib/task-parameters.ts)
#   GPU_MAINT_CLEANUP_DRY_RUN                  true (default): report only
#   GPU_MAINT_CLEANUP_FORCE                    true: lift the maxDeleteFraction guard for this run
#   GPU_MAINT_CLEANUP_MAX_DELETE_FRACTION      a root whose selection exceeds this fraction of its
#                                              bytes is left alone (default 0.5)
#   GPU_MAINT_CLEANUP_EXPERIMENT_PATHS         comma-separated experiment roots
#   GPU_MAINT_CLEANUP_EXPERIMENT_MAX_AGE_DAYS  run dirs whose newest entry is older are deleted (30)
#   GPU_MAINT_CLEANUP_CHECKPOINT_PATHS         comma-separated checkpoint roots
#   GPU_MAINT_CLEANUP_CHECKPOINT_PATTERNS      comma-separated file-name globs (*.ckpt,*.pt,*.safetensors)
#   GPU_MAINT_CLEANUP_CHECKPOINT_MAX_AGE_DAYS  matching files older than this are deleted (7) ...
#   GPU_MAINT_CLEANUP_CHECKPOINT_KEEP_NEWEST   ... except the newest N per directory (3)
#   GPU_MAINT_CLEANUP_DOCKER                   true: prune docker images no container uses
#   GPU_MAINT_CLEANUP_DOCKER_UNUSED_HOURS      ... created more than this many hours ago (168)
#   GPU_MAINT_CLEANUP_CACHES                   comma-separated: pip, conda, apt, huggingface
#   GPU_MAINT_CLEANUP_HF_MAX_GIB               Hugging Face hub cache cap, LRU (200)
#   GPU_MAINT_CLEANUP_PROTECT_MARKER           file name protecting its directory tree (.keep)
#   GPU_MAINT_CLEANUP_PROTECT                  comma-separated path globs protecting their trees
#   GPU_MAINT_CLEANUP_KEEP_OUT                 comma-separated paths no root may equal, lie inside or
#                                              contain (backup sources and store); the state dir too
#   GPU_MAINT_CLEANUP_SYSROOT                  prefix of /root, /home, /var/cache, /opt/conda (tests)
# Safety: roots must be absolute, normalized, not symlinks, and not system paths; a refused root stops
#   the whole run before anything is deleted. find runs with -P -xdev (no symlinks followed, one
#   filesystem), run dirs on another filesystem are skipped, rm -rf runs with --one-file-system, and an
#   entry is deleted only if it still has the device and inode it was judged with. Entries holding a
#   file open, memory-mapped or as working directory of any process are skipped (the /proc scan that
#   fuser does, so neither psmisc nor lsof is needed).
# Stop: on SIGINT, SIGTERM or SIGHUP the deletion under way finishes, nothing more is deleted (the rest
#   is listed as skipped-interrupted), the result is completed and the script exits 128 + the signal.
# Output: the result contract on stdout: a cleanup-config section, one area-N section per root or cache
#   (category, status, bytes), disk-before/disk-after (df), and cleanup-items: one line per deleted,
#   would-delete, blocked, failed or skipped path, "<action> <category> <bytes> <path>", the path with
#   backslash, control bytes and bytes >= 0x80 written as \\ and \xHH, so every name fits on one line;
#   cleanup-item-ages: "<mtime epoch> <path>" (same escaping) of each selected path whose age is known.
# Exit: 0 when the cleanup ran (whatever it found); 1 when it could not run: a root was refused
#   (relative, not normalized, a symlink, not a directory, a system path, or overlapping a kept-out path)
#   or the configuration is invalid; 129/130/143 when stopped by SIGHUP/SIGINT/SIGTERM. Another cleanup
#   holding the lock is reported in a cleanup-busy section, exit 0 (nothing to fix on this host).

set -euo pipefail
export LC_ALL=C

# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"
# shellcheck source=lib/result.sh
source "${BASH_SOURCE[0]%/*}/lib/result.sh"
# shellcheck source=lib/cleanup-report.sh
source "${BASH_SOURCE[0]%/*}/lib/cleanup-report.sh"
# shellcheck source=lib/cleanup-safety.sh
source "${BASH_SOURCE[0]%/*}/lib/cleanup-safety.sh"
# shellcheck source=lib/cleanup-delete.sh
source "${BASH_SOURCE[0]%/*}/lib/cleanup-delete.sh"
# shellcheck source=lib/cleanup-files.sh
source "${BASH_SOURCE[0]%/*}/lib/cleanup-files.sh"
# shellcheck source=lib/cleanup-caches.sh
source "${BASH_SOURCE[0]%/*}/lib/cleanup-caches.sh"
# shellcheck source=lib/cleanup-docker.sh
source "${BASH_SOURCE[0]%/*}/lib/cleanup-docker.sh"

WORK="" # scratch directory of this run
NOW_S=0

main() {
  local host exp_days ckpt_days keep patterns root reason refused=0
  local -a exp_roots=() ckpt_roots=() disk_paths=()
  env_bool -v DRY_RUN GPU_MAINT_CLEANUP_DRY_RUN true
  env_bool -v FORCE GPU_MAINT_CLEANUP_FORCE false
  env_number -v MAX_FRACTION GPU_MAINT_CLEANUP_MAX_DELETE_FRACTION 0.5
  env_number -v exp_days GPU_MAINT_CLEANUP_EXPERIMENT_MAX_AGE_DAYS 30
  env_number -v ckpt_days GPU_MAINT_CLEANUP_CHECKPOINT_MAX_AGE_DAYS 7
  env_int -v keep GPU_MAINT_CLEANUP_CHECKPOINT_KEEP_NEWEST 3
  env_opt -v patterns GPU_MAINT_CLEANUP_CHECKPOINT_PATTERNS '*.ckpt,*.pt,*.safetensors'
  env_matches -v MARKER GPU_MAINT_CLEANUP_PROTECT_MARKER .keep '^[^/]+$' 'a file name'
  [[ "${MARKER}" != . && "${MARKER}" != .. ]] || die "GPU_MAINT_CLEANUP_PROTECT_MARKER must be a file name, got: '${MARKER}'"
  mapfile -t PROTECT_GLOBS < <(env_list GPU_MAINT_CLEANUP_PROTECT "")
  mapfile -t exp_roots < <(env_list GPU_MAINT_CLEANUP_EXPERIMENT_PATHS /opt/ml/experiments)
  mapfile -t ckpt_roots < <(env_list GPU_MAINT_CLEANUP_CHECKPOINT_PATHS /opt/ml/checkpoints)

  ensure_result_tmp_dir
  WORK="${RESULT_TMP_DIR}"
  ITEMS="${WORK}/items" AGES="${WORK}/ages" ESC_SED="${WORK}/escape.sed" OPEN_SET="${WORK}/open"
  : >"${ITEMS}"
  : >"${AGES}"
  write_escape_script
  NOW_S="$(date +%s)"

  STOP_AT_SAFE_POINTS=true
  load_keep_out
  host_id -v host
  result_begin cleanup "${host}"
  kv_section cleanup-config "dry_run=${DRY_RUN}" "force=${FORCE}" "max_delete_fraction=${MAX_FRACTION}" \
    "protect_marker=${MARKER}" "experiments_max_age_days=${exp_days}" "checkpoints_max_age_days=${ckpt_days}" \
    "checkpoints_keep_newest=${keep}" "started=${NOW_S}"

  # A second cleanup while one runs is not a failure of this host: it is reported and skipped.
  local lock
  lock="$(state_dir)/cleanup.lock"
  if ! { exec 9>>"${lock}"; } 2>/dev/null; then
    die "cannot open the lock ${lock}"
  fi
  if ! flock -n 9; then
    kv_section cleanup-busy "message=another cleanup is already running (lock ${lock}); this run deleted nothing"
    result_end
    log "another cleanup is already running (lock ${lock}); nothing done"
    return 0
  fi

  # Every root is checked before anything is deleted: one unsafe root stops the whole run.
  local category
  for category in experiments checkpoints; do
    local -a roots=()
    if [[ "${category}" == experiments ]]; then roots=("${exp_roots[@]+"${exp_roots[@]}"}"); else roots=("${ckpt_roots[@]+"${ckpt_roots[@]}"}"); fi
    for root in "${roots[@]+"${roots[@]}"}"; do
      reason="$(unsafe_root_reason "${root}")"
      if [[ -n "${reason}" ]]; then
        emit_area "category=${category}" status=refused "path=$(escape_path "${root}")" "message=refused: ${root} ${reason}"
        refused=$((refused + 1))
      fi
    done
  done
  if ((refused > 0)); then
    emit_items
    result_end
    log "refused ${refused} cleanup root(s); nothing was deleted"
    exit 1
  fi

  # Filesystems of the roots, and of / where caches and docker usually live (the core deduplicates).
  disk_paths=(/)
  for root in "${exp_roots[@]+"${exp_roots[@]}"}" "${ckpt_roots[@]+"${ckpt_roots[@]}"}"; do
    root="${root%/}"
    [[ -d "${root}" ]] && disk_paths+=("${root}")
  done
  probe disk-before 30 df -P -B1 -- "${disk_paths[@]}" || true

  for root in "${exp_roots[@]+"${exp_roots[@]}"}"; do
    root="${root%/}"
    stop_requested && break
    if [[ ! -e "${root}" ]]; then
      emit_area category=experiments status=missing "path=$(escape_path "${root}")" "message=does not exist: nothing to clean"
      continue
    fi
    clean_experiments "${root}" "${exp_days}"
  done
  for root in "${ckpt_roots[@]+"${ckpt_roots[@]}"}"; do
    root="${root%/}"
    stop_requested && break
    if [[ ! -e "${root}" ]]; then
      emit_area category=checkpoints status=missing "path=$(escape_path "${root}")" "message=does not exist: nothing to clean"
      continue
    fi
    clean_checkpoints "${root}" "${ckpt_days}" "${keep}" "${patterns}"
  done
  stop_requested || clean_docker
  stop_requested || clean_caches

  if stop_requested; then
    kv_section cleanup-interrupted "signal=${STOP_SIGNAL}" "message=stopped by SIG${STOP_SIGNAL}; areas not reached were not cleaned"
  fi
  probe disk-after 30 df -P -B1 -- "${disk_paths[@]}" || true
  emit_items
  result_end
  if stop_requested; then
    log "stopped by SIG${STOP_SIGNAL} at a safe point"
    exit "$(stop_exit_code)"
  fi
}

main "$@"
