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

# Never cleanup roots themselves: deleting their top-level entries would break the system or homes.
readonly SYSTEM_PATHS=(/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /opt /proc /root /run
  /sbin /snap /srv /sys /tmp /usr /usr/local /var /var/cache /var/lib /var/log /var/tmp)
# Nor anything inside these trees: system files, never ML artifacts.
readonly SYSTEM_TREES=(/bin /boot /dev /etc /lib /lib32 /lib64 /libx32 /proc /run /sbin /sys /usr)

WORK=""     # scratch directory of this run
ITEMS=""    # NUL-terminated item records "<action> <category> <bytes> <path>"
AGES=""     # NUL-terminated "<mtime epoch> <path>" of selected items (the report shows their age)
ESC_SED=""  # sed script escaping one path per NUL-terminated record
OPEN_SET="" # "dev:inode" of every open file, memory map and working directory
AREA_COUNT=0
NOW_S=0
DRY_RUN=true
FORCE=false
MAX_FRACTION=0.5
MARKER=.keep
declare -a PROTECT_GLOBS=()
declare -a KEEP_OUT=()
declare -A OPEN_INODES=()

#######################################
# Reads a true/false setting.
# Arguments: variable name, default.
#######################################
bool_setting() {
  local value="${!1:-$2}"
  case "${value}" in
  true | false) printf '%s\n' "${value}" ;;
  *) die "$1 must be true or false, got: ${value}" ;;
  esac
}

#######################################
# Reads a non-negative decimal setting.
# Arguments: variable name, default.
#######################################
number_setting() {
  local value="${!1:-$2}"
  [[ "${value}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$1 must be a non-negative number, got: ${value}"
  printf '%s\n' "${value}"
}

#######################################
# Writes the sed script that escapes a path: backslash first, then every control byte and every
# byte >= 0x80 as \xHH (lossless, one line per name, ASCII only).
#######################################
write_escape_script() {
  local b
  {
    printf '%s\n' 's/\\/\\\\/g'
    for b in {1..31} {127..255}; do
      printf 's/\\x%02x/\\\\x%02x/g\n' "${b}" "${b}"
    done
  } >"${ESC_SED}"
}

# Prints one path escaped (see write_escape_script), without a trailing newline.
escape_path() {
  printf '%s\0' "$1" | sed -z -f "${ESC_SED}" | tr -d '\0'
}

#######################################
# Records an item for the cleanup-items section.
# Arguments: action, category, bytes, path.
#######################################
record_item() {
  printf '%s %s %s %s\0' "$1" "$2" "$3" "$4" >>"${ITEMS}"
}

#######################################
# Records when a selected entry was last modified (newest entry of a tree, last use of a Hugging Face
# repo, creation of a docker image), for the cleanup-item-ages section. Nothing when unknown.
# Arguments: mtime (epoch seconds, may have a fraction), path.
#######################################
record_age() {
  [[ -n "$1" ]] || return 0
  printf '%s %s\0' "${1%%.*}" "$2" >>"${AGES}"
}

#######################################
# Prints an area section (one root or cache directory) and counts it.
# Arguments: key=value pairs (category, status, path, bytes, message ...).
#######################################
emit_area() {
  AREA_COUNT=$((AREA_COUNT + 1))
  kv_section "area-${AREA_COUNT}" "$@"
}

#######################################
# Why a cleanup root is unsafe, or nothing when it is safe.
# Arguments: the path as configured.
# Outputs: the reason on stdout.
#######################################
unsafe_root_reason() {
  local root="$1" real p
  if [[ "${root}" != /* ]]; then
    printf 'not an absolute path\n'
    return 0
  fi
  if [[ "${root}" =~ (^|/)\.\.?(/|$) || "${root}" == *//* ]]; then
    printf 'not a normalized path (contains . or .. or //)\n'
    return 0
  fi
  if [[ "${root}" =~ [[:cntrl:]] ]]; then
    printf 'contains control characters\n'
    return 0
  fi
  root="${root%/}"
  [[ -n "${root}" ]] || root=/
  if [[ -L "${root}" ]]; then
    printf 'is a symlink (cleanup never follows symlinks)\n'
    return 0
  fi
  [[ -e "${root}" ]] || return 0
  if [[ ! -d "${root}" ]]; then
    printf 'is not a directory\n'
    return 0
  fi
  real="$(realpath -e -- "${root}" 2>/dev/null)" || real="${root}"
  for p in "${root}" "${real}"; do
    local sys
    for sys in "${SYSTEM_PATHS[@]}"; do
      if [[ "${p}" == "${sys}" ]]; then
        printf 'is the system path %s\n' "${sys}"
        return 0
      fi
    done
    for sys in "${SYSTEM_TREES[@]}"; do
      if [[ "${p}" == "${sys}/"* ]]; then
        printf 'is inside the system tree %s\n' "${sys}"
        return 0
      fi
    done
    local keep
    for keep in "${KEEP_OUT[@]+"${KEEP_OUT[@]}"}"; do
      if [[ "${p}" == "${keep}" ]]; then
        printf 'is %s, which cleanup never touches (backup source, backup store or state dir)\n' "${keep}"
        return 0
      elif [[ "${p}" == "${keep}/"* ]]; then
        printf 'is inside %s, which cleanup never touches (backup source, backup store or state dir)\n' "${keep}"
        return 0
      elif [[ "${keep}" == "${p}/"* || "${p}" == / ]]; then
        printf 'contains %s, which cleanup never touches (backup source, backup store or state dir)\n' "${keep}"
        return 0
      fi
    done
  done
  return 0
}

#######################################
# Loads the paths no root may overlap: GPU_MAINT_CLEANUP_KEEP_OUT and the state dir, each as
# configured and resolved (symlinks), without trailing slashes.
# Globals: KEEP_OUT (set).
#######################################
load_keep_out() {
  local item real
  KEEP_OUT=()
  while IFS= read -r item; do
    [[ "${item}" == /* ]] || continue
    item="${item%/}"
    [[ -n "${item}" ]] || item=/
    KEEP_OUT+=("${item}")
    real="$(realpath -m -- "${item}" 2>/dev/null)" || continue
    [[ "${real}" != "${item}" ]] && KEEP_OUT+=("${real}")
  done < <(
    split_list "${GPU_MAINT_CLEANUP_KEEP_OUT:-}"
    printf '%s\n' "${GPU_MAINT_STATE_DIR:-/var/lib/gpu-maint}"
  )
  return 0
}

#######################################
# Loads the dev:inode of every file held open, memory-mapped or used as working directory by any
# process (the same /proc scan fuser does; works without psmisc or lsof). Called per area, right
# before its decisions, so a file opened during the run is seen by the areas after it.
#######################################
load_open_inodes() {
  OPEN_INODES=()
  {
    find /proc/[0-9]*/fd /proc/[0-9]*/map_files -mindepth 1 -maxdepth 1 -type l -print0 2>/dev/null |
      xargs -0 -r stat -L -c '%d:%i' 2>/dev/null || true
    stat -L -c '%d:%i' /proc/[0-9]*/cwd 2>/dev/null || true
  } | sort -u >"${OPEN_SET}"
  local key
  while IFS= read -r key; do
    [[ -n "${key}" ]] && OPEN_INODES["${key}"]=1
  done <"${OPEN_SET}"
  return 0
}

#######################################
# True when a path or one of its ancestors matches a cleanup.protect glob (`*` also matches `/`).
# Arguments: path.
#######################################
protected_by_glob() {
  local path="$1" glob
  ((${#PROTECT_GLOBS[@]} > 0)) || return 1
  while [[ -n "${path}" ]]; do
    for glob in "${PROTECT_GLOBS[@]}"; do
      # shellcheck disable=SC2053 # the right side is a glob on purpose
      [[ "${path}" == ${glob} ]] && return 0
    done
    [[ "${path}" == */* ]] || break
    path="${path%/*}"
  done
  return 1
}

#######################################
# True when a marker file sits in the directory or in one of its ancestors.
# Arguments: directory.
#######################################
protected_by_marker_above() {
  local dir="$1"
  while :; do
    [[ -e "${dir%/}/${MARKER}" || -L "${dir%/}/${MARKER}" ]] && return 0
    [[ "${dir}" == / || "${dir}" != */* ]] && return 1
    dir="${dir%/*}"
    [[ -n "${dir}" ]] || dir=/
  done
}

#######################################
# True when a marker file sits in a directory or in one of its ancestors up to (not including) a
# top directory already checked.
# Arguments: directory, top directory.
#######################################
marker_below() {
  local dir="$1" top="$2"
  while [[ "${dir}" == "${top}/"* ]]; do
    [[ -e "${dir}/${MARKER}" || -L "${dir}/${MARKER}" ]] && return 0
    dir="${dir%/*}"
  done
  return 1
}

#######################################
# Scans a directory tree (this filesystem only, symlinks not followed).
# Arguments: directory.
# Outputs: "<newest mtime> <bytes of regular files> <in-use 0|1>".
#######################################
tree_stats() {
  find -P "$1" -xdev -printf '%T@ %y %s %D:%i\n' 2>/dev/null |
    awk -v open_set="${OPEN_SET}" '
      BEGIN { while ((getline line < open_set) > 0) open[line] = 1 }
      { if (NR == 1 || $1 > newest) newest = $1
        if ($2 == "f") bytes += $3
        if ($4 in open) used = 1 }
      END { printf "%s %d %d\n", (NR ? newest : 0), bytes, used }'
}

#######################################
# True when something inside a tree is a marker file or matches a protect glob (deleting the tree
# would delete it).
# Arguments: directory.
#######################################
tree_has_protected() {
  local dir="$1" glob
  local -a tests=(-name "${MARKER}")
  for glob in "${PROTECT_GLOBS[@]+"${PROTECT_GLOBS[@]}"}"; do
    tests+=(-o -path "${glob}")
  done
  [[ -n "$(find -P "${dir}" -xdev \( "${tests[@]}" \) -print -quit 2>/dev/null)" ]]
}

# Sum of the sizes of the regular files in a tree (this filesystem only).
tree_bytes() {
  find -P "$1" -xdev -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'
}

# True when a > fraction * b (floating point).
exceeds_fraction() {
  awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { exit !(a > f * b) }'
}

#######################################
# Deletes (or, in a dry run, records) the selected entries of one area, unless the deletion guard
# trips. Selected entries are in the arrays SEL_PATHS, SEL_BYTES, SEL_IDS (dev:inode at selection),
# SEL_MTIMES (last modified, epoch seconds; empty when unknown).
# Arguments: category, root, total bytes of the root, guarded (true for configured roots),
#   recursive (true: entries are directory trees).
# Outputs: "<status> <freed bytes> <selected bytes> <message>" on stdout.
#######################################
delete_selected() {
  local category="$1" root="$2" total="$3" guarded="$4" recursive="$5"
  local i selected=0 freed=0 failed=0 interrupted=0
  # Runs in $( ): bash resets traps in subshells, and a stop must still end at a safe point here.
  trap_stop_signals
  for i in "${!SEL_PATHS[@]}"; do
    selected=$((selected + SEL_BYTES[i]))
    record_age "${SEL_MTIMES[i]:-}" "${SEL_PATHS[i]}"
  done
  if [[ "${guarded}" == true ]] && ((selected > 0)) && exceeds_fraction "${selected}" "${total}" "${MAX_FRACTION}"; then
    local pct
    pct="$(awk -v a="${selected}" -v b="${total}" 'BEGIN { printf "%.0f", 100 * a / b }')"
    if [[ "${FORCE}" != true ]]; then
      for i in "${!SEL_PATHS[@]}"; do record_item blocked "${category}" "${SEL_BYTES[i]}" "${SEL_PATHS[i]}"; done
      printf 'guard 0 %s selection is %s%% of the root'"'"'s bytes, over the limit of %s; nothing deleted here (check the list, then force one run)\n' \
        "${selected}" "${pct}" "${MAX_FRACTION}"
      return 0
    fi
    log "${category} ${root}: ${pct}% of the root selected, over ${MAX_FRACTION}, deleting anyway (force)"
  fi
  if [[ "${DRY_RUN}" == true ]]; then
    for i in "${!SEL_PATHS[@]}"; do record_item would-delete "${category}" "${SEL_BYTES[i]}" "${SEL_PATHS[i]}"; done
    printf 'ok 0 %s\n' "${selected}"
    return 0
  fi
  # Every entry must still be the one that was judged: same device and inode, not replaced (e.g. by a
  # symlink; stat does not follow one). Identities are read in one batch.
  local -A now_id=()
  local id p
  if ((${#SEL_PATHS[@]} > 0)); then
    while IFS= read -r -d '' id && IFS= read -r -d '' p; do
      now_id["${p}"]="${id}"
    done < <(printf '%s\0' "${SEL_PATHS[@]}" | xargs -0 -r stat --printf '%d:%i\0%n\0' -- 2>/dev/null || true)
  fi
  local -a batch=()
  for i in "${!SEL_PATHS[@]}"; do
    local path="${SEL_PATHS[i]}" bytes="${SEL_BYTES[i]}"
    # The safe point: a stop request ends the deleting here; the entry under way was finished.
    if stop_requested; then
      record_item skipped-interrupted "${category}" "${bytes}" "${path}"
      interrupted=$((interrupted + 1))
      continue
    fi
    if [[ "${now_id[${path}]-}" != "${SEL_IDS[i]}" ]]; then
      record_item skipped-changed "${category}" "${bytes}" "${path}"
      continue
    fi
    if [[ "${recursive}" != true ]]; then
      batch+=("${i}")
      continue
    fi
    # Judged old moments ago; a job that started writing since then keeps it.
    local stats newest
    stats="$(tree_stats "${path}")"
    newest="${stats%% *}"
    if [[ -n "${CUTOFF_S:-}" ]] && awk -v n="${newest}" -v c="${CUTOFF_S}" 'BEGIN { exit !(n >= c) }'; then
      record_item skipped-fresh "${category}" "${bytes}" "${path}"
      continue
    fi
    # A stop during the re-scan may have cut the scan short: its answer is not trusted.
    if stop_requested; then
      record_item skipped-interrupted "${category}" "${bytes}" "${path}"
      interrupted=$((interrupted + 1))
      continue
    fi
    if timeout -k 10 3600 rm -rf --one-file-system -- "${path}" 2>>"${WORK}/rm.err"; then
      record_item deleted "${category}" "${bytes}" "${path}"
      freed=$((freed + bytes))
    else
      local left=0
      [[ -e "${path}" ]] && left="$(tree_bytes "${path}")"
      record_item failed "${category}" "${left}" "${path}"
      freed=$((freed + bytes - left))
      failed=$((failed + 1))
    fi
  done
  if ((${#batch[@]} > 0)) && stop_requested; then
    for i in "${batch[@]}"; do record_item skipped-interrupted "${category}" "${SEL_BYTES[i]}" "${SEL_PATHS[i]}"; done
    interrupted=$((interrupted + ${#batch[@]}))
    batch=()
  fi
  if ((${#batch[@]} > 0)); then
    # Files go in batches (one rm per few thousand paths); what still exists afterwards failed.
    for i in "${batch[@]}"; do printf '%s\0' "${SEL_PATHS[i]}"; done |
      timeout -k 10 3600 xargs -0 -r rm -f -- 2>>"${WORK}/rm.err" || true
    for i in "${batch[@]}"; do
      if [[ -e "${SEL_PATHS[i]}" || -L "${SEL_PATHS[i]}" ]]; then
        record_item failed "${category}" "${SEL_BYTES[i]}" "${SEL_PATHS[i]}"
        failed=$((failed + 1))
      else
        record_item deleted "${category}" "${SEL_BYTES[i]}" "${SEL_PATHS[i]}"
        freed=$((freed + SEL_BYTES[i]))
      fi
    done
  fi
  if ((failed > 0)); then
    printf 'error %s %s %s deletions failed: %s\n' "${freed}" "${selected}" "${failed}" "$(tail -n 1 "${WORK}/rm.err" | tr -d '\n')"
  elif ((interrupted > 0)); then
    printf 'interrupted %s %s stopped by SIG%s: %s selected entries not deleted\n' "${freed}" "${selected}" "${STOP_SIGNAL}" "${interrupted}"
  else
    printf 'ok %s %s\n' "${freed}" "${selected}"
  fi
}

#######################################
# Emits the area section for a finished area.
# Arguments: category, path, total bytes, "<status> <freed> <selected> [message]", counts of items
#   skipped because protected, open, or on another filesystem.
#######################################
finish_area() {
  local category="$1" path="$2" total="$3" outcome="$4" protected="$5" open="$6" other_fs="$7"
  local status freed selected message
  read -r status freed selected message <<<"${outcome}"
  emit_area "category=${category}" "status=${status}" "path=$(escape_path "${path}")" \
    "total_bytes=${total}" "selected_bytes=${selected}" "freed_bytes=${freed}" \
    "selected_items=${#SEL_PATHS[@]}" "skipped_protected=${protected}" "skipped_open=${open}" \
    "skipped_other_fs=${other_fs}" "message=${message:-}"
}

#######################################
# Experiments: a top-level run directory is selected only when the newest entry anywhere inside it
# (files, directories, links) is older than the cutoff; the root itself never.
# Arguments: root, max age in days.
#######################################
clean_experiments() {
  local root="$1" days="$2" root_dev total stats newest bytes used id entry
  local protected=0 open=0 other_fs=0
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=() SEL_MTIMES=()
  CUTOFF_S="$(awk -v now="${NOW_S}" -v d="${days}" 'BEGIN { printf "%.3f", now - d * 86400 }')"
  root_dev="$(stat -c '%d' -- "${root}")"
  total="$(tree_bytes "${root}")"
  if protected_by_marker_above "${root}" || protected_by_glob "${root}"; then
    finish_area experiments "${root}" "${total}" "ok 0 0 the whole root is protected (marker or protect glob)" 0 0 0
    return 0
  fi
  load_open_inodes
  while IFS= read -r -d '' entry; do
    local dev="${entry%% *}" dir="${entry#* }"
    if [[ "${dev}" != "${root_dev}" ]]; then
      other_fs=$((other_fs + 1))
      continue
    fi
    stats="$(tree_stats "${dir}")"
    read -r newest bytes used <<<"${stats}"
    awk -v n="${newest}" -v c="${CUTOFF_S}" 'BEGIN { exit !(n < c) }' || continue
    if protected_by_glob "${dir}" || tree_has_protected "${dir}"; then
      protected=$((protected + 1))
      record_item skipped-protected experiments "${bytes}" "${dir}"
      continue
    fi
    if [[ "${used}" == 1 ]]; then
      open=$((open + 1))
      record_item skipped-open experiments "${bytes}" "${dir}"
      continue
    fi
    id="$(stat -c '%d:%i' -- "${dir}")" || continue
    SEL_PATHS+=("${dir}") SEL_BYTES+=("${bytes}") SEL_IDS+=("${id}") SEL_MTIMES+=("${newest}")
  done < <(find -P "${root}" -mindepth 1 -maxdepth 1 -xdev -type d -printf '%D %p\0' 2>/dev/null)
  finish_area experiments "${root}" "${total}" "$(delete_selected experiments "${root}" "${total}" true true)" \
    "${protected}" "${open}" "${other_fs}"
  CUTOFF_S=""
}

#######################################
# Checkpoints: files matching the patterns (anywhere under the root) older than the cutoff, except
# the newest keepNewest matching files of each directory, whatever their age.
# Arguments: root, max age in days, keep newest, patterns (comma-separated).
#######################################
clean_checkpoints() {
  local root="$1" days="$2" keep="$3" patterns="$4" cutoff total pattern
  local protected=0 open=0
  local -a name_tests=() mtimes=() sizes=() ids=() paths=() marker_dirs=()
  local -A dir_index=()
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=() SEL_MTIMES=()
  cutoff="$(awk -v now="${NOW_S}" -v d="${days}" 'BEGIN { printf "%.3f", now - d * 86400 }')"
  total="$(tree_bytes "${root}")"
  if protected_by_marker_above "${root}" || protected_by_glob "${root}"; then
    finish_area checkpoints "${root}" "${total}" "ok 0 0 the whole root is protected (marker or protect glob)" 0 0 0
    return 0
  fi
  while IFS= read -r pattern; do
    ((${#name_tests[@]} == 0)) || name_tests+=(-o)
    name_tests+=(-name "${pattern}")
  done < <(split_list "${patterns}")
  if ((${#name_tests[@]} == 0)); then
    finish_area checkpoints "${root}" "${total}" "ok 0 0 no checkpoint patterns configured" 0 0 0
    return 0
  fi
  load_open_inodes
  local record n=0
  while IFS= read -r -d '' record; do
    local mtime size id path
    mtime="${record%% *}" record="${record#* }"
    size="${record%% *}" record="${record#* }"
    id="${record%% *}" path="${record#* }"
    mtimes[n]="${mtime}" sizes[n]="${size}" ids[n]="${id}" paths[n]="${path}"
    n=$((n + 1))
  done < <(find -P "${root}" -xdev -type f \( "${name_tests[@]}" \) -printf '%T@ %s %D:%i %p\0' 2>/dev/null)
  while IFS= read -r -d '' record; do
    marker_dirs+=("${record}")
  done < <(find -P "${root}" -xdev -name "${MARKER}" -printf '%h\0' 2>/dev/null)

  # Rank files per directory by mtime (newest first) with numeric keys only, so that any name is safe.
  local i dir
  for ((i = 0; i < n; i++)); do
    dir="${paths[i]%/*}"
    [[ -n "${dir_index[${dir}]+x}" ]] || dir_index["${dir}"]="${#dir_index[@]}"
    printf '%s %s %s\n' "${dir_index[${dir}]}" "${mtimes[i]}" "${i}"
  done >"${WORK}/ranks"
  local -a beyond=()
  mapfile -t beyond < <(sort -k1,1n -k2,2gr -k3,3n "${WORK}/ranks" |
    awk -v keep="${keep}" -v cutoff="${cutoff}" '
      $1 != dir { dir = $1; rank = 0 }
      { rank++; if (rank > keep && $2 < cutoff) print $3 }')

  local m
  for i in "${beyond[@]+"${beyond[@]}"}"; do
    local path="${paths[i]}" prot=false
    for m in "${marker_dirs[@]+"${marker_dirs[@]}"}"; do
      if [[ "${path}" == "${m}/"* ]]; then
        prot=true
        break
      fi
    done
    if [[ "${prot}" == true ]] || protected_by_glob "${path}"; then
      protected=$((protected + 1))
      record_item skipped-protected checkpoints "${sizes[i]}" "${path}"
      continue
    fi
    if [[ -n "${OPEN_INODES[${ids[i]}]+x}" ]]; then
      open=$((open + 1))
      record_item skipped-open checkpoints "${sizes[i]}" "${path}"
      continue
    fi
    SEL_PATHS+=("${path}") SEL_BYTES+=("${sizes[i]}") SEL_IDS+=("${ids[i]}") SEL_MTIMES+=("${mtimes[i]}")
  done
  finish_area checkpoints "${root}" "${total}" "$(delete_selected checkpoints "${root}" "${total}" true false)" \
    "${protected}" "${open}" 0
}

#######################################
# True when a path relative to a cache directory matches one of the patterns; `*` does not cross
# `/` unless the pattern itself has a slash (so `*.deb` means files directly in the directory).
# Arguments: relative path, patterns.
#######################################
rel_matches() {
  local rel="$1" pattern
  shift
  for pattern in "$@"; do
    [[ "${pattern}" != */* && "${rel}" == */* ]] && continue
    # shellcheck disable=SC2053 # the right side is a glob on purpose
    [[ "${rel}" == ${pattern} ]] && return 0
  done
  return 1
}

#######################################
# True when a cache directory may be cleaned: not a symlink, and not resolving to a system path
# (which is reported as a skipped area).
# Arguments: category, directory.
#######################################
cache_dir_usable() {
  local category="$1" dir="$2" reason
  [[ -L "${dir}" ]] && return 1
  reason="$(unsafe_root_reason "$(realpath -e -- "${dir}" 2>/dev/null || printf '%s' "${dir}")")"
  if [[ -n "${reason}" ]]; then
    emit_area "category=${category}" "status=skipped" "path=$(escape_path "${dir}")" "message=resolves to a path that ${reason}"
    return 1
  fi
}

#######################################
# Cache area: deletes the entries of a cache directory that match the patterns and are not
# protected or in use, without the fraction guard (caches exist to be emptied).
# Arguments: category, directory, entry kind (tree: top-level entries as whole trees; file: regular
#   files at any depth up to 3), patterns relative to the directory.
#######################################
clean_cache_entries() {
  local category="$1" dir="$2" kind="$3"
  shift 3
  local total entry rel protected=0 open=0
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=() SEL_MTIMES=()
  cache_dir_usable "${category}" "${dir}" || return 0
  total="$(tree_bytes "${dir}")"
  if protected_by_marker_above "${dir}" || protected_by_glob "${dir}"; then
    finish_area "${category}" "${dir}" "${total}" "ok 0 0 protected (marker or protect glob)" 0 0 0
    return 0
  fi
  load_open_inodes
  local -a find_args=(-mindepth 1 -maxdepth 1 -printf '0 0:0 %p\0')
  [[ "${kind}" == file ]] && find_args=(-mindepth 1 -maxdepth 3 -type f -printf '%s %D:%i %p\0')
  local record
  while IFS= read -r -d '' record; do
    local newest bytes used id
    bytes="${record%% *}" record="${record#* }"
    id="${record%% *}" entry="${record#* }"
    rel="${entry#"${dir}/"}"
    rel_matches "${rel}" "$@" || continue
    if protected_by_glob "${entry}"; then
      protected=$((protected + 1))
      continue
    fi
    if [[ "${kind}" == tree ]]; then
      read -r newest bytes used <<<"$(tree_stats "${entry}")"
      if tree_has_protected "${entry}"; then
        protected=$((protected + 1))
        continue
      fi
      id="$(stat -c '%d:%i' -- "${entry}" 2>/dev/null)" || continue
    else
      used=0
      [[ -n "${OPEN_INODES[${id}]+x}" ]] && used=1
      if marker_below "${entry%/*}" "${dir}"; then
        protected=$((protected + 1))
        continue
      fi
    fi
    if [[ "${used}" == 1 ]]; then
      open=$((open + 1))
      record_item skipped-open "${category}" "${bytes}" "${entry}"
      continue
    fi
    SEL_PATHS+=("${entry}") SEL_BYTES+=("${bytes}") SEL_IDS+=("${id}") SEL_MTIMES+=("${newest:-}")
  done < <(find -P "${dir}" -xdev "${find_args[@]}" 2>/dev/null)
  local recursive=false
  [[ "${kind}" == tree ]] && recursive=true
  finish_area "${category}" "${dir}" "${total}" "$(delete_selected "${category}" "${dir}" "${total}" false "${recursive}")" \
    "${protected}" "${open}" 0
}

#######################################
# Hugging Face hub cache: whole repos (models--*, datasets--*, spaces--*), least recently used
# first (newest access or modification inside), until the cache fits the cap.
# Arguments: hub directory, cap in GiB.
#######################################
clean_huggingface() {
  local dir="$1" cap_gib="$2" total cap entry protected=0 open=0
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=() SEL_MTIMES=()
  cache_dir_usable huggingface "${dir}" || return 0
  total="$(tree_bytes "${dir}")"
  cap="$(awk -v g="${cap_gib}" 'BEGIN { printf "%d", g * 1073741824 }')"
  if protected_by_marker_above "${dir}" || protected_by_glob "${dir}"; then
    finish_area huggingface "${dir}" "${total}" "ok 0 0 protected (marker or protect glob)" 0 0 0
    return 0
  fi
  load_open_inodes
  local -a repos=() last_used=() repo_bytes=() repo_use=()
  local n=0
  while IFS= read -r -d '' entry; do
    local last bytes used
    read -r last bytes used < <(find -P "${entry}" -xdev -printf '%A@ %T@ %y %s %D:%i\n' 2>/dev/null |
      awk -v open_set="${OPEN_SET}" '
        BEGIN { while ((getline line < open_set) > 0) open[line] = 1 }
        { if ($1 > last) last = $1; if ($2 > last) last = $2
          if ($3 == "f") bytes += $4
          if ($5 in open) used = 1 }
        END { printf "%s %d %d\n", last + 0, bytes, used }')
    if protected_by_glob "${entry}" || tree_has_protected "${entry}"; then
      protected=$((protected + 1))
      continue
    fi
    repos[n]="${entry}" last_used[n]="${last}" repo_bytes[n]="${bytes}" repo_use[n]="${used}"
    n=$((n + 1))
  done < <(find -P "${dir}" -mindepth 1 -maxdepth 1 -xdev -type d \( -name 'models--*' -o -name 'datasets--*' -o -name 'spaces--*' \) -print0 2>/dev/null)
  local remaining="${total}" i
  local -a order=()
  mapfile -t order < <(for ((i = 0; i < n; i++)); do printf '%s %s\n' "${last_used[i]}" "${i}"; done | sort -k1,1g -k2,2n | awk '{ print $2 }')
  for i in "${order[@]+"${order[@]}"}"; do
    ((remaining > cap)) || break
    if [[ "${repo_use[i]}" == 1 ]]; then
      open=$((open + 1))
      record_item skipped-open huggingface "${repo_bytes[i]}" "${repos[i]}"
      continue
    fi
    local id
    id="$(stat -c '%d:%i' -- "${repos[i]}" 2>/dev/null)" || continue
    SEL_PATHS+=("${repos[i]}") SEL_BYTES+=("${repo_bytes[i]}") SEL_IDS+=("${id}") SEL_MTIMES+=("${last_used[i]}")
    remaining=$((remaining - repo_bytes[i]))
  done
  finish_area huggingface "${dir}" "${total}" "$(delete_selected huggingface "${dir}" "${total}" false true)" \
    "${protected}" "${open}" 0
}

# Home directories whose user caches are cleaned: every user's when running as root.
cache_homes() {
  local sysroot="${GPU_MAINT_CLEANUP_SYSROOT:-}" h
  if [[ -n "${sysroot}" || "${EUID}" -eq 0 ]]; then
    for h in "${sysroot}/root" "${sysroot}"/home/*; do
      [[ -d "${h}" && ! -L "${h}" ]] && printf '%s\n' "${h}"
    done
  elif [[ -n "${HOME:-}" && -d "${HOME}" ]]; then
    printf '%s\n' "${HOME}"
  fi
  return 0
}

#######################################
# Package and model caches enabled in GPU_MAINT_CLEANUP_CACHES.
#######################################
clean_caches() {
  local caches="${GPU_MAINT_CLEANUP_CACHES-pip,conda,apt}" sysroot="${GPU_MAINT_CLEANUP_SYSROOT:-}"
  local cache home dir
  local -a homes=()
  mapfile -t homes < <(cache_homes)
  while IFS= read -r cache; do
    case "${cache}" in
    pip)
      for home in "${homes[@]+"${homes[@]}"}"; do
        dir="${home}/.cache/pip"
        [[ -d "${dir}" ]] && clean_cache_entries pip "${dir}" tree '*'
      done
      ;;
    conda)
      local -a bases=("${sysroot}/opt/conda")
      for home in "${homes[@]+"${homes[@]}"}"; do
        bases+=("${home}/anaconda3" "${home}/miniconda3" "${home}/miniforge3" "${home}/mambaforge" "${home}/.conda")
      done
      local base
      for base in "${bases[@]}"; do
        dir="${base}/pkgs"
        # Tarballs (conda clean --tarballs) and the index cache; extracted packages stay (envs link to them).
        [[ -d "${dir}" ]] && clean_cache_entries conda "${dir}" file '*.tar.bz2' '*.conda' 'cache/*'
      done
      ;;
    apt)
      dir="${sysroot}/var/cache/apt/archives"
      [[ -d "${dir}" ]] && clean_cache_entries apt "${dir}" file '*.deb' 'partial/*.deb'
      for dir in "${sysroot}/var/cache/dnf" "${sysroot}/var/cache/yum"; do
        [[ -d "${dir}" ]] && clean_cache_entries apt "${dir}" file '*/packages/*.rpm' '*/*/packages/*.rpm'
      done
      ;;
    huggingface)
      for home in "${homes[@]+"${homes[@]}"}"; do
        dir="${home}/.cache/huggingface/hub"
        [[ -d "${dir}" ]] && clean_huggingface "${dir}" "$(number_setting GPU_MAINT_CLEANUP_HF_MAX_GIB 200)"
      done
      ;;
    *) log "unknown cache ${cache}: expected pip, conda, apt or huggingface" ;;
    esac
  done < <(split_list "${caches}")
  return 0
}

# docker with a deadline; a hung daemon must not hang the cleanup.
dockerq() {
  timeout -k 5 "${DOCKER_TIMEOUT_S:-60}" docker "$@"
}

# Parses docker's human sizes (decimal units, e.g. 1.234GB) into bytes.
docker_bytes() {
  awk -v s="$1" 'BEGIN {
    if (match(s, /^[0-9.]+/) == 0) { print 0; exit }
    n = substr(s, 1, RLENGTH); u = toupper(substr(s, RLENGTH + 1))
    m = (u == "KB") ? 1e3 : (u == "MB") ? 1e6 : (u == "GB") ? 1e9 : (u == "TB") ? 1e12 : (u == "PB") ? 1e15 : 1
    printf "%.0f\n", n * m }'
}

#######################################
# Docker images no container (running or stopped) uses, created more than unusedForHours ago: what
# `docker image prune -a --filter until=<hours>h` removes. The dry run lists them with their sizes;
# a real run prunes and reports docker's own "Total reclaimed space" (layers shared with kept images
# are not freed, so per-image sizes can add up to more).
#######################################
clean_docker() {
  local enabled hours
  enabled="$(bool_setting GPU_MAINT_CLEANUP_DOCKER true)"
  hours="$(number_setting GPU_MAINT_CLEANUP_DOCKER_UNUSED_HOURS 168)"
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=() SEL_MTIMES=()
  if [[ "${enabled}" != true ]]; then
    emit_area category=docker status=disabled path=docker "message=cleanup.docker.enabled is false"
    return 0
  fi
  if ! command -v docker >/dev/null 2>&1; then
    emit_area category=docker status=absent path=docker "message=no docker CLI on this host"
    return 0
  fi
  if ! dockerq info >/dev/null 2>"${WORK}/docker.err"; then
    emit_area category=docker status=unreachable path=docker "message=docker daemon not reachable: $(head -n 1 "${WORK}/docker.err")"
    return 0
  fi
  local cutoff line id size created tags created_s total=0 selected=0
  # Go templates are built from "{" + "{.X}}": SSM documents must not contain a literal double brace.
  local o='{'
  local -A used=()
  cutoff=$((NOW_S - hours * 3600))
  while IFS= read -r id; do
    [[ -n "${id}" ]] && used["${id}"]=1
  done < <({ dockerq ps -a -q --no-trunc | xargs -r timeout -k 5 60 docker inspect --format "${o}{.Image}}"; } 2>>"${WORK}/docker.err" || true)
  local -a images=()
  mapfile -t images < <(dockerq image ls -q --no-trunc 2>>"${WORK}/docker.err" | sort -u)
  if ((${#images[@]} > 0)); then
    while IFS= read -r line; do
      read -r id size created tags <<<"${line}"
      [[ -n "${id}" ]] || continue
      total=$((total + size))
      [[ -n "${used[${id}]+x}" ]] && continue
      created_s="$(date -d "${created}" +%s 2>/dev/null)" || continue
      ((created_s < cutoff)) || continue
      SEL_PATHS+=("image:${tags:-${id}}") SEL_BYTES+=("${size}") SEL_IDS+=("${id}") SEL_MTIMES+=("${created_s}")
      selected=$((selected + size))
    done < <(dockerq image inspect --format "${o}{.Id}} ${o}{.Size}} ${o}{.Created}} ${o}{join .RepoTags \",\"}}" "${images[@]}" 2>>"${WORK}/docker.err")
  fi
  local i freed=0
  # Images are listed by age like paths: their creation time (docker's "until" filter goes by it too).
  for i in "${!SEL_PATHS[@]}"; do record_age "${SEL_MTIMES[i]}" "${SEL_PATHS[i]}"; done
  if [[ "${DRY_RUN}" == true ]]; then
    for i in "${!SEL_PATHS[@]}"; do record_item would-delete docker "${SEL_BYTES[i]}" "${SEL_PATHS[i]}"; done
    emit_area category=docker status=ok path=docker "total_bytes=${total}" "selected_bytes=${selected}" freed_bytes=0 \
      "selected_items=${#SEL_PATHS[@]}" "message=unused for ${hours} h"
    return 0
  fi
  if ((${#SEL_PATHS[@]} == 0)); then
    emit_area category=docker status=ok path=docker "total_bytes=${total}" selected_bytes=0 freed_bytes=0 selected_items=0 "message=no unused images"
    return 0
  fi
  if ! dockerq image prune -a -f --filter "until=${hours}h" >"${WORK}/prune.out" 2>"${WORK}/prune.err"; then
    emit_area category=docker status=error path=docker "total_bytes=${total}" "selected_bytes=${selected}" freed_bytes=0 \
      "selected_items=${#SEL_PATHS[@]}" "message=docker image prune failed: $(head -n 1 "${WORK}/prune.err")"
    return 0
  fi
  freed="$(docker_bytes "$(sed -n 's/^Total reclaimed space: *//p' "${WORK}/prune.out" | tail -n 1)")"
  for i in "${!SEL_PATHS[@]}"; do
    if dockerq image inspect "${SEL_IDS[i]}" >/dev/null 2>&1; then
      record_item kept docker "${SEL_BYTES[i]}" "${SEL_PATHS[i]}"
    else
      record_item deleted docker "${SEL_BYTES[i]}" "${SEL_PATHS[i]}"
    fi
  done
  emit_area category=docker status=ok path=docker "total_bytes=${total}" "selected_bytes=${selected}" "freed_bytes=${freed}" \
    "selected_items=${#SEL_PATHS[@]}" "message=docker image prune --filter until=${hours}h"
}

#######################################
# Prints the cleanup-items section from the recorded items, each path escaped onto one line.
#######################################
emit_items() {
  printf '@@gpu-maint section cleanup-items\n'
  if [[ -s "${ITEMS}" ]]; then
    sed -z -f "${ESC_SED}" "${ITEMS}" | tr '\0' '\n'
  fi
  printf '@@gpu-maint status cleanup-items exit=0 seconds=0\n'
  printf '@@gpu-maint section cleanup-item-ages\n'
  if [[ -s "${AGES}" ]]; then
    sed -z -f "${ESC_SED}" "${AGES}" | tr '\0' '\n'
  fi
  printf '@@gpu-maint status cleanup-item-ages exit=0 seconds=0\n'
}

main() {
  local host exp_days ckpt_days keep patterns root reason refused=0
  local -a exp_roots=() ckpt_roots=() disk_paths=()
  DRY_RUN="$(bool_setting GPU_MAINT_CLEANUP_DRY_RUN true)"
  FORCE="$(bool_setting GPU_MAINT_CLEANUP_FORCE false)"
  MAX_FRACTION="$(number_setting GPU_MAINT_CLEANUP_MAX_DELETE_FRACTION 0.5)"
  exp_days="$(number_setting GPU_MAINT_CLEANUP_EXPERIMENT_MAX_AGE_DAYS 30)"
  ckpt_days="$(number_setting GPU_MAINT_CLEANUP_CHECKPOINT_MAX_AGE_DAYS 7)"
  keep="$(number_setting GPU_MAINT_CLEANUP_CHECKPOINT_KEEP_NEWEST 3)"
  [[ "${keep}" =~ ^[0-9]+$ ]] || die "GPU_MAINT_CLEANUP_CHECKPOINT_KEEP_NEWEST must be a whole number, got: ${keep}"
  patterns="${GPU_MAINT_CLEANUP_CHECKPOINT_PATTERNS-*.ckpt,*.pt,*.safetensors}"
  MARKER="${GPU_MAINT_CLEANUP_PROTECT_MARKER:-.keep}"
  [[ "${MARKER}" != */* && "${MARKER}" != . && "${MARKER}" != .. ]] || die "GPU_MAINT_CLEANUP_PROTECT_MARKER must be a file name, got: ${MARKER}"
  mapfile -t PROTECT_GLOBS < <(split_list "${GPU_MAINT_CLEANUP_PROTECT:-}")
  mapfile -t exp_roots < <(split_list "${GPU_MAINT_CLEANUP_EXPERIMENT_PATHS-/opt/ml/experiments}")
  mapfile -t ckpt_roots < <(split_list "${GPU_MAINT_CLEANUP_CHECKPOINT_PATHS-/opt/ml/checkpoints}")

  ensure_result_tmp_dir
  WORK="${RESULT_TMP_DIR}"
  ITEMS="${WORK}/items" AGES="${WORK}/ages" ESC_SED="${WORK}/escape.sed" OPEN_SET="${WORK}/open"
  : >"${ITEMS}"
  : >"${AGES}"
  write_escape_script
  NOW_S="$(date +%s)"

  STOP_AT_SAFE_POINTS=true
  load_keep_out
  host="$(host_id)"
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
