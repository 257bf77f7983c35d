# shellcheck shell=bash
#
# What cleanup.sh reports: one area-N section per root or cache, and the cleanup-items and
# cleanup-item-ages sections listing every path it deleted, would delete, blocked, or skipped, each
# path escaped onto one line (backslash and bytes outside printable ASCII as \\ and \xHH).
# Needs result.sh (kv_section). Bundled into cleanup.sh (lambda/tasks/scripts.ts); never run alone.

ITEMS=""   # NUL-terminated item records "<action> <category> <bytes> <path>"
AGES=""    # NUL-terminated "<mtime epoch> <path>" of selected items (the report shows their age)
ESC_SED="" # sed script escaping one path per NUL-terminated record
AREA_COUNT=0

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
