# shellcheck shell=bash
#
# cleanup.sh's docker images: those no container uses, older than the configured hours.
# Needs cleanup-report.sh, cleanup-delete.sh. Bundled into cleanup.sh; never run alone.

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
  env_bool -v enabled GPU_MAINT_CLEANUP_DOCKER true
  env_number -v hours GPU_MAINT_CLEANUP_DOCKER_UNUSED_HOURS 168
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
