# shellcheck shell=bash
#
# cleanup.sh's package and model caches: pip, conda, apt/dnf/yum and the Hugging Face hub (LRU to a cap),
# in every user's home when running as root.
# Needs cleanup-report.sh, cleanup-safety.sh, cleanup-delete.sh. Bundled into cleanup.sh; never run alone.

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
  local sysroot h
  env_str -v sysroot GPU_MAINT_CLEANUP_SYSROOT ""
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
  local sysroot
  env_str -v sysroot GPU_MAINT_CLEANUP_SYSROOT ""
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
        [[ -d "${dir}" ]] && clean_huggingface "${dir}" "$(env_number GPU_MAINT_CLEANUP_HF_MAX_GIB 200)"
      done
      ;;
    *) log "unknown cache ${cache}: expected pip, conda, apt or huggingface" ;;
    esac
  done < <(env_list GPU_MAINT_CLEANUP_CACHES pip,conda,apt)
  return 0
}
