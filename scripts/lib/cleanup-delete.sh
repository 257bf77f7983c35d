# shellcheck shell=bash
#
# Cleanup's deletion and its record: deleting (or, in a dry run, recording) the selected entries of an
# area, and printing areas and items as result sections with every path escaped onto one line.
# Needs common.sh and result.sh, and the globals cleanup.sh declares. Bundled into cleanup.sh; never run alone.

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
# Prints an area section (one root or cache directory) and counts it.
# Arguments: key=value pairs (category, status, path, bytes, message ...).
#######################################
emit_area() {
  AREA_COUNT=$((AREA_COUNT + 1))
  kv_section "area-${AREA_COUNT}" "$@"
}

#######################################
# Deletes (or, in a dry run, records) the selected entries of one area, unless the deletion guard
# trips. Selected entries are in the arrays SEL_PATHS, SEL_BYTES, SEL_IDS (dev:inode at selection).
# Arguments: category, root, total bytes of the root, guarded (true for configured roots),
#   recursive (true: entries are directory trees).
# Outputs: "<status> <freed bytes> <selected bytes> <message>" on stdout.
#######################################
delete_selected() {
  local category="$1" root="$2" total="$3" guarded="$4" recursive="$5"
  local i selected=0 freed=0 failed=0
  for i in "${!SEL_PATHS[@]}"; do selected=$((selected + SEL_BYTES[i])); done
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
# Prints the cleanup-items section from the recorded items, each path escaped onto one line.
#######################################
emit_items() {
  printf '@@gpu-maint section cleanup-items\n'
  if [[ -s "${ITEMS}" ]]; then
    sed -z -f "${ESC_SED}" "${ITEMS}" | tr '\0' '\n'
  fi
  printf '@@gpu-maint status cleanup-items exit=0 seconds=0\n'
}
