# shellcheck shell=bash
#
# Cleanup's areas: what each category selects (experiment runs, checkpoints, package caches, the
# Hugging Face hub cache, docker images); deletion itself goes through cleanup-delete.sh.
# Needs common.sh and result.sh, and the globals cleanup.sh declares. Bundled into cleanup.sh; never run alone.

#######################################
# Experiments: a top-level run directory is selected only when the newest entry anywhere inside it
# (files, directories, links) is older than the cutoff; the root itself never.
# Arguments: root, max age in days.
#######################################
clean_experiments() {
  local root="$1" days="$2" root_dev total stats newest bytes used id entry
  local protected=0 open=0 other_fs=0
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=()
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
    SEL_PATHS+=("${dir}") SEL_BYTES+=("${bytes}") SEL_IDS+=("${id}")
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
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=()
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
    SEL_PATHS+=("${path}") SEL_BYTES+=("${sizes[i]}") SEL_IDS+=("${ids[i]}")
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
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=()
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
    SEL_PATHS+=("${entry}") SEL_BYTES+=("${bytes}") SEL_IDS+=("${id}")
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
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=()
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
    SEL_PATHS+=("${repos[i]}") SEL_BYTES+=("${repo_bytes[i]}") SEL_IDS+=("${id}")
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
  SEL_PATHS=() SEL_BYTES=() SEL_IDS=()
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
      SEL_PATHS+=("image:${tags:-${id}}") SEL_BYTES+=("${size}") SEL_IDS+=("${id}")
      selected=$((selected + size))
    done < <(dockerq image inspect --format "${o}{.Id}} ${o}{.Size}} ${o}{.Created}} ${o}{join .RepoTags \",\"}}" "${images[@]}" 2>>"${WORK}/docker.err")
  fi
  local i freed=0
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
