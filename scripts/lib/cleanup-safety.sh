# shellcheck shell=bash
#
# What cleanup.sh must never delete: roots that are system paths or overlap kept-out paths (backup
# sources and store, the state dir), trees protected by a marker file or a protect glob, and entries
# some process holds open. Also the tree scans (newest mtime, bytes, in use) decisions are made on.
# Needs common.sh (split_list). Bundled into cleanup.sh (lambda/tasks/scripts.ts); never run alone.

# Never cleanup roots themselves: deleting their top-level entries would break the system or homes.
readonly SYSTEM_PATHS=(/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /opt /proc /root /run
  /sbin /snap /srv /sys /tmp /usr /usr/local /var /var/cache /var/lib /var/log /var/tmp)
# Nor anything inside these trees: system files, never ML artifacts.
readonly SYSTEM_TREES=(/bin /boot /dev /etc /lib /lib32 /lib64 /libx32 /proc /run /sbin /sys /usr)

OPEN_SET="" # "dev:inode" of every open file, memory map and working directory
MARKER=.keep
declare -a PROTECT_GLOBS=()
declare -a KEEP_OUT=()
# shellcheck disable=SC2034 # read by cleanup-files.sh and cleanup-caches.sh
declare -A OPEN_INODES=()

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
    env_list GPU_MAINT_CLEANUP_KEEP_OUT ""
    env_str GPU_MAINT_STATE_DIR /var/lib/gpu-maint
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
    # shellcheck disable=SC2034 # read by cleanup-files.sh and cleanup-caches.sh
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
