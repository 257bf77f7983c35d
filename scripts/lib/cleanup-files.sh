# shellcheck shell=bash
#
# cleanup.sh's configured roots: old experiment run directories and old checkpoints (always keeping
# the newest per directory).
# Needs cleanup-report.sh, cleanup-safety.sh, cleanup-delete.sh. Bundled into cleanup.sh; never run alone.

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
