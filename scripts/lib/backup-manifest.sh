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
# A manifest is JSON (lambda/core/backup/manifest.ts reads it): its header members on the first line,
# then one unit object per line, so that these scripts read it with json.sh's awk reader, without jq.
# Strings that may hold arbitrary bytes (unit paths) are also stored base64-encoded.
# Needs common.sh, json.sh and backup-store.sh. Bundled into each script; never run alone.

readonly MANIFEST_FORMAT="gpu-maint-backup"
readonly MANIFEST_VERSION=1
readonly SNAPSHOT_ID_RE='^[0-9]{8}T[0-9]{6}Z(-[1-9][0-9]{0,8})?$'
#######################################
# Reads the unit lines of a manifest, in one awk process (json.sh's json_members).
# Arguments: manifest file.
# Outputs: one line per unit: id fingerprint key sha256 bytes files sourceBytes listing uploaded
#   source pathBase64, tab-separated (none of these fields can hold a tab or newline).
# Returns: non-zero when the file is not a version-1 manifest, or holds a unit line that cannot be
#   read (a snapshot is restored whole or reported broken, never silently shortened).
#######################################
manifest_units() {
  local file="$1" bad="" rc=0
  [[ -r "${file}" ]] || return 1
  # The unreadable line (if any) comes back on stderr, the units on stdout.
  # shellcheck disable=SC2016 # an awk program: its $ are awk's
  { bad="$(timeout -k 5 60 awk -v format="${MANIFEST_FORMAT}" -v version="${MANIFEST_VERSION}" "${JSON_MEMBERS_AWK}"'
    function readable(m) {
      return m["id"] ~ /^[A-Za-z0-9._-]+$/ && json_hex64(m["fingerprint"]) && json_hex64(m["sha256"]) &&
        json_hex64(m["listing"]) && archive_key(m["key"]) && m["bytes"] ~ /^[0-9]+$/ &&
        m["files"] ~ /^[0-9]+$/ && m["sourceBytes"] ~ /^[0-9]+$/ && m["uploaded"] ~ /^(true|false)$/ &&
        ("source" in m) && m["source"] !~ /["\\]/ && ("pathBase64" in m) && m["pathBase64"] ~ /^[A-Za-z0-9+\/=]*$/
    }
    function archive_key(k,    h) {
      if (k !~ /^units\/[A-Za-z0-9._-]+\/[0-9a-f]+\.tar\.zst$/) return 0
      h = k
      sub(/^units\/[A-Za-z0-9._-]+\//, "", h)
      sub(/\.tar\.zst$/, "", h)
      return json_hex64(h)
    }
    NR == 1 {
      if (!json_members($0, m) || m["format"] != format || m["version"] != version) exit 1
      next
    }
    substr($0, 1, 1) != "{" { next }
    {
      if (!json_members($0, m) || !readable(m)) {
        print substr($0, 1, 200) > "/dev/stderr"
        exit 3
      }
      print m["id"] "\t" m["fingerprint"] "\t" m["key"] "\t" m["sha256"] "\t" m["bytes"] "\t" m["files"] "\t" \
        m["sourceBytes"] "\t" m["listing"] "\t" m["uploaded"] "\t" m["source"] "\t" m["pathBase64"]
    }
    END { if (NR == 0) exit 1 }' "${file}" 2>&1 >&3 3>&-)" || rc=$?; } 3>&1
  if ((rc == 3)); then
    log "error: ${file##*/}: unit line not readable: ${bad}"
  elif [[ -n "${bad}" ]]; then
    log "error: ${file##*/}: ${bad}"
  fi
  ((rc == 0))
}

#######################################
# Prints the key under which this host's backups live: the host id, or with
# GPU_MAINT_BACKUP_HOST_KEY=aws-userid the caller's IAM user id (`<role id>:<instance id>` for an
# instance role), the one per-instance value S3 policies can scope a prefix to (${aws:userid}).
#######################################
backup_host_key() {
  local mode key
  env_str -v mode GPU_MAINT_BACKUP_HOST_KEY host
  case "${mode}" in
  host)
    host_id -v key || return 1
    ;;
  aws-userid)
    key=""
    # curl asks STS itself when it signs this run's requests (an AWS CLI start costs 0.3-0.5 s).
    if [[ "${STORE_S3_CLIENT}" == curl ]]; then
      key="$(s3h_caller_user_id 60)" || log "asking the AWS CLI instead"
    fi
    if [[ -z "${key}" ]] && ! key="$(timeout -k 5 60 aws sts get-caller-identity --query UserId --output text)"; then
      log "error: aws sts get-caller-identity failed (needed for GPU_MAINT_BACKUP_HOST_KEY=aws-userid)"
      return 1
    fi
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

# Sets the variable named $1 to the sequence of snapshot id $2 (0 for an id without one).
snapshot_sequence() {
  if [[ "$2" == *-* ]]; then printf -v "$1" '%s' "${2#*-}"; else printf -v "$1" '%s' 0; fi
}

# True when snapshot id $1 comes after $2 (empty: none) in the order sort_snapshot_ids sorts them: by
# sequence, then by time (both ids match SNAPSHOT_ID_RE). Lets a reader keep the newest of a listing
# without a sort process.
snapshot_after() {
  [[ -n "$2" ]] || return 0
  local after_a_ after_b_
  snapshot_sequence after_a_ "$1"
  snapshot_sequence after_b_ "$2"
  ((after_a_ == after_b_)) || return $((after_a_ > after_b_ ? 0 : 1))
  ((10#${1:0:8}${1:9:6} > 10#${2:0:8}${2:9:6}))
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
# Prints, NUL-separated, the listing records of what find(1) finds below its start points: type, size
# (`-` for a directory: its size is filesystem-specific), mode, path and link target, tab-separated.
# Arguments: deadline in seconds, then find(1) start points and options (before the printing ones).
#######################################
listing_records() {
  local limit_s="$1"
  shift
  timeout -k 5 "${limit_s}" find "$@" \( -type d -printf 'd\t-\t%m\t%p\t\0' \) -o -printf '%y\t%s\t%m\t%p\t%l\0'
}

#######################################
# Prints a unit's listing digest (sha256 of its sorted listing records, listing_records), its entry
# count and its regular-file bytes, as `digest<TAB>entries<TAB>bytes`. Backup records it; restore
# recomputes it on the restored tree (listing_digests: many units at once).
# Arguments: base directory, unit path, scratch file, deadline in seconds, then find(1) prune args.
# Changes directory: callers run it in a subshell ($(...) or <(...)), which saves forking another.
#######################################
unit_listing() {
  local base="$1" rel="$2" scratch="$3" limit_s="$4"
  shift 4
  cd "${base}" || return 1
  listing_records "${limit_s}" "./${rel}" "$@" >"${scratch}" || return 1
  # awk reads the digest line on stdin first, then the listing.
  LC_ALL=C sort -z "${scratch}" | sha256sum | awk 'BEGIN { RS = "\0" } FNR == NR { d = substr($1, 1, 64); next }
    { n++; split($0, f, "\t") } f[1] == "f" { b += f[2] }
    END { printf "%s\t%d\t%.0f\n", d, n, b }' - "${scratch}"
}

# Splits sorted `n<TAB>record` lines (NUL-separated) into u/<n>.<suffix>, each file starting with -v head.
# shellcheck disable=SC2016 # an awk program: its $ are awk's
readonly UNIT_GROUP_AWK='
BEGIN { RS = "\0"; if (want != "") { k = split(want, w, " "); for (i = 1; i <= k; i++) wanted[w[i]] = 1 } }
{
  t = index($0, "\t"); n = substr($0, 1, t - 1)
  if (want != "" && !(n in wanted)) next
  if (n != cur) {
    if (cur != "") close(file)
    cur = n; file = dir "/u/" n "." suffix
    if (head != "") printf "%s%c", head, 0 > file; else printf "" > file
  }
  printf "%s%c", substr($0, t + 1), 0 > file
}'

#######################################
# Sorts a file of `n<TAB>record` lines (NUL-separated, records of many units) and splits it into one
# file per unit, <dir>/u/<n>.<suffix>, each starting with a head line (none when empty): one sort and
# one awk for any number of units.
# Arguments: records file, dir, suffix, head, and the units wanted (numbers, space-separated; default:
#   every unit of the file).
#######################################
split_unit_records() {
  LC_ALL=C sort -z -- "$1" | awk -v dir="$2" -v suffix="$3" -v head="$4" -v want="${5:-}" "${UNIT_GROUP_AWK}"
}

#######################################
# Prints `n<TAB>entries<TAB>regular-file bytes` of each unit in a file of `n<TAB>listing record` lines
# (NUL-separated), in one pass.
#######################################
unit_listing_counts() {
  awk 'BEGIN { RS = "\0" } { t = index($0, "\t"); n = substr($0, 1, t - 1); c[n]++; split(substr($0, t + 1), f, "\t"); if (f[1] == "f") b[n] += f[2] }
    END { for (n in c) printf "%s\t%d\t%.0f\n", n, c[n], b[n] }' "$1"
}

# Converts a snapshot id (20261128T020000Z-42) to the ISO-8601 time it names (2026-11-28T02:00:00Z).
snapshot_iso() {
  local id="$1"
  printf '%s-%s-%sT%s:%s:%sZ\n' "${id:0:4}" "${id:4:2}" "${id:6:2}" "${id:9:2}" "${id:11:2}" "${id:13:2}"
}

# Prints a byte count for people: 1.5 GiB (human_bytes_to: into a variable, no subshell).
human_bytes() {
  local text
  human_bytes_to text "$1"
  printf '%s\n' "${text}"
}

#######################################
# Sets the variable named by $1 to byte count $2 for people, without a process: whole bytes below
# 1 KiB, else one decimal in the largest unit up to PiB, rounded to the nearest (a tie to even, as
# printf rounds).
#######################################
human_bytes_to() {
  local -a units=(B KiB MiB GiB TiB PiB)
  local b="$2" i=0 div=1 tenths rest
  while ((b >= div * 1024 && i < 5)); do
    div=$((div * 1024)) i=$((i + 1))
  done
  if ((i == 0)); then
    printf -v "$1" '%d %s' "${b}" "${units[0]}"
    return 0
  fi
  # b * 10 could overflow: the remainder is scaled instead.
  local whole=$((b / div))
  tenths=$((whole * 10 + b % div * 10 / div)) rest=$((b % div * 10 % div))
  if ((rest * 2 > div || (rest * 2 == div && tenths % 2 == 1))); then tenths=$((tenths + 1)); fi
  printf -v "$1" '%d.%d %s' "$((tenths / 10))" "$((tenths % 10))" "${units[i]}"
}
