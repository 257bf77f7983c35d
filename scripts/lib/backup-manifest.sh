# shellcheck shell=bash
#
# Snapshot manifests and host keys, shared by backup.sh, restore.sh and restore-test.sh.
#
# Layout under the destination root:
#   backups/<host key>/units/<unit id>/<fingerprint>.tar.zst   one archive per unit version
#   backups/<host key>/snapshots/<snapshot id>.json            manifest, written last
#   backups/<host key>/quarantine/units/<unit id>/<fp>.tar.zst  marker: that archive was found corrupt
# A snapshot id is the host's UTC start time and its sequence, `20261128T020000Z-42`: the sequence is one
# more than the highest in the store, so the order of writing survives a wrong clock. Ids without a
# sequence (written before sequences existed) count as sequence 0.
# A manifest is JSON (lambda/core/backup/manifest.ts reads it) with one unit object per line, fields
# in a fixed order, so that these scripts can read it without jq. Strings that may hold arbitrary
# bytes (unit paths) are also stored base64-encoded.
# Needs common.sh and backup-store.sh. Bundled into each script; never run alone.

readonly MANIFEST_FORMAT="gpu-maint-backup"
readonly MANIFEST_VERSION=1
readonly SNAPSHOT_ID_RE='^[0-9]{8}T[0-9]{6}Z(-[1-9][0-9]{0,8})?$'
readonly UNIT_LINE_RE='^\{"id":"([A-Za-z0-9._-]+)","fingerprint":"([0-9a-f]{64})","key":"(units/[A-Za-z0-9._-]+/[0-9a-f]{64}\.tar\.zst)","sha256":"([0-9a-f]{64})","bytes":([0-9]+),"files":([0-9]+),"sourceBytes":([0-9]+),"listing":"([0-9a-f]{64})","uploaded":(true|false),"source":"([^"\\]*)","pathBase64":"([A-Za-z0-9+/=]*)"'

#######################################
# Sets the variable named by $1 to a JSON string literal (quotes included) for arbitrary bytes $2:
# quote, backslash and control characters are escaped; other bytes pass through (non-UTF-8 names are
# kept as pathBase64 too). No subshell: a manifest line per unit costs no process.
#######################################
json_string_to() {
  local s="$2" code char
  s="${s//\\/\\\\}"
  s="${s//\"/\\\"}"
  if [[ "${s}" == *[$'\x01'-$'\x1f\x7f']* ]]; then
    s="${s//$'\n'/\\n}"
    s="${s//$'\t'/\\t}"
    s="${s//$'\r'/\\r}"
    for code in {1..31} 127; do
      printf -v char '%b' "\\x$(printf '%02x' "${code}")"
      [[ "${s}" == *"${char}"* ]] && s="${s//"${char}"/\\u$(printf '%04x' "${code}")}"
    done
  fi
  printf -v "$1" '"%s"' "${s}"
}

# Prints a JSON string literal for arbitrary bytes (see json_string_to).
json_string() {
  local out
  json_string_to out "$1"
  printf '%s' "${out}"
}

readonly BASE64_ALPHABET='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

#######################################
# Sets the variable named by $1 to the base64 of the bytes of $2 (as `base64 -w0`), without a process.
#######################################
base64_to() {
  local LC_ALL=C
  local s="$2" out="" i n="${#2}" b0 b1 b2 v
  for ((i = 0; i < n; i += 3)); do
    printf -v b0 '%d' "'${s:i:1}"
    b1=0 b2=0
    ((i + 1 < n)) && printf -v b1 '%d' "'${s:i+1:1}"
    ((i + 2 < n)) && printf -v b2 '%d' "'${s:i+2:1}"
    v=$(((b0 << 16) | (b1 << 8) | b2))
    out+="${BASE64_ALPHABET:v>>18&63:1}${BASE64_ALPHABET:v>>12&63:1}"
    if ((i + 1 < n)); then out+="${BASE64_ALPHABET:v>>6&63:1}"; else out+="="; fi
    if ((i + 2 < n)); then out+="${BASE64_ALPHABET:v&63:1}"; else out+="="; fi
  done
  printf -v "$1" '%s' "${out}"
}

#######################################
# Reads the unit lines of a manifest.
# Arguments: manifest file.
# Outputs: one line per unit: id fingerprint key sha256 bytes files sourceBytes listing uploaded
#   source pathBase64, tab-separated (none of these fields can hold a tab or newline).
# Returns: non-zero when the file is not a version-1 manifest, or holds a unit line that cannot be
#   read (a snapshot is restored whole or reported broken, never silently shortened).
#######################################
manifest_units() {
  local file="$1" line
  grep -q "\"format\":\"${MANIFEST_FORMAT}\",\"version\":${MANIFEST_VERSION}," "${file}" 2>/dev/null || return 1
  while IFS= read -r line || [[ -n "${line}" ]]; do
    if [[ "${line}" =~ ${UNIT_LINE_RE} ]]; then
      printf '%s\t' "${BASH_REMATCH[@]:1:10}"
      printf '%s\n' "${BASH_REMATCH[11]}"
    elif [[ "${line}" == '{"id":'* ]]; then
      log "error: ${file##*/}: unit line not readable: ${line:0:200}"
      return 1
    fi
  done <"${file}"
}

#######################################
# Prints the key under which this host's backups live: the host id, or with
# GPU_MAINT_BACKUP_HOST_KEY=aws-userid the caller's IAM user id (`<role id>:<instance id>` for an
# instance role), the one per-instance value S3 policies can scope a prefix to (${aws:userid}).
#######################################
backup_host_key() {
  local mode="${GPU_MAINT_BACKUP_HOST_KEY:-host}" key
  case "${mode}" in
  host)
    key="$(host_id)"
    ;;
  aws-userid)
    key="$(timeout -k 5 60 aws sts get-caller-identity --query UserId --output text)" ||
      {
        log "error: aws sts get-caller-identity failed (needed for GPU_MAINT_BACKUP_HOST_KEY=aws-userid)"
        return 1
      }
    ;;
  *)
    log "error: GPU_MAINT_BACKUP_HOST_KEY must be host or aws-userid, got: '${mode}'"
    return 1
    ;;
  esac
  if [[ ! "${key}" =~ ^[A-Za-z0-9._:@-]{1,128}$ ]]; then
    log "error: backup host key '${key}' is not usable as a path segment (letters, digits, . _ : @ -)"
    return 1
  fi
  printf '%s\n' "${key}"
}

#######################################
# Sorts snapshot ids (one per line on stdin) oldest first: by sequence, then by time.
#######################################
sort_snapshot_ids() {
  local id
  while IFS= read -r id; do
    [[ -n "${id}" ]] || continue
    if [[ "${id}" == *-* ]]; then
      printf '%s\t%s\n' "${id#*-}" "${id}"
    else
      printf '0\t%s\n' "${id}"
    fi
  done | LC_ALL=C sort -t $'\t' -k1,1n -k2,2 | cut -f2
}

# Prints the sequence of a snapshot id (0 for an id without one).
snapshot_sequence() {
  if [[ "$1" == *-* ]]; then printf '%s\n' "${1#*-}"; else printf '0\n'; fi
}

#######################################
# Lists a host's snapshot ids, oldest first (in the order they were written).
# Arguments: host key.
#######################################
snapshot_ids() {
  local prefix="backups/$1/snapshots/" key id
  local listing
  listing="$(store_list "${prefix}")" || return 1
  [[ -n "${listing}" ]] || return 0
  while IFS=$'\t' read -r _ key; do
    id="${key#"${prefix}"}"
    id="${id%.json}"
    [[ "${id}" =~ ${SNAPSHOT_ID_RE} ]] && printf '%s\n' "${id}"
  done <<<"${listing}" | sort_snapshot_ids
}

#######################################
# Prints a unit's listing digest (sha256 of the sorted type, size, mode, path and link target of its
# entries; directory sizes are filesystem-specific and left out), its entry count and its
# regular-file bytes, as `digest<TAB>entries<TAB>bytes`. Backup records it; restore recomputes it
# on the restored tree.
# Arguments: base directory, unit path, scratch file, deadline in seconds, then find(1) prune args.
#######################################
unit_listing() {
  local base="$1" rel="$2" scratch="$3" limit_s="$4"
  shift 4
  (
    cd "${base}" || exit 1
    timeout -k 5 "${limit_s}" find "./${rel}" "$@" \
      \( -type d -printf 'd\t-\t%m\t%p\t\0' \) -o -printf '%y\t%s\t%m\t%p\t%l\0' >"${scratch}" || exit 1
    digest="$(LC_ALL=C sort -z "${scratch}" | sha256sum)"
    awk -v d="${digest:0:64}" 'BEGIN { RS = "\0" } { n++; split($0, f, "\t") } f[1] == "f" { b += f[2] }
      END { printf "%s\t%d\t%.0f\n", d, n, b }' "${scratch}"
  )
}

# Converts a snapshot id (20261128T020000Z-42) to the ISO-8601 time it names (2026-11-28T02:00:00Z).
snapshot_iso() {
  local id="$1"
  printf '%s-%s-%sT%s:%s:%sZ\n' "${id:0:4}" "${id:4:2}" "${id:6:2}" "${id:9:2}" "${id:11:2}" "${id:13:2}"
}

# Prints a byte count for people: 1.5 GiB.
human_bytes() {
  awk -v b="$1" 'BEGIN {
    split("B KiB MiB GiB TiB PiB", u, " "); i = 1
    while (b >= 1024 && i < 6) { b /= 1024; i++ }
    printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i]
  }'
}
