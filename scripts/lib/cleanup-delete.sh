# shellcheck shell=bash
#
# The one place cleanup.sh deletes: the selection of one area, behind the deletion-fraction guard, the
# dry run, a same-identity check (device and inode as judged), a freshness re-check of trees, and the
# safe point where a stop request ends the deleting.
# Needs common.sh, cleanup-report.sh, cleanup-safety.sh. Bundled into cleanup.sh; never run alone.

DRY_RUN=true
FORCE=false
MAX_FRACTION=0.5

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
