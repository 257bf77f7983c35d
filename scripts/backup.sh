#!/usr/bin/env bash
#
# Backs up model directories as per-unit archives and records a snapshot manifest.
# A unit is an entry at depth GPU_MAINT_BACKUP_UNIT_DEPTH of a source (plus files and empty
# directories above that depth), or a large file below it (stored on its own, so that a rewritten
# shard re-sends that shard only). One find(1) and one awk pass list and fingerprint every unit. Each unit's fingerprint hashes the sorted (path, type, size, mtime,
# mode, owner, link count, link target) of its entries: an unchanged unit reuses the archive of the
# newest snapshot (not read, not sent); a changed one is archived `tar | zstd` straight into a file://
# destination, or for s3:// into a staging folder in the state dir that is sent in batches (archives
# above the batch budget stream through `aws s3 cp -`, their sha256 computed on the way); a local
# archive's sha256 is read back from what was written. Small units (one zstd thread each) written to
# a local file are written two at a time in the background, so that two cores compress. The manifest
# is written last (its S3 upload started ahead, fed only at the end): a snapshot exists only once its
# manifest does, and a run that fails leaves none.
# A unit is listed before it is read and again after it (every unit read in one pass once all are
# read), and read again when it changed meanwhile, so the manifest describes what each archive
# holds. Snapshot ids carry a sequence number (the order of writing, which a wrong clock cannot
# change); archives a restore found corrupt (quarantine markers) are never reused.
#
# Usage: backup.sh   (configuration from environment variables)
#   GPU_MAINT_BACKUP_SOURCES       comma-separated source directories (default /opt/ml/models)
#   GPU_MAINT_BACKUP_EXCLUDE       comma-separated globs: a name (`*.tmp`) matches at any depth, a
#                                  path (`checkpoints/temp`) matches a trailing path, `/x` anchors to
#                                  the source root (default: none)
#   GPU_MAINT_BACKUP_UNIT_DEPTH    directory level that forms one archive unit, 1-4 (default 1)
#   GPU_MAINT_BACKUP_DESTINATION   file:///path or s3://bucket[/prefix] (required)
#   GPU_MAINT_BACKUP_HOST_KEY      host (default) or aws-userid: see lib/backup-manifest.sh
#   GPU_MAINT_BACKUP_COMPRESSION_LEVEL  zstd level 1-19 (default 3)
#   GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT  units saving less at that level use --fast=1 (0-100, default 10)
#   GPU_MAINT_BACKUP_LARGE_FILE_BYTES  regular files this large or larger (one link, below the unit
#                                  depth) are units of their own, archived alone (default 8 MiB)
#   GPU_MAINT_BACKUP_S3_BATCH_BYTES  s3:// archives up to this size are staged in the state dir and
#                                  sent in batches of up to this many bytes, one AWS CLI process per
#                                  batch (default 512 MiB, at most a quarter of the free space; 0: off)
#   GPU_MAINT_BACKUP_ON_UNREADABLE warn (default): a file that cannot be read or vanishes during the
#                                  run is left out with a warning, the snapshot still written; fail:
#                                  the backup fails instead
#   GPU_MAINT_S3_ENDPOINT_URL      endpoint of an S3-compatible store (optional)
#   GPU_MAINT_PROGRESS             1: progress records (`progress: task=backup ...`) on stderr
#   GPU_MAINT_STATE_DIR            lock and carry-over state (default /var/lib/gpu-maint)
# Output: the result contract with a key=value section `backup` (status ok, empty, failed or busy).
# Exit: 0 when a snapshot was written, there was nothing to back up, or another backup is running
#   (status busy); 1 when the backup failed (no snapshot was written; the previous ones are intact) or
#   the configuration is invalid.

set -euo pipefail
# shellcheck source=lib/common.sh
source "${BASH_SOURCE[0]%/*}/lib/common.sh"
# shellcheck source=lib/result.sh
source "${BASH_SOURCE[0]%/*}/lib/result.sh"
# shellcheck source=lib/s3-http.sh
source "${BASH_SOURCE[0]%/*}/lib/s3-http.sh"
# shellcheck source=lib/backup-store.sh
source "${BASH_SOURCE[0]%/*}/lib/backup-store.sh"
# shellcheck source=lib/json.sh
source "${BASH_SOURCE[0]%/*}/lib/json.sh"
# shellcheck source=lib/backup-manifest.sh
source "${BASH_SOURCE[0]%/*}/lib/backup-manifest.sh"

export LC_ALL=C
# One unit's archive may take hours on a slow link; a hung filesystem must not hold the lock forever.
env_int -v UNIT_TIMEOUT_S GPU_MAINT_BACKUP_UNIT_TIMEOUT_S 86400 1
readonly UNIT_TIMEOUT_S
env_int -v SCAN_TIMEOUT_S GPU_MAINT_BACKUP_SCAN_TIMEOUT_S 3600 1
readonly SCAN_TIMEOUT_S
readonly SAMPLE_BYTES=262144
readonly SAMPLE_FILES=4
readonly FAST_LEVEL_ARG="--fast=1"

SOURCES=()
EXCLUDES=()
# backup.destination (GPU_MAINT_BACKUP_DESTINATION): file:///path or s3://bucket/prefix.
DESTINATION=""
UNIT_DEPTH=1
LEVEL=3
MIN_SAVINGS_PERCENT=10
HOST=""
HOST_KEY=""
SCRATCH=""
STATE=""
# find(1) arguments that prune excluded entries: ( -name a -o -path b ... ) -prune -o
PRUNE_ARGS=()

# Units found by the scan (parallel arrays).
U_SRC=()
U_REL=()
U_ID=()
U_FP=()
U_REUSE=()
# Reusable archives: unit id -> "fingerprint<TAB>key<TAB>sha256<TAB>bytes<TAB>files<TAB>sourceBytes<TAB>listing".
declare -A REUSABLE=()
# Unit paths of the previous manifest, base64-encoded: unit id -> "fingerprint<TAB>pathBase64" (an
# unchanged unit's line is written without encoding its path again).
declare -A PREVIOUS_PATH_B64=()
# Stored archive sizes by key (relative to the host prefix), from one listing.
declare -A STORED_SIZE=()
# Archives a restore or restore test found corrupt (quarantine markers): never reused.
declare -A QUARANTINED=()
# warn: a file that cannot be read (or vanishes) is left out with a warning; fail: the backup fails.
ON_UNREADABLE=warn
# Manifest lines, built once every unit is done.
UNIT_LINES=()
# Archive of each unit (index as U_*): key, sha256, bytes, entries, source bytes, listing digest,
# whether this run sent it, the fingerprint it was sent under, and a pending digest job (file://).
A_KEY=()
A_SHA=()
A_BYTES=()
A_FILES=()
A_SBYTES=()
A_LISTING=()
A_UPLOADED=()
A_ORIGINAL_FP=()
A_DIGEST_PID=()
# Uploaded units whose (small) file:// archives are hashed together by finish_uploads.
A_DIGEST_BATCH=()

# Run statistics.
FILES_TOTAL=0
BYTES_READ=0
BYTES_UPLOADED=0
UNITS_UPLOADED=0
UNITS_REUSED=0
BYTES_TO_READ=0
WARNINGS=()
START_S=""

#######################################
# Validates configuration; exits 1 with a message naming the bad value.
#######################################
read_config() {
  local item
  env_list -v SOURCES GPU_MAINT_BACKUP_SOURCES /opt/ml/models
  ((${#SOURCES[@]} > 0)) || die "GPU_MAINT_BACKUP_SOURCES lists no directory"
  for item in "${SOURCES[@]}"; do
    [[ "${item}" == /* ]] || die "GPU_MAINT_BACKUP_SOURCES: '${item}' is not an absolute path"
    # Manifests carry source paths as plain JSON text: these would not round-trip (names below a
    # source may hold any byte; they are stored base64-encoded).
    if [[ "${item}" == *[$'\x01'-$'\x1f\x7f'\"\\]* ]]; then
      die "GPU_MAINT_BACKUP_SOURCES: $(printf '%q' "${item}") holds a control character, quote or backslash; back up its parent directory instead"
    fi
  done
  env_list -v EXCLUDES GPU_MAINT_BACKUP_EXCLUDE ""
  env_int -v UNIT_DEPTH GPU_MAINT_BACKUP_UNIT_DEPTH 1 1 4
  env_int -v LEVEL GPU_MAINT_BACKUP_COMPRESSION_LEVEL 3 1 19
  env_enum -v ON_UNREADABLE GPU_MAINT_BACKUP_ON_UNREADABLE warn warn fail
  env_int -v MIN_SAVINGS_PERCENT GPU_MAINT_BACKUP_MIN_SAVINGS_PERCENT 10 0 100
  # An archive costs a few milliseconds locally; on s3:// small ones travel in batches (one AWS CLI
  # process each), so a shard on its own costs no AWS CLI process of its own there either.
  env_int -v LARGE_FILE_BYTES GPU_MAINT_BACKUP_LARGE_FILE_BYTES 8388608 1
  env_int -v S3_BATCH_BYTES GPU_MAINT_BACKUP_S3_BATCH_BYTES 536870912 0
  env_str -v DESTINATION GPU_MAINT_BACKUP_DESTINATION ""
  [[ -n "${DESTINATION}" ]] || die "GPU_MAINT_BACKUP_DESTINATION is not set (file:///path or s3://bucket/prefix)"
  local tool
  for tool in tar zstd sha256sum flock find sort base64 stat awk cmp xargs; do
    command -v "${tool}" >/dev/null 2>&1 || die "backup needs ${tool} on PATH"
  done
}

# Escapes glob characters so that a literal path can be used with find -path.
glob_escape() {
  local s="$1"
  s="${s//\\/\\\\}"
  s="${s//\*/\\*}"
  s="${s//\?/\\?}"
  s="${s//\[/\\[}"
  printf '%s' "${s}"
}

#######################################
# Builds the find(1) prune expression for one source: the configured excludes, plus the local
# destination and state directory when they lie inside the source (a backup never archives itself).
# Arguments: source directory (resolved).
#######################################
build_prune_args() {
  local src="$1" pattern inner
  local -a terms=()
  for pattern in "${EXCLUDES[@]+"${EXCLUDES[@]}"}"; do
    pattern="${pattern%/}"
    [[ -n "${pattern}" ]] || continue
    if [[ "${pattern}" == /* ]]; then
      terms+=(-path "./${pattern#/}")
    elif [[ "${pattern}" == */* ]]; then
      terms+=(-path "*/${pattern}")
    else
      terms+=(-name "${pattern}")
    fi
  done
  for inner in "${STORE_ROOT:-}" "${STATE}"; do
    [[ -n "${inner}" && -d "${inner}" ]] || continue
    inner="$(cd "${inner}" && pwd -P)"
    if [[ "${inner}" == "${src}" ]]; then
      die "source ${src} is the backup destination or state directory itself"
    elif [[ "${inner}" == "${src}"/* ]]; then
      terms+=(-path "./$(glob_escape "${inner#"${src}"/}")")
    fi
  done
  PRUNE_ARGS=()
  if ((${#terms[@]} > 0)); then
    PRUNE_ARGS=("(")
    local i
    for ((i = 0; i < ${#terms[@]}; i += 2)); do
      ((i > 0)) && PRUNE_ARGS+=(-o)
      PRUNE_ARGS+=("${terms[i]}" "${terms[i + 1]}")
    done
    PRUNE_ARGS+=(")" -prune -o)
  fi
}

# Files this large (regular, one link, below the unit depth) are archived on their own, as a unit
# of their own path: a rewritten shard re-sends that shard, never its neighbours.
LARGE_FILE_BYTES=8388608
# s3:// staging budget per batch (store_stage_init).
S3_BATCH_BYTES=0
readonly SAMPLE_MIN_BYTES=$((4 * SAMPLE_BYTES))

#######################################
# Splits one source's find(1) records into units, in one pass (no process per unit or per file).
# Input (NUL-separated): `R|U<TAB>depth<TAB>type<TAB>size<TAB>mtime<TAB>mode<TAB>owner<TAB>links<TAB>path`,
# each symlink's record followed by its target; U marks an entry this user cannot read (pruned).
# Writes, per unit n (numbered from -v first): u/n.ls (its listing records in find order, for the
# check after the read), u/n.m (tar's members), u/n.skip (unreadable entries), u/n.big (files of
# SAMPLE_MIN_BYTES or more of the unit's level group: `size<TAB>path`), u/n.id (source NUL path:
# hashed into the unit id); fp.all and ls.all (`n<TAB>record`: fingerprint and listing records,
# sorted later); and the unit table on stdout: `rel<SOH>n<NUL>group<NUL>fpbytes<NUL>` per unit. With
# -v ls_only=1 it writes ls.all and the table only (a check of units listed again); with -v members=0
# no u/n.ls or u/n.m but m.all (`n<TAB>path`), from which unit_read_files writes them for the units
# that are read (the scan: an unchanged unit costs no file of either kind).
# Inside the program (no comments there: the bundler drops lines starting with #, even in a string):
# unit() creates every unit's .ls and .m at once, also with no entry of a kind, and closes them (a unit
# may have many; .skip appears with the first unreadable entry: each file created costs about 0.4 ms
# on a small VM's ext4); add() takes one entry of unit n (R or U, depth, type, size, mtime, mode, owner, links,
# path, link target); the depth comes from the path, as find counts from its starting point, which is a
# unit when one is listed again.
#######################################
# shellcheck disable=SC2016 # an awk program: its $ are awk's
readonly SCAN_SPLIT_AWK='
function unit(rel, group,    n) {
  if (rel in num) return num[rel]
  n = next_n++
  num[rel] = n; rels[n] = rel; groups[n] = (group == "" ? n : group)
  order[++units] = n
  if (ls_only) return n
  if (members) for (k = 0; k < 2; k++) { f = dir "/u/" n (k == 0 ? ".ls" : ".m"); printf "" >> f; close(f) }
  printf "%s%c%s", src, 0, rel > (dir "/u/" n ".id"); close(dir "/u/" n ".id")
  return n
}
function flush_pending() {
  if (pending != "") add(unit(pending, ""), pf, pd, py, ps, pt, pm, po, pl, pp, "")
  pending = ""
}
function add(n, flag, d, y, sz, mt, m, o, l, p, lt,    rec, ls) {
  fpbytes[n] += (y == "f" ? sz : 0)
  rec = y "\t" sz "\t" mt "\t" m "\t" o "\t" l "\t" p "\t" lt
  if (!ls_only) printf "%s\t%s%c", n, rec, 0 >> (dir "/fp.all")
  if (flag == "U") { if (!ls_only) { printf "%s%c", p, 0 >> (dir "/u/" n ".skip"); close(dir "/u/" n ".skip") }; return }
  ls = (y == "d") ? "d\t-\t" m "\t" p "\t" : y "\t" sz "\t" m "\t" p "\t" lt
  printf "%s\t%s%c", n, ls, 0 >> (dir "/ls.all")
  if (ls_only) return
  if (!members) printf "%s\t%s%c", n, p, 0 >> (dir "/m.all")
  else {
    if (n != last_n) { if (last_n != "") { close(dir "/u/" last_n ".ls"); close(dir "/u/" last_n ".m") }; last_n = n }
    printf "%s%c", ls, 0 >> (dir "/u/" n ".ls")
    printf "%s%c", p, 0 >> (dir "/u/" n ".m")
  }
  if (y == "f" && sz + 0 >= sample_min) {
    printf "%s\t%s%c", sz, p, 0 >> (dir "/u/" groups[n] ".big"); close(dir "/u/" groups[n] ".big")
  }
}
BEGIN { RS = "\0"; next_n = first; pending = ""; last_n = "" }
{
  flag = substr($0, 1, 1)
  rest = substr($0, 3)
  for (k = 2; k <= 8; k++) { t = index(rest, "\t"); v[k] = substr(rest, 1, t - 1); rest = substr(rest, t + 1) }
  path = rest; lt = ""
  if (v[3] == "l" && flag == "R") { if ((getline lt) <= 0) lt = "" }
  rel = substr(path, 3); d = split(rel, parts, "/")
  if (pending != "" && index(rel, pending "/") != 1) flush_pending()
  else if (pending != "") pending = ""
  if (d < depth) {
    if (v[3] == "d") { pending = rel; pf = flag; pd = v[2]; py = v[3]; ps = v[4]; pt = v[5]; pm = v[6]; po = v[7]; pl = v[8]; pp = path }
    else add(unit(rel, ""), flag, v[2], v[3], v[4], v[5], v[6], v[7], v[8], path, lt)
    next
  }
  top = rel
  if (d > depth) { c = 0; top = ""; s = rel; while (c < depth) { t = index(s, "/"); top = top (c ? "/" : "") substr(s, 1, t - 1); s = substr(s, t + 1); c++ } }
  parent = unit(top, "")
  n = parent
  if (d > depth && flag == "R" && v[3] == "f" && v[8] == 1 && v[4] + 0 >= large) n = unit(rel, parent)
  add(n, flag, v[2], v[3], v[4], v[5], v[6], v[7], v[8], path, lt)
}
END {
  flush_pending()
  for (i = 1; i <= units; i++) { n = order[i]; printf "%s%c%s%c%s%c%s%c", rels[n], 1, n, 0, groups[n], 0, fpbytes[n] + 0, 0 }
}'

#######################################
# Sets U_SLUG_OUT to a unit id's readable part: the path with bytes outside [A-Za-z0-9._-] as `_`.
#######################################
unit_slug() {
  local slug="$1" unsafe='[^A-Za-z0-9._-]'
  slug="${slug//${unsafe}/_}"
  slug="${slug:0:60}"
  slug="${slug#.}"
  U_SLUG_OUT="${slug:-unit}"
}

# Empties a split_tree output directory (a new one costs one process).
split_tree_reset() {
  [[ -e "$1/u" ]] && rm -rf -- "$1/u"
  mkdir -p -- "$1/u"
  : >"$1/fp.all"
  : >"$1/ls.all"
  [[ ! -e "$1/m.all" ]] || : >"$1/m.all"
}

#######################################
# Lists entries below a source with one find(1) into a file of records (SCAN_SPLIT_AWK's input),
# sockets left out (tar cannot archive them): the whole source (start `.`), or units again (starts
# `./<unit path>`, none inside another: paths stay relative to the source, so the units are the same).
# Uses PRUNE_ARGS of the source.
# Arguments: resolved source, records file, starts.
# Returns: find's status (non-zero also when a start is gone; the others are listed all the same).
#######################################
list_records() {
  local resolved="$1" records="$2"
  shift 2
  local fmt='\t%d\t%y\t%s\t%T@\t%m\t%U:%G\t%n\t%p\0'
  local -a depth_args=()
  [[ "$1" == . ]] && depth_args=(-mindepth 1)
  (cd "${resolved}" && timeout -k 5 "${SCAN_TIMEOUT_S}" find "$@" "${depth_args[@]+"${depth_args[@]}"}" "${PRUNE_ARGS[@]+"${PRUNE_ARGS[@]}"}" \
    \( -type s -prune \) -o \( ! -type l \( ! -readable -o -type d ! -executable \) -printf "U${fmt}" -prune \) -o \
    \( -type l -printf "R${fmt}%l\0" \) -o -printf "R${fmt}") >"${records}"
}

# Splits the records list_records wrote into <out dir>/records into units (SCAN_SPLIT_AWK).
# Arguments: output dir (split_tree_reset first), first unit number, source as configured, 1 to
#   write the listing records and the unit table only (default 0), and 0 to leave each unit's listing
#   and member files to unit_read_files (default 1).
split_records() {
  local out="$1" first="$2" src="$3" ls_only="${4:-0}" members="${5:-1}"
  awk -v dir="${out}" -v src="${src}" -v depth="${UNIT_DEPTH}" -v first="${first}" -v large="${LARGE_FILE_BYTES}" \
    -v sample_min="${SAMPLE_MIN_BYTES}" -v ls_only="${ls_only}" -v members="${members}" "${SCAN_SPLIT_AWK}" \
    <"${out}/records" >"${out}/table" 2>"${out}/awk.err" || {
    log "error: cannot split the entries of ${src} into units: $(head -c 300 "${out}/awk.err")"
    return 1
  }
}

#######################################
# Lists a tree below a source (list_records) and splits it into units (split_records).
# Arguments: resolved source, start, output dir (split_tree_reset first), first unit number, source
#   as configured (hashed into unit ids), and 0 to leave listing and member files to unit_read_files
#   (default 1).
#######################################
split_tree() {
  local resolved="$1" start="$2" out="$3" first="$4" src="$5"
  list_records "${resolved}" "${out}/records" "${start}" || {
    log "error: cannot read ${src}/${start#./}"
    return 1
  }
  split_records "${out}" "${first}" "${src}" 0 "${6:-1}"
}

# Sets TABLE_UNIT to the number of the unit with a path in a split_tree output (empty when absent).
# Arguments: output dir, unit path.
TABLE_UNIT=""
table_unit() {
  local rec group fpbytes
  TABLE_UNIT=""
  while IFS= read -r -d '' rec && IFS= read -r -d '' group && IFS= read -r -d '' fpbytes; do
    if [[ "${rec%$'\x01'*}" == "$2" ]]; then
      TABLE_UNIT="${rec##*$'\x01'}"
      return 0
    fi
  done <"$1/table"
}

# Sets UNIT_SUMS[name] to the sha256 of each named file of <dir>/u, with one sha256sum for all of
# them (a file that cannot be read has none). Arguments: split_tree output dir, file names.
declare -A UNIT_SUMS=()
unit_sums() {
  local dir="$1" sum name
  shift
  UNIT_SUMS=()
  while read -r sum name; do
    UNIT_SUMS["${name}"]="${sum}"
  done < <(cd "${dir}/u" && printf '%s\0' "$@" | timeout -k 5 "${SCAN_TIMEOUT_S}" xargs -0 sha256sum --)
}

MISSING_SOURCES=()
U_BYTES=()
# Per unit (index as U_*): its number in ${SCRATCH}/u, the first unit of its level group, and its
# listing (digest, entries, bytes) as the scan saw it.
U_NUM=()
U_GROUP=()
U_LS_DIGEST=()
U_LS_FILES=()
U_LS_BYTES=()

#######################################
# Finds the sources' units and fingerprints them into U_* (sorted per source by path); missing
# sources go to MISSING_SOURCES. One find(1) per source, one awk pass, a sort and one sha256sum
# for the whole run: the cost does not grow with the number of units. A unit's fingerprint is the
# sha256 of `gpu-maint-fingerprint v1` and its sorted (type, size, mtime, mode, owner, links, path,
# link target) records; its listing digest (as unit_listing in lib/backup-manifest.sh computes it)
# waits for unit_read_files, which only the units that are read need.
# Returns: non-zero when a source cannot be read.
#######################################
scan_units() {
  local src resolved first=0 rec rel n group fpbytes idx
  split_tree_reset "${SCRATCH}"
  local -a table=()
  for src in "${SOURCES[@]}"; do
    if [[ ! -e "${src}" ]]; then
      log "source ${src} does not exist: nothing to back up there"
      MISSING_SOURCES+=("${src}")
      continue
    fi
    [[ -d "${src}" ]] || die "source ${src} is not a directory"
    resolved="$(cd "${src}" && pwd -P)"
    build_prune_args "${resolved}"
    split_tree "${resolved}" . "${SCRATCH}" "${first}" "${src}" 0 || return 1
    table=()
    while IFS= read -r -d '' rec && IFS= read -r -d '' group && IFS= read -r -d '' fpbytes; do
      table+=("${rec}"$'\x01'"${group}"$'\x01'"${fpbytes}")
    done <"${SCRATCH}/table"
    ((${#table[@]} > 0)) || continue
    # Sorted by path (the SOH after the path sorts before any byte a name holds but SOH itself).
    while IFS= read -r -d '' rec; do
      rel="${rec%%$'\x01'*}"
      rec="${rec#*$'\x01'}"
      n="${rec%%$'\x01'*}"
      rec="${rec#*$'\x01'}"
      group="${rec%%$'\x01'*}"
      fpbytes="${rec#*$'\x01'}"
      U_SRC+=("${src}")
      U_REL+=("${rel}")
      U_NUM+=("${n}")
      U_GROUP+=("${group}")
      U_BYTES+=("${fpbytes}")
      first=$((n >= first ? n + 1 : first))
    done < <(printf '%s\0' "${table[@]}" | sort -z)
  done
  ((${#U_NUM[@]} > 0)) || return 0
  split_unit_records "${SCRATCH}/fp.all" "${SCRATCH}" fp 'gpu-maint-fingerprint v1' || return 1
  # Every unit gets its file even when it has no record (then it hashes the header only).
  local -a files=()
  for n in "${U_NUM[@]}"; do
    [[ -e "${SCRATCH}/u/${n}.fp" ]] || printf 'gpu-maint-fingerprint v1\0' >"${SCRATCH}/u/${n}.fp"
    files+=("${n}.fp" "${n}.id")
  done
  unit_sums "${SCRATCH}" "${files[@]}"
  for idx in "${!U_NUM[@]}"; do
    n="${U_NUM[idx]}"
    [[ -n "${UNIT_SUMS[${n}.fp]:-}" && -n "${UNIT_SUMS[${n}.id]:-}" ]] || {
      log "error: cannot fingerprint unit ${U_SRC[idx]}/${U_REL[idx]}"
      return 1
    }
    unit_slug "${U_REL[idx]}"
    U_ID+=("${U_SLUG_OUT}-${UNIT_SUMS[${n}.id]:0:12}")
    U_FP+=("${UNIT_SUMS[${n}.fp]}")
    U_LS_DIGEST+=("")
  done
  # Entries and regular-file bytes of each unit's listing, in one pass over all of them.
  local entries bytes
  while IFS=$'\t' read -r n entries bytes; do
    U_LS_COUNTS["${n}"]="${entries}"$'\t'"${bytes}"
  done < <(unit_listing_counts "${SCRATCH}/ls.all")
  for idx in "${!U_NUM[@]}"; do
    IFS=$'\t' read -r entries bytes <<<"${U_LS_COUNTS[${U_NUM[idx]}]:-0	0}"
    U_LS_FILES+=("${entries}")
    U_LS_BYTES+=("${bytes}")
  done
}
declare -A U_LS_COUNTS=()

# Writes, for each unit of the scan's split (${SCRATCH}) that is read, in one awk pass, its listing
# records (u/n.ls, in find order) and tar's members (u/n.m) from ls.all and m.all.
# shellcheck disable=SC2016 # an awk program: its $ are awk's
readonly UNIT_MEMBERS_AWK='
BEGIN {
  RS = "\0"; k = split(want, w, " ")
  for (i = 1; i <= k; i++) {
    wanted[w[i]] = 1
    f = dir "/u/" w[i] ".ls"; printf "" > f; close(f)
    f = dir "/u/" w[i] ".m"; printf "" > f; close(f)
  }
}
FNR == 1 { suffix = (FILENAME ~ /\/ls[.]all$/) ? ".ls" : ".m"; if (file != "") close(file); file = ""; cur = "" }
{
  t = index($0, "\t"); n = substr($0, 1, t - 1)
  if (!(n in wanted)) next
  if (n != cur) { if (file != "") close(file); cur = n; file = dir "/u/" n suffix }
  printf "%s%c", substr($0, t + 1), 0 >> file
}'

#######################################
# Prepares the units that are read (indexes as U_*): their listing and member files
# (UNIT_MEMBERS_AWK) and listing digests (U_LS_DIGEST), in one pass for all of them; an unchanged
# unit needs neither.
# Returns: non-zero when they cannot be written.
#######################################
unit_read_files() {
  (($# > 0)) || return 0
  local i n
  local -a nums=() files=()
  for i in "$@"; do nums+=("${U_NUM[i]}"); done
  [[ -e "${SCRATCH}/m.all" ]] || : >"${SCRATCH}/m.all"
  if ! timeout -k 5 "${SCAN_TIMEOUT_S}" awk -v dir="${SCRATCH}" -v want="${nums[*]}" "${UNIT_MEMBERS_AWK}" \
    "${SCRATCH}/ls.all" "${SCRATCH}/m.all" 2>"${SCRATCH}/awk.err" ||
    ! split_unit_records "${SCRATCH}/ls.all" "${SCRATCH}" lss '' "${nums[*]}"; then
    log "error: cannot write the listings of the units to read: $(head -c 300 "${SCRATCH}/awk.err")"
    return 1
  fi
  for n in "${nums[@]}"; do
    [[ -e "${SCRATCH}/u/${n}.lss" ]] || : >"${SCRATCH}/u/${n}.lss"
    files+=("${n}.lss")
  done
  unit_sums "${SCRATCH}" "${files[@]}"
  for i in "$@"; do
    U_LS_DIGEST[i]="${UNIT_SUMS[${U_NUM[i]}.lss]:-}"
    if [[ -z "${U_LS_DIGEST[i]}" ]]; then
      log "error: cannot fingerprint unit ${U_SRC[i]}/${U_REL[i]}"
      return 1
    fi
  done
}

#######################################
# Loads what can be reused: the newest snapshot's units and the archives this host uploaded in a
# failed run (carry-over file), each only while its archive is still stored at the recorded size.
# Sets PREVIOUS_ID.
#######################################
# Sizes of this host's manifests in the store, by snapshot id (from the listing).
declare -A MANIFEST_SIZE=()

# The copy of the last manifest this host wrote to this destination (state dir): an unchanged rerun
# against S3 then reads no manifest (one AWS CLI process less), and foresees its snapshot id. Keyed
# by destination and host key; set once both are known (s3:// only).
MANIFEST_CACHE=""
set_manifest_cache() {
  local key
  key="$(printf '%s\0%s' "${DESTINATION}" "${HOST_KEY}" | sha256sum)"
  MANIFEST_CACHE="${STATE}/backup-last-manifest.${key:0:16}.json"
}

#######################################
# Copies the cached manifest of a snapshot to a file when it is that snapshot's and has the size the
# store lists for it (a manifest is never rewritten: same id and size, same manifest).
# Arguments: snapshot id, output file. Returns: non-zero when there is no such copy.
#######################################
manifest_from_cache() {
  local id="$1" out="$2" cache="${MANIFEST_CACHE}"
  [[ -n "${cache}" && -f "${cache}" && -n "${MANIFEST_SIZE[${id}]:-}" ]] || return 1
  [[ "$(stat -c %s -- "${cache}")" == "${MANIFEST_SIZE[${id}]}" ]] || return 1
  grep -q "\"id\":\"${id}\"," -- "${cache}" || return 1
  cp -- "${cache}" "${out}"
}

# The newest snapshot of this host (a listing is one request: units and snapshots together).
PREVIOUS_ID=""
# The listing of this host's prefix runs while the sources are scanned (an AWS CLI process on
# s3:// costs about as much as the scan), after the removal of the partial files a stopped run left
# there (file://; their number goes to SCRATCH/stale-partials): its process, and the exit handler that
# stops it. Nothing is written under the prefix before load_reusable waits for it.
LISTING_PID=""
start_listing() {
  {
    store_remove_stale_partials "backups/${HOST_KEY}/" >"${SCRATCH}/stale-partials"
    store_list "backups/${HOST_KEY}/"
  } >"${SCRATCH}/listing" &
  LISTING_PID=$!
  on_exit stop_listing
}
stop_listing() {
  [[ -z "${LISTING_PID}" ]] || kill "${LISTING_PID}" 2>/dev/null || true
  return 0
}
#######################################
# On s3://, starts the upload of this run's manifest now when its id can be foreseen (store_put_prepare):
# the copy of the manifest this host wrote last names the previous snapshot, and this one is the next
# in sequence. The listing confirms the guess (use_snapshot_id) or the upload is cancelled unused.
# The manifest's content still comes last, after every archive it names is stored.
#######################################
FORESEEN_PREVIOUS_ID=""
FORESEEN_ID=""
foresee_snapshot_id() {
  local head="" previous
  [[ -n "${MANIFEST_CACHE}" && -f "${MANIFEST_CACHE}" ]] || return 0
  read -r -N 1024 head <"${MANIFEST_CACHE}" || [[ -n "${head}" ]] || return 0
  [[ "${head}" =~ \"id\":\"([^\"]+)\" ]] || return 0
  previous="${BASH_REMATCH[1]}"
  [[ "${previous}" =~ ${SNAPSHOT_ID_RE} ]] || return 0
  FORESEEN_PREVIOUS_ID="${previous}"
  FORESEEN_ID="$(next_snapshot_id "${previous}")"
  store_put_prepare "backups/${HOST_KEY}/snapshots/${FORESEEN_ID}.json" "${SCRATCH}"
}

# Prints the id of the snapshot after a given one: now, and the next sequence number (the order of
# writing, whatever this host's clock says). Arguments: previous snapshot id (empty: none).
next_snapshot_id() {
  local sequence
  snapshot_sequence sequence "${1:-0}"
  printf '%s-%s\n' "$(date -u +%Y%m%dT%H%M%SZ)" "$((sequence + 1))"
}

# Sets SNAPSHOT_ID and SNAPSHOT_SEQUENCE once the listing is read: the foreseen id when the listing's
# newest snapshot is the one foreseen, else the next one (and the upload started for the other is
# cancelled). The lock rules out a concurrent run of this host, so the listing is current and the id new.
use_snapshot_id() {
  if [[ -n "${FORESEEN_ID}" && "${PREVIOUS_ID}" == "${FORESEEN_PREVIOUS_ID}" ]]; then
    SNAPSHOT_ID="${FORESEEN_ID}"
  else
    store_put_cancel
    SNAPSHOT_ID="$(next_snapshot_id "${PREVIOUS_ID}")"
  fi
  SNAPSHOT_SEQUENCE="${SNAPSHOT_ID##*-}"
}

load_reusable() {
  local listing size key rel rc=0 partials=0
  wait "${LISTING_PID}" || rc=$?
  LISTING_PID=""
  read -r partials 2>/dev/null <"${SCRATCH}/stale-partials" || partials=0
  ((partials == 0)) || log "removed ${partials} partial file(s) left by a backup that was stopped"
  ((rc == 0)) || return 1
  listing="$(<"${SCRATCH}/listing")"
  if [[ -n "${listing}" ]]; then
    while IFS=$'\t' read -r size key; do
      rel="${key#"backups/${HOST_KEY}/"}"
      case "${rel}" in
      units/*) STORED_SIZE["${rel}"]="${size}" ;;
      quarantine/units/*) QUARANTINED["${rel#quarantine/}"]=1 ;;
      snapshots/*.json)
        rel="${rel#snapshots/}"
        [[ "${rel%.json}" =~ ${SNAPSHOT_ID_RE} ]] && snapshot_after "${rel%.json}" "${PREVIOUS_ID}" && PREVIOUS_ID="${rel%.json}"
        MANIFEST_SIZE["${rel%.json}"]="${size}"
        ;;
      esac
    done <<<"${listing}"
  fi
  local id fp k sha bytes files sbytes listing_sum rest
  if [[ -n "${PREVIOUS_ID}" ]]; then
    if manifest_from_cache "${PREVIOUS_ID}" "${SCRATCH}/previous.json" ||
      store_get "backups/${HOST_KEY}/snapshots/${PREVIOUS_ID}.json" >"${SCRATCH}/previous.json" &&
      manifest_units "${SCRATCH}/previous.json" >"${SCRATCH}/previous.units"; then
      while IFS=$'\t' read -r id fp k sha bytes files sbytes listing_sum rest; do
        PREVIOUS_PATH_B64["${id}"]="${fp}"$'\t'"${rest##*$'\t'}"
        [[ "${STORED_SIZE[${k}]:-}" == "${bytes}" ]] || continue
        if [[ -n "${QUARANTINED[${k}]:-}" ]]; then
          WARNINGS+=("archive ${k} was found corrupt (quarantined); its unit is uploaded again")
          log "warning: ${WARNINGS[-1]}"
          continue
        fi
        REUSABLE["${id}"]="${fp}"$'\t'"${k}"$'\t'"${sha}"$'\t'"${bytes}"$'\t'"${files}"$'\t'"${sbytes}"$'\t'"${listing_sum}"
      done <"${SCRATCH}/previous.units"
    else
      WARNINGS+=("newest snapshot ${PREVIOUS_ID} could not be read; every unit is uploaded again")
      log "warning: ${WARNINGS[-1]}"
    fi
  fi
  local carry="${STATE}/backup-carry-over.tsv" hk
  if [[ -f "${carry}" ]]; then
    while IFS=$'\t' read -r hk id fp k sha bytes files sbytes listing_sum; do
      [[ "${hk}" == "${HOST_KEY}" && -z "${REUSABLE[${id}]:-}" ]] || continue
      [[ "${STORED_SIZE[${k}]:-}" == "${bytes}" && -z "${QUARANTINED[${k}]:-}" ]] || continue
      REUSABLE["${id}"]="${fp}"$'\t'"${k}"$'\t'"${sha}"$'\t'"${bytes}"$'\t'"${files}"$'\t'"${sbytes}"$'\t'"${listing_sum}"
    done <"${carry}"
  fi
}

# Prints a progress record (scripts/lib/common.sh) after each unit. Arguments: units done, units
# total, the unit id (empty before the first).
progress() {
  progress_record backup "${3:-}" "$1" "$2" "${BYTES_READ}" "${BYTES_TO_READ}"
}

#######################################
# Prints a unit's zstd level: FAST_LEVEL_ARG (no entropy coding, about copy speed) when SAMPLE_BYTES
# from the middle of each of its largest files (up to SAMPLE_FILES, of 4 samples or more) save less
# than MIN_SAVINGS_PERCENT at the configured level (3 at most, for speed), else that level. Weights
# barely compress (fp16: ~8%), and entropy coding costs ~1 CPU-second per GiB. Arguments: unit index.
#######################################
choose_level() {
  local i="$1" base packed sampled=0 n size path
  local -a files=() offsets=()
  local big="${SCRATCH}/u/${U_GROUP[i]}.big"
  if ((MIN_SAVINGS_PERCENT > 0)) && [[ -s "${big}" ]] && base="$(cd "${U_SRC[i]}" && pwd -P)"; then
    while IFS=$'\t' read -r -d '' size path; do
      files+=("${base}/${path}")
      offsets+=($((size / 2)))
      sampled=$((sampled + SAMPLE_BYTES))
    done < <(sort -z -nr -- "${big}" | head -z -n "${SAMPLE_FILES}")
  fi
  # A file cut short meanwhile makes the sample look compressible: the configured level.
  if ((sampled > 0)) && packed="$(for n in "${!files[@]}"; do
    timeout -k 5 60 dd if="${files[n]}" bs="${SAMPLE_BYTES}" count=1 skip="${offsets[n]}" iflag=skip_bytes,fullblock status=none || exit 1
  done | zstd -q -c "-$((LEVEL < 3 ? LEVEL : 3))" | wc -c)" && (((sampled - packed) * 100 < MIN_SAVINGS_PERCENT * sampled)); then
    log "unit ${U_REL[i]}: its largest files save $(((sampled - packed) * 100 / sampled))% (< ${MIN_SAVINGS_PERCENT}%), zstd ${FAST_LEVEL_ARG}"
    printf '%s\n' "${FAST_LEVEL_ARG}"
  else
    printf -- '-%s\n' "${LEVEL}"
  fi
}

# Level choices run in the background (unit index -> pid writing level.<index>).
# A unit without large files needs no sample: the configured level, and no process.
LEVEL_PID=()
start_level_choice() {
  local g="${U_GROUP[$1]}"
  [[ -s "${SCRATCH}/u/${g}.big" ]] || return 0
  [[ -n "${LEVEL_PID[g]:-}" ]] || {
    choose_level "$1" >"${SCRATCH}/level.${g}" &
    LEVEL_PID[g]=$!
  }
}
# Sets UNIT_LEVEL_ARG once the choice is done (the configured level if it failed).
declare -A LEVEL_DONE=()
await_level_choice() {
  local g="${U_GROUP[$1]}"
  UNIT_LEVEL_ARG="${LEVEL_DONE[${g}]:-}"
  if [[ -z "${UNIT_LEVEL_ARG}" && -n "${LEVEL_PID[g]:-}" ]]; then
    if wait "${LEVEL_PID[g]}"; then read -r UNIT_LEVEL_ARG <"${SCRATCH}/level.${g}" || true; fi
  fi
  UNIT_LEVEL_ARG="${UNIT_LEVEL_ARG:--${LEVEL}}"
  LEVEL_DONE["${g}"]="${UNIT_LEVEL_ARG}"
}

#######################################
# Streams one unit to the destination and records its archive in A_*[index] (a file:// digest is
# computed in the background or with the others; finish_uploads waits for it). The unit is listed
# before and after it is read: when the two listings differ (a file grew, shrank, appeared or vanished
# meanwhile) the unit is read again, so that the manifest's listing describes what the archive holds.
# A first read is committed and its check left to check_units_again, which lists every unit read with
# one find(1) per source once all are read (A_UPLOADED is `pending` until then); the unit is read
# again from attempt 2 when it changed (the new archive replaces the first under the same key). A read
# again, or one tar saw a change in, is checked at once and its archive discarded when it changed.
# After READ_ATTEMPTS reads that all saw changes, the last archive is kept and its listing is taken
# from the archive itself (extracted into a scratch dir), never from the source. Warnings wait for
# finish_unit. A small first read to a local file (file://, or staged) is written in the background
# while the next units are read (A_UPLOADED `detached` until reap_oldest_unit settles it).
# Arguments: unit index, first attempt (default 1; 2 for a unit check_units_again found changed), and
#   0 to keep a first read in the foreground (default 1).
# Returns: non-zero when the archive could not be written completely (nothing is left under its key
#   but a first read's archive, which check_units_again found changed).
#######################################
upload_unit() {
  local i="$1" first_attempt="${2:-1}" src="${U_SRC[$1]}" rel="${U_REL[$1]}" id="${U_ID[$1]}" fp="${U_FP[$1]}"
  local key next attempt detach=0
  # Settled before this unit sets UNIT_*: reaping may read a unit again.
  if ((first_attempt == 1 && ${3:-1} == 1 && READ_ATTEMPTS > 1 && U_LS_BYTES[i] < ZSTD_JOB_BYTES && U_LS_BYTES[i] < LARGE_FILE_BYTES)); then
    detach=1
    while ((${#DETACHED_UNITS[@]} >= DETACHED_MAX)); do reap_oldest_unit || return 1; done
  fi
  # A staged batch that this unit would overflow is hashed and sent first (in the background), once
  # every archive of it is written.
  archive_bytes_bound "${U_LS_BYTES[i]}" "${U_LS_FILES[i]}"
  if store_stage_full "${ARCHIVE_BOUND}"; then
    reap_all_units || return 1
    archive_bytes_bound "${U_LS_BYTES[i]}" "${U_LS_FILES[i]}"
    if store_stage_full "${ARCHIVE_BOUND}"; then
      digest_small_archives || return 1
      store_stage_send || {
        archives_not_stored
        return 1
      }
    fi
  fi
  UNIT_CHANGE=""
  if ((first_attempt == 1)); then
    # This unit's level is chosen while it is listed, the next one's while this one is archived.
    start_level_choice "${i}"
    for ((next = i + 1; next < ${#U_ID[@]}; next++)); do
      ((U_REUSE[next] == 1)) || {
        start_level_choice "${next}"
        break
      }
    done
  fi
  if ! use_source "${src}"; then
    log "error: cannot read ${src}"
    return 1
  fi
  await_level_choice "${i}"
  if ((first_attempt == 1)); then
    key="units/${id}/${fp}.tar.zst"
    if [[ -n "${QUARANTINED[${key}]:-}" ]]; then
      # The archive under the usual key was found corrupt: this copy goes under a key of its own.
      key="units/${id}/$(printf 'gpu-maint requarantine %s %s' "${fp}" "${SNAPSHOT_ID}" | sha256sum | cut -c1-64).tar.zst"
    fi
  else
    key="${A_KEY[i]}"
    forget_digest "${i}"
    UNIT_CHANGE="${A_CHANGE[i]}"
  fi
  UNIT_UNSTABLE=0
  UNIT_DETACH="${detach}"
  for ((attempt = first_attempt; attempt <= READ_ATTEMPTS; attempt++)); do
    read_unit "${i}" "${PRUNE_RESOLVED}" "${key}" "${attempt}" || return 1
    if ((UNIT_DETACHED)); then
      # Written in the background: committed by reap_oldest_unit, which reads tar's status.
      store_upload_detach "${i}" "${UNIT_WRITER_PID}"
      record_read "${i}" "${key}" "${attempt}" "${SCRATCH}/tar.err.${i}"
      A_UPLOADED[i]=detached
      DETACHED_UNITS+=("${i}")
      return 0
    fi
    if ((UNIT_UNSTABLE == 0 || attempt == READ_ATTEMPTS)); then
      break
    fi
    store_upload_abort
    log "unit ${rel} of ${src} changed while it was read (${UNIT_CHANGE}); reading it again (attempt $((attempt + 1)) of ${READ_ATTEMPTS})"
  done
  local file_kind=0 size_hint=large staged="${STORE_UPLOAD_STAGED}"
  store_upload_is_local && file_kind=1
  ((UNIT_SBYTES >= LARGE_FILE_BYTES)) || size_hint=small
  if ! store_upload_commit "${size_hint}"; then
    log "error: upload of unit ${rel} of ${src} to $(store_url "backups/${HOST_KEY}/${key}") failed"
    return 1
  fi
  if ((UNIT_UNSTABLE)); then
    # Still changing: describe the archive by what it holds, as a restore will see it.
    if ! listing_from_archive "${key}" "${rel}" "${UNIT_SBYTES}"; then
      log "error: unit ${rel} of ${src} kept changing while it was read, and its archive cannot be listed"
      return 1
    fi
  fi
  record_read "${i}" "${key}" "${attempt}" "${SCRATCH}/tar.err"
  A_UPLOADED[i]=true
  ((UNIT_DEFERRED == 0)) || A_UPLOADED[i]=pending
  if ((file_kind)) && [[ "${size_hint}" == small || "${staged}" == 1 ]]; then
    # Small and staged archives are hashed together, once every unit is written or before their
    # batch is sent (digest_small_archives); a large staged one starts the hashing of those written
    # so far, in the background while the next unit compresses (a failure is kept for finish_uploads).
    A_DIGEST_BATCH+=("${i}")
    [[ "${size_hint}" == small ]] || digest_small_archives_start || true
  elif ((file_kind)); then
    # The archive is in place; its digest is read back while the next unit compresses.
    store_file_digest "$(store_local_file "backups/${HOST_KEY}/${key}")" >"${SCRATCH}/digest.${i}" &
    A_DIGEST_PID[i]=$!
  else
    read -r "A_SHA[${i}]" "A_BYTES[${i}]" <"${SCRATCH}/digest"
  fi
  return 0
}

#######################################
# Records a unit's read in A_* (index as U_*) from UNIT_* and UNIT_SKIPPED.
# Arguments: unit index, key, attempt kept, tar's messages.
#######################################
record_read() {
  local i="$1" src="${U_SRC[$1]}" rel="${U_REL[$1]}"
  A_KEY[i]="$2"
  A_FILES[i]="${UNIT_FILES}"
  A_SBYTES[i]="${UNIT_SBYTES}"
  A_LISTING[i]="${UNIT_LISTING}"
  A_ORIGINAL_FP[i]="${U_FP[i]}"
  A_ATTEMPT[i]="$3"
  A_UNSTABLE[i]="${UNIT_UNSTABLE}"
  A_CHANGE[i]="${UNIT_CHANGE}"
  A_TAR_RC[i]="${UNIT_TAR_RC}"
  A_TAR_NOTE[i]=""
  ((UNIT_TAR_RC != 1)) || A_TAR_NOTE[i]="$(head -c 300 "$4" | tr '\n' ' ')"
  A_SKIP_NOTE[i]=""
  if [[ -s "${UNIT_SKIPPED}" ]]; then
    local skipped n
    n="$(tr -cd '\0' <"${UNIT_SKIPPED}" | wc -c)"
    skipped="$(head -z -n 3 "${UNIT_SKIPPED}" | tr '\0\n' ',?' | sed 's/,$//; s/,/, /g')"
    A_SKIP_NOTE[i]="${n} entr$( ((n == 1)) && printf y || printf ies) of ${src}/${rel} could not be read and are not in the snapshot: ${skipped}"
  fi
}

# Units whose archive is written in the background (oldest first), at most DETACHED_MAX at once: one
# per core of a 2-core host keeps both compressing while this shell prepares the next unit.
DETACHED_UNITS=()
readonly DETACHED_MAX=2
# The unit whose background write failed (upload_failed names it).
DETACH_FAILED_UNIT=""

#######################################
# Waits for the oldest unit written in the background and settles it as read_unit's foreground path
# would: tar above 1 or zstd failing fails the unit (its file removed); tar 1 (a file changed while it
# was read) drops this read and reads the unit again in the foreground, from attempt 2 (listed again);
# otherwise the archive is committed and its check left to check_units_again (A_UPLOADED pending).
# Returns: non-zero when the unit failed (DETACH_FAILED_UNIT names it).
#######################################
reap_oldest_unit() {
  local i="${DETACHED_UNITS[0]}" zstd_rc=0 tar_rc=""
  DETACHED_UNITS=("${DETACHED_UNITS[@]:1}")
  store_upload_wait_detached "${i}" || zstd_rc=$?
  read -r tar_rc 2>/dev/null <"${SCRATCH}/tar.rc.${i}" || tar_rc=""
  if ((zstd_rc != 0)) || [[ ! "${tar_rc}" =~ ^[0-9]+$ ]] || ((tar_rc > 1)); then
    store_upload_abort_detached "${i}"
    A_UPLOADED[i]=failed
    DETACH_FAILED_UNIT="${i}"
    log "error: archiving unit ${U_REL[i]} of ${U_SRC[i]} failed (tar ${tar_rc:-?}, zstd ${zstd_rc})$(
      [[ -s "${SCRATCH}/tar.err.${i}" ]] && printf ': %s' "$(head -c 300 "${SCRATCH}/tar.err.${i}" | tr '\n' ' ')"
    )"
    return 1
  fi
  if ((tar_rc == 1)); then
    store_upload_abort_detached "${i}"
    A_CHANGE[i]="tar: $(head -n 1 "${SCRATCH}/tar.err.${i}" | head -c 200)"
    log "unit ${U_REL[i]} of ${U_SRC[i]} changed while it was read (${A_CHANGE[i]}); reading it again (attempt 2 of ${READ_ATTEMPTS})"
    local before_bytes="${A_SBYTES[i]}"
    upload_unit "${i}" 2 || {
      DETACH_FAILED_UNIT="${DETACH_FAILED_UNIT:-${i}}"
      return 1
    }
    BYTES_READ=$((BYTES_READ + A_SBYTES[i] - before_bytes))
    return 0
  fi
  if ! store_upload_commit_detached "${i}" small; then
    A_UPLOADED[i]=failed
    DETACH_FAILED_UNIT="${i}"
    log "error: upload of unit ${U_REL[i]} of ${U_SRC[i]} to $(store_url "backups/${HOST_KEY}/${A_KEY[i]}") failed"
    return 1
  fi
  A_UPLOADED[i]=pending
  # Hashed with the other small archives (digest_small_archives).
  A_DIGEST_BATCH+=("${i}")
}

# Settles every unit written in the background (reap_oldest_unit). Returns: non-zero when one failed.
reap_all_units() {
  while ((${#DETACHED_UNITS[@]} > 0)); do reap_oldest_unit || return 1; done
}

# Abandons the units still written in the background (a run that fails): their files are removed.
abort_detached_units() {
  local i
  for i in "${DETACHED_UNITS[@]+"${DETACHED_UNITS[@]}"}"; do
    store_upload_abort_detached "${i}"
    A_UPLOADED[i]=failed
  done
  DETACHED_UNITS=()
}

# Per unit read (index as U_*): the attempt that was kept, whether it still changed, the change seen
# (warning text), tar's status and the start of its messages, and the entries left out (warning text).
A_ATTEMPT=()
A_UNSTABLE=()
A_CHANGE=()
A_TAR_RC=()
A_TAR_NOTE=()
A_SKIP_NOTE=()

# Sets PRUNE_RESOLVED and PRUNE_ARGS for a source (kept while the units of one source are read).
use_source() {
  [[ "$1" != "${PRUNE_SOURCE}" ]] || return 0
  PRUNE_RESOLVED="$(cd "$1" && pwd -P)" || return 1
  build_prune_args "${PRUNE_RESOLVED}"
  PRUNE_SOURCE="$1"
}

# Drops the digest of a unit's archive that is read again (the new archive gets its own).
forget_digest() {
  local i="$1" j
  local -a keep=()
  if [[ -n "${A_DIGEST_PID[i]:-}" ]]; then
    wait "${A_DIGEST_PID[i]}" 2>/dev/null || true
    unset 'A_DIGEST_PID[i]'
  fi
  [[ -z "${DIGEST_PID}" ]] || DIGEST_STALE["${i}"]=1
  for j in "${A_DIGEST_BATCH[@]+"${A_DIGEST_BATCH[@]}"}"; do
    ((j == i)) || keep+=("${j}")
  done
  A_DIGEST_BATCH=("${keep[@]+"${keep[@]}"}")
  A_SHA[i]=""
}

#######################################
# Adds a read unit's warnings (in unit order, once every read is done) and gives a unit whose archive
# may not match its fingerprint one that never matches, so that the next run reads it again.
# Arguments: unit index.
#######################################
finish_unit() {
  local i="$1" src="${U_SRC[$1]}" rel="${U_REL[$1]}"
  if ((A_UNSTABLE[i])); then
    WARNINGS+=("${src}/${rel} kept changing while it was read (${A_CHANGE[i]}); the snapshot holds the last read, listed from its archive")
    log "warning: ${WARNINGS[-1]}"
  elif ((A_ATTEMPT[i] > 1)); then
    WARNINGS+=("${src}/${rel} changed while it was read (${A_CHANGE[i]}) and was read again")
    log "warning: ${WARNINGS[-1]}"
  elif ((A_TAR_RC[i] == 1)); then
    WARNINGS+=("files of ${src}/${rel} changed while they were read; the next run archives them again")
    log "warning: ${WARNINGS[-1]}: ${A_TAR_NOTE[i]}"
  fi
  if [[ -n "${A_SKIP_NOTE[i]}" ]]; then
    WARNINGS+=("${A_SKIP_NOTE[i]}")
    log "warning: ${WARNINGS[-1]}"
  fi
  if ((A_UNSTABLE[i] || A_TAR_RC[i] == 1)) || [[ -n "${A_SKIP_NOTE[i]}" ]]; then
    # A fingerprint that never matches: the next run reads the unit again.
    U_FP[i]="$(printf 'changed-during-read %s' "${A_ORIGINAL_FP[i]}" | sha256sum | cut -c1-64)"
  fi
}

#######################################
# Checks the units read with their check left for later (A_UPLOADED pending) against the scan's
# listing, all at once (check_units_again): an unchanged one is done (A_UPLOADED true), a changed one
# is listed in CHANGED_UNITS (A_UPLOADED changed, A_CHANGE the change seen) to be read again.
#######################################
CHANGED_UNITS=()
confirm_pending_units() {
  local i
  local -a pending=()
  CHANGED_UNITS=()
  for i in "${!A_UPLOADED[@]}"; do
    [[ "${A_UPLOADED[i]}" != pending ]] || pending+=("${i}")
  done
  ((${#pending[@]} > 0)) || return 0
  check_units_again "${pending[@]}"
  for i in "${pending[@]}"; do
    if [[ -z "${A_CHANGE[i]}" ]]; then
      A_UPLOADED[i]=true
    else
      A_UPLOADED[i]=changed
      CHANGED_UNITS+=("${i}")
    fi
  done
}

# Prints, each ending in NUL, the listing records of files as the scan's .ls files hold them for a
# large file on its own (type, size, mode, path, link target); a path that is gone prints nothing.
# Arguments: resolved source, paths below it (./rel).
file_listing_records() {
  local resolved="$1"
  shift
  (cd "${resolved}" && timeout -k 5 "${SCAN_TIMEOUT_S}" find "$@" -maxdepth 0 -printf '%y\t%s\t%m\t%p\t%l\0')
}

#######################################
# check_units_again when every unit read is a large file on its own, of one source (one shard of a
# model rewritten): one find(1) prints their listing records, each compared in the shell with the
# scan's (as read_unit compares a unit read again), instead of the general pass's listing, splitting
# and hashing (about 20 ms of processes for one file). Sets A_CHANGE[index] to "" for each.
# Arguments: unit indexes. Returns: non-zero, having set nothing, when a unit is not such a file,
#   their paths would make a long command line, or one of them changed (the general pass then finds
#   and words the change).
#######################################
check_large_files_again() {
  local i rec before bytes=0 k=0 src="${U_SRC[$1]}"
  local -a paths=() records=()
  for i in "$@"; do
    [[ "${U_GROUP[i]}" != "${U_NUM[i]}" && "${U_SRC[i]}" == "${src}" ]] || return 1
    paths+=("./${U_REL[i]}")
    bytes=$((bytes + ${#U_REL[i]} + 3))
  done
  ((bytes < 65536)) && use_source "${src}" || return 1
  # In the order of the paths; a file gone prints nothing, and the counts differ.
  while IFS= read -r -d '' rec; do
    records+=("${rec}")
  done < <(file_listing_records "${PRUNE_RESOLVED}" "${paths[@]}" 2>/dev/null)
  ((${#records[@]} == $#)) || return 1
  for i in "$@"; do
    before=""
    IFS= read -r -d '' before <"${SCRATCH}/u/${U_NUM[i]}.ls" || true
    [[ -n "${before}" && "${records[k]}" == "${before}" ]] || return 1
    k=$((k + 1))
  done
  for i in "$@"; do A_CHANGE[i]=""; done
}

#######################################
# Lists units again, all of them in one pass as scan_units does (one find(1) per source, from each
# unit's path or, when every unit of the source is listed, from the source; one awk, one sort and one
# sha256sum for all), and compares each unit's listing digest with the scan's. Sets A_CHANGE[index]
# to the change seen (`listed ... before the read, ... after`), empty when the listing is the same.
# A unit that cannot be listed again (gone, unreadable, or a find(1) that failed) counts as changed:
# read again, it gets the check of a read again.
# Arguments: unit indexes, ascending.
#######################################
check_units_again() {
  check_large_files_again "$@" && return 0
  local dir="${SCRATCH}/check" i j src n first=0 rec group fpbytes bytes=0
  local -a starts=() files=()
  local -A pending_num=() after_num=() units_of=()
  split_tree_reset "${dir}"
  for i in "$@"; do
    pending_num["${U_NUM[i]}"]=1
    A_AFTER_NUM[i]=""
  done
  for i in "${!U_SRC[@]}"; do
    src="${U_SRC[i]}"
    units_of["${src}"]=$((${units_of[${src}]:-0} + 1))
  done
  # Units come sorted by source: each source's run of indexes is listed with one find(1).
  local -a run=()
  for i in "$@" ""; do
    if [[ -n "${i}" && (${#run[@]} -eq 0 || "${U_SRC[i]}" == "${U_SRC[run[0]]}") ]]; then
      run+=("${i}")
      continue
    fi
    ((${#run[@]} > 0)) || continue
    src="${U_SRC[run[0]]}"
    starts=()
    bytes=0
    for j in "${run[@]}"; do
      # A large file of a unit that is listed too is listed with it.
      [[ "${U_GROUP[j]}" != "${U_NUM[j]}" && -n "${pending_num[${U_GROUP[j]}]:-}" ]] && continue
      starts+=("./${U_REL[j]}")
      bytes=$((bytes + ${#U_REL[j]} + 3))
    done
    # The whole source when it was all read (or the paths would make a long command line).
    ((${#run[@]} < ${units_of[${src}]} && bytes < 65536)) || starts=(.)
    if use_source "${src}"; then
      list_records "${PRUNE_RESOLVED}" "${dir}/records" "${starts[@]}" 2>/dev/null || true
      if split_records "${dir}" "${first}" "${src}" 1; then
        after_num=()
        while IFS= read -r -d '' rec && IFS= read -r -d '' group && IFS= read -r -d '' fpbytes; do
          n="${rec##*$'\x01'}"
          after_num["${rec%$'\x01'*}"]="${n}"
          first=$((n >= first ? n + 1 : first))
        done <"${dir}/table"
        for j in "${run[@]}"; do A_AFTER_NUM[j]="${after_num[${U_REL[j]}]:-}"; done
      fi
    fi
    run=("${i}")
  done
  if ! split_unit_records "${dir}/ls.all" "${dir}" lss ''; then
    # No listing to compare with: every unit counts as changed.
    for i in "$@"; do A_AFTER_NUM[i]=""; done
  fi
  for i in "$@"; do
    n="${A_AFTER_NUM[i]}"
    [[ -n "${n}" ]] || continue
    [[ -e "${dir}/u/${n}.lss" ]] || : >"${dir}/u/${n}.lss"
    files+=("${n}.lss")
  done
  UNIT_SUMS=()
  ((${#files[@]} == 0)) || unit_sums "${dir}" "${files[@]}"
  local after_files after_bytes
  for i in "$@"; do
    n="${A_AFTER_NUM[i]}"
    A_CHANGE[i]=""
    [[ -z "${n}" || "${UNIT_SUMS[${n}.lss]:-}" != "${U_LS_DIGEST[i]}" ]] || continue
    after_files="?" after_bytes="?"
    [[ -n "${n}" ]] && IFS=$'\t' read -r after_files after_bytes < <(listing_counts "${dir}/u/${n}.lss")
    # A large file on its own has one entry, worded as read_unit words it.
    [[ "${U_GROUP[i]}" != "${U_NUM[i]}" && "${after_files}" == 1 ]] && after_files="1 entry" || after_files+=" entries"
    A_CHANGE[i]="listed ${A_FILES[i]} entries, ${A_SBYTES[i]} bytes before the read, ${after_files}, ${after_bytes} bytes after"
  done
}
# The unit number of each unit (index as U_*) in check_units_again's listing (empty: not listed).
A_AFTER_NUM=()

READ_ATTEMPTS=3
# Units smaller than this are compressed by zstd without worker threads.
readonly ZSTD_JOB_BYTES=8388608
# The source whose PRUNE_ARGS are built, and its resolved path.
PRUNE_SOURCE=""
PRUNE_RESOLVED=""
# Outcome of read_unit: the listing (digest, entries, bytes), tar's status, whether the unit changed.
UNIT_LISTING=""
UNIT_FILES=0
UNIT_SBYTES=0
UNIT_TAR_RC=0
UNIT_UNSTABLE=0
UNIT_CHANGE=""
# 1 when read_unit left the check of the read to check_units_again.
UNIT_DEFERRED=0
# 1 when read_unit may write a first read in the background (set by upload_unit); 1 when it did, the
# pid of its writer (zstd) then in UNIT_WRITER_PID and tar's status to come in ${SCRATCH}/tar.rc.<index>.
UNIT_DETACH=0
UNIT_DETACHED=0
UNIT_WRITER_PID=""
# Units done and bytes read before the unit being read (progress records from inside tar).
PROGRESS_UNITS_DONE=0
PROGRESS_BYTES_DONE=0
# The unit's listing records before the read (compared with those after it), and the entries this
# user cannot read, left out of the listing and the archive (symlinks are archived, never read).
UNIT_BEFORE=""
UNIT_SKIPPED=""

# Prints `entries<TAB>regular-file bytes` of a file of listing records.
listing_counts() {
  awk 'BEGIN { RS = "\0" } { n++; split($0, f, "\t"); if (f[1] == "f") b += f[2] } END { printf "%d\t%.0f\n", n, b }' "$1"
}

#######################################
# Lists one unit, starts its upload and streams it; the upload is left open (commit or abort).
# Sets UNIT_* (UNIT_UNSTABLE=1 when the listing after the read differs from the one before it;
# UNIT_DEFERRED=1 when that check is left to check_units_again: a first read tar saw no change in).
# Arguments: unit index, resolved source, key, attempt (1: the scan's listing; 2 or more: listed again).
# Returns: non-zero when the unit cannot be listed or archived (nothing is left under its key).
#######################################
read_unit() {
  local i="$1" resolved="$2" key="$3" attempt="$4" src="${U_SRC[$1]}" rel="${U_REL[$1]}" expected_bytes
  local dir="${SCRATCH}" n="${U_NUM[$1]}"
  if ((attempt == 1)); then
    # The scan's listing of this unit.
    UNIT_LISTING="${U_LS_DIGEST[i]}" UNIT_FILES="${U_LS_FILES[i]}" UNIT_SBYTES="${U_LS_BYTES[i]}"
  else
    # Listed again: the unit changed since the scan.
    dir="${SCRATCH}/again"
    split_tree_reset "${dir}"
    split_tree "${resolved}" "./${rel}" "${dir}" 0 "${src}" || return 1
    table_unit "${dir}" "${rel}"
    n="${TABLE_UNIT}"
    if [[ -z "${n}" ]]; then
      log "error: unit ${rel} of ${src} vanished while it was read"
      return 1
    fi
    UNIT_LISTING="$(sort -z -- "${dir}/u/${n}.ls" | sha256sum)"
    UNIT_LISTING="${UNIT_LISTING:0:64}"
    IFS=$'\t' read -r UNIT_FILES UNIT_SBYTES < <(listing_counts "${dir}/u/${n}.ls")
  fi
  UNIT_BEFORE="${dir}/u/${n}.ls"
  UNIT_SKIPPED="${dir}/u/${n}.skip"
  if [[ -s "${UNIT_SKIPPED}" && "${ON_UNREADABLE}" == fail ]]; then
    log "error: unit ${rel} of ${src}: $(tr '\0' ' ' <"${UNIT_SKIPPED}" | head -c 300) cannot be read (backup.onUnreadable=fail)"
    return 1
  fi
  local members="${dir}/u/${n}.m"
  archive_bytes_bound "${UNIT_SBYTES}" "${UNIT_FILES}"
  expected_bytes="${ARCHIVE_BOUND}"

  UNIT_DETACHED=0
  [[ ! -e "${SCRATCH}/digest" ]] || rm -f -- "${SCRATCH}/digest"
  if ! store_upload_begin "backups/${HOST_KEY}/${key}" "${expected_bytes}" "${SCRATCH}"; then
    log "error: cannot start writing $(store_url "backups/${HOST_KEY}/${key}")"
    return 1
  fi
  # Default 10 KiB records: a reader stops at the end-of-archive marker, and padding after it must
  # fit in the pipe buffer, or the decompressor would die of SIGPIPE on restore.
  # --ignore-failed-read (warn mode): a file that vanishes or cannot be opened after it was listed is a
  # warning, as in restic; the listing after the read then differs and the unit is read again.
  local -a tar_args=(--create --file=- --format=posix --numeric-owner --sparse
    --directory="${resolved}" --no-recursion --null --verbatim-files-from --files-from="${members}")
  [[ "${ON_UNREADABLE}" == warn ]] && tar_args+=(--ignore-failed-read)
  if ((UNIT_DETACH && attempt == 1)) && store_upload_is_local; then
    # A small first read (one zstd thread) is written in the background while the next unit is read,
    # so that both cores compress; upload_unit hands the upload over, reap_oldest_unit settles it. No
    # progress records from inside it: two tars would interleave them (and 32 MiB is never reached).
    # zstd is a child of this shell (the writer, $!); tar's status comes through a file.
    local tar_rc_file="${SCRATCH}/tar.rc.${i}"
    {
      detached_tar_rc=0
      timeout -k 10 "${UNIT_TIMEOUT_S}" tar "${tar_args[@]}" 2>"${SCRATCH}/tar.err.${i}" || detached_tar_rc=$?
      printf '%s\n' "${detached_tar_rc}" >"${tar_rc_file}"
    } | zstd -q --single-thread "${UNIT_LEVEL_ARG}" >&"${STORE_UPLOAD_FD}" &
    UNIT_WRITER_PID=$!
    UNIT_DETACHED=1
    UNIT_TAR_RC=0
    UNIT_UNSTABLE=0
    UNIT_DEFERRED=1
    return 0
  fi
  tar_progress_args backup "${U_ID[i]}" "${PROGRESS_UNITS_DONE}" "${#U_ID[@]}" "${PROGRESS_BYTES_DONE}" "${BYTES_TO_READ}" "${UNIT_SBYTES}"
  tar_args+=("${TAR_PROGRESS_ARGS[@]+"${TAR_PROGRESS_ARGS[@]}"}")
  local -a pipe_status=()
  # Below one zstd job (8 MiB at level 3) worker threads add start-up and wait for the whole input;
  # zstd compresses in its own thread instead, as tar's output arrives.
  local threads=-T0
  ((UNIT_SBYTES >= ZSTD_JOB_BYTES)) || threads=--single-thread
  if store_upload_is_local; then
    # zstd writes straight into the destination file; its digest is read back from that file below.
    {
      timeout -k 10 "${UNIT_TIMEOUT_S}" tar "${tar_args[@]}" 2>"${SCRATCH}/tar.err" |
        zstd -q "${threads}" "${UNIT_LEVEL_ARG}" >&"${STORE_UPLOAD_FD}"
      pipe_status=("${PIPESTATUS[@]}" 0)
    } || true
  else
    {
      timeout -k 10 "${UNIT_TIMEOUT_S}" tar "${tar_args[@]}" 2>"${SCRATCH}/tar.err" |
        zstd -q "${threads}" "${UNIT_LEVEL_ARG}" |
        digest_passthrough "${SCRATCH}/digest" "${SCRATCH}" >&"${STORE_UPLOAD_FD}"
      pipe_status=("${PIPESTATUS[@]}")
    } || true
  fi
  # tar exits 1 when a file changed while it was read: the archive is complete, the unit flagged.
  if ((pipe_status[0] > 1 || pipe_status[1] != 0 || pipe_status[2] != 0)); then
    store_upload_abort
    log "error: archiving unit ${rel} of ${src} failed (tar ${pipe_status[0]}, zstd ${pipe_status[1]}, writer ${pipe_status[2]})$(
      [[ -s "${SCRATCH}/tar.err" ]] && printf ': %s' "$(head -c 300 "${SCRATCH}/tar.err" | tr '\n' ' ')"
    )"
    return 1
  fi
  UNIT_TAR_RC="${pipe_status[0]}"
  UNIT_UNSTABLE=0
  UNIT_DEFERRED=0
  if ((attempt == 1 && READ_ATTEMPTS > 1 && UNIT_TAR_RC == 0)); then
    # A first read tar saw no change in: listed again with every other unit once all are read
    # (check_units_again), one pass for all of them instead of processes per unit.
    UNIT_DEFERRED=1
    return 0
  fi
  # The listing again, now that tar is done: what tar wrote matches it only if nothing moved meanwhile.
  local after="${SCRATCH}/after.${i}.${attempt}" m="" same=0 before_rec="" after_rec=""
  if [[ "${U_GROUP[i]}" != "${U_NUM[i]}" ]]; then
    # A large file on its own: its one listing record, compared in the shell (one process).
    IFS= read -r -d '' before_rec <"${UNIT_BEFORE}" || true
    IFS= read -r -d '' after_rec < <(file_listing_records "${resolved}" "./${rel}" 2>/dev/null) || after_rec=""
    [[ -n "${before_rec}" && "${after_rec}" == "${before_rec}" ]] && same=1
    if ((same == 0)); then
      local size_now="${after_rec#*$'\t'}"
      m="?"
      UNIT_CHANGE="listed ${UNIT_FILES} entries, ${UNIT_SBYTES} bytes before the read, 1 entry, ${size_now%%$'\t'*} bytes after"
    fi
  else
    split_tree_reset "${after}"
    if split_tree "${resolved}" "./${rel}" "${after}" 0 "${src}" 2>/dev/null; then
      table_unit "${after}" "${rel}"
      m="${TABLE_UNIT}"
    fi
    [[ -n "${m}" ]] && cmp -s -- "${UNIT_BEFORE}" "${after}/u/${m}.ls" && same=1
  fi
  if ((same == 0)) && [[ "${m}" == "?" ]]; then
    UNIT_UNSTABLE=1
  elif ((same == 0)); then
    UNIT_UNSTABLE=1
    local after_files="?" after_bytes="?"
    [[ -n "${m}" ]] && IFS=$'\t' read -r after_files after_bytes < <(listing_counts "${after}/u/${m}.ls")
    UNIT_CHANGE="listed ${UNIT_FILES} entries, ${UNIT_SBYTES} bytes before the read, ${after_files} entries, ${after_bytes} bytes after"
  elif ((UNIT_TAR_RC == 1)) && grep -q 'changed as we read it\|shrank by' "${SCRATCH}/tar.err"; then
    UNIT_UNSTABLE=1
    UNIT_CHANGE="tar: $(head -n 1 "${SCRATCH}/tar.err" | head -c 200)"
  fi
  return 0
}

#######################################
# Sets UNIT_LISTING, UNIT_FILES, UNIT_SBYTES from a stored archive: extracted into a scratch dir in
# the state dir (as restore would), listed, removed. Arguments: key, unit path, its bytes (space check).
#######################################
listing_from_archive() {
  local key="$1" rel="$2" need="$3" dir free out
  dir="$(mktemp -d "${STATE}/backup-verify.XXXXXX")" || return 1
  free_bytes_to free "${dir}"
  if [[ "${free}" =~ ^[0-9]+$ ]] && ((free < need + need / 10 + 1048576)); then
    log "error: not enough space in ${STATE} to list the archive of ${rel} ($(human_bytes "${need}") needed)"
    rm -rf -- "${dir}"
    return 1
  fi
  local local_file
  local_file="$(store_local_file "backups/${HOST_KEY}/${key}")"
  if { if [[ -n "${local_file}" ]]; then timeout -k 5 "${STORE_TRANSFER_TIMEOUT_S}" cat -- "${local_file}"; else store_get "backups/${HOST_KEY}/${key}" "${STORE_TRANSFER_TIMEOUT_S}"; fi; } | zstd -d -q -c |
    tar --extract "${TAR_READ_ARGS[@]}" --file=- --directory="${dir}" --numeric-owner --preserve-permissions 2>"${SCRATCH}/verify.err" &&
    out="$(unit_listing "${dir}" "${rel}" "${SCRATCH}/listing.archive" "${SCAN_TIMEOUT_S}")" && [[ -n "${out}" ]]; then
    IFS=$'\t' read -r UNIT_LISTING UNIT_FILES UNIT_SBYTES <<<"${out}"
    rm -rf -- "${dir}"
    return 0
  fi
  log "error: $(head -c 300 "${SCRATCH}/verify.err" | tr '\n' ' ')"
  rm -rf -- "${dir}"
  return 1
}

# Appends a unit's manifest line.
add_unit_line() {
  local i="$1" key="$2" sha="$3" bytes="$4" entries="$5" sbytes="$6" listing_sum="$7" uploaded="$8" src_json rel_json rel_b64
  json_string_to src_json "${U_SRC[i]}"
  json_string_to rel_json "${U_REL[i]}"
  # The same fingerprint lists the same paths: the previous manifest's encoding of this unit's path.
  local previous="${PREVIOUS_PATH_B64[${U_ID[i]}]:-}"
  if [[ -n "${previous}" && "${previous%%$'\t'*}" == "${U_FP[i]}" ]]; then
    rel_b64="${previous#*$'\t'}"
  else
    base64_to rel_b64 "${U_REL[i]}"
  fi
  printf -v "UNIT_LINES[${#UNIT_LINES[@]}]" '{"id":"%s","fingerprint":"%s","key":"%s","sha256":"%s","bytes":%s,"files":%s,"sourceBytes":%s,"listing":"%s","uploaded":%s,"source":%s,"pathBase64":"%s","path":%s}' \
    "${U_ID[i]}" "${U_FP[i]}" "${key}" "${sha}" "${bytes}" "${entries}" "${sbytes}" "${listing_sum}" "${uploaded}" \
    "${src_json}" "${rel_b64}" "${rel_json}"
}

#######################################
# Waits for the digests still being computed and records every archive this run sent in the
# carry-over file, so that a later run can reuse them even if this one fails.
# Returns: non-zero when a digest could not be computed.
#######################################
finish_uploads() {
  local i rc=0
  digest_small_archives || rc=1
  ((DIGEST_FAILED == 0)) || rc=1
  for i in "${!A_DIGEST_PID[@]}"; do
    if wait "${A_DIGEST_PID[i]}" && read -r "A_SHA[${i}]" "A_BYTES[${i}]" <"${SCRATCH}/digest.${i}" && [[ -n "${A_SHA[i]}" ]]; then
      :
    else
      log "error: cannot compute the sha256 of $(store_url "backups/${HOST_KEY}/${A_KEY[i]}")"
      A_SHA[i]=""
      rc=1
    fi
    unset 'A_DIGEST_PID[i]'
  done
  for i in "${!A_UPLOADED[@]}"; do
    [[ "${A_UPLOADED[i]}" == true && -n "${A_SHA[i]:-}" && -z "${A_CARRIED[i]:-}" ]] || continue
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${HOST_KEY}" "${U_ID[i]}" "${A_ORIGINAL_FP[i]}" "${A_KEY[i]}" "${A_SHA[i]}" \
      "${A_BYTES[i]}" "${A_FILES[i]}" "${A_SBYTES[i]}" "${A_LISTING[i]}" >>"${STATE}/backup-carry-over.tsv"
    A_CARRIED[i]=1
  done
  return "${rc}"
}
A_CARRIED=()

#######################################
# Hashes the small archives written since the last call (A_DIGEST_BATCH: file://, or staged for
# s3:// before their batch is sent), with one process for all of them, and waits for the result.
# Returns: non-zero when a digest could not be computed.
#######################################
digest_small_archives() {
  local rc=0
  digest_small_archives_start || rc=1
  digest_small_archives_collect || rc=1
  return "${rc}"
}

# The small archives being hashed in the background: their units (in the order of the output), the
# process, and the units read again meanwhile (their result is dropped: forget_digest).
DIGEST_UNITS=()
DIGEST_PID=""
declare -A DIGEST_STALE=()
# Set when a hashing failed, whichever call collected it; finish_uploads then fails.
DIGEST_FAILED=0

#######################################
# Starts hashing the small archives written since the last call in the background (after collecting
# the hashing still running), so that it overlaps other work; digest_small_archives_collect waits.
# Returns: non-zero when the hashing collected first failed.
#######################################
digest_small_archives_start() {
  local i rc=0
  local -a files=()
  [[ -z "${DIGEST_PID}" ]] || digest_small_archives_collect || rc=1
  ((${#A_DIGEST_BATCH[@]} > 0)) || return "${rc}"
  for i in "${A_DIGEST_BATCH[@]}"; do
    store_local_file_set "backups/${HOST_KEY}/${A_KEY[i]}"
    files+=("${STORE_LOCAL_FILE}")
  done
  store_files_digest "${files[@]}" >"${SCRATCH}/digests" &
  DIGEST_PID=$!
  DIGEST_UNITS=("${A_DIGEST_BATCH[@]}")
  A_DIGEST_BATCH=()
  return "${rc}"
}

#######################################
# Waits for the hashing digest_small_archives_start started and records each digest in A_SHA and
# A_BYTES (an empty A_SHA when it failed). Returns: non-zero when a digest could not be computed.
#######################################
digest_small_archives_collect() {
  [[ -n "${DIGEST_PID}" ]] || return 0
  local i line k=0 rc=0
  local -a sums=()
  wait "${DIGEST_PID}" || rc=1
  DIGEST_PID=""
  if ((rc == 0)); then
    mapfile -t sums <"${SCRATCH}/digests" || rc=1
    ((${#sums[@]} == ${#DIGEST_UNITS[@]})) || rc=1
  fi
  for i in "${DIGEST_UNITS[@]}"; do
    if [[ -n "${DIGEST_STALE[${i}]:-}" ]]; then
      :
    elif ((rc == 0)); then
      line="${sums[k]}"
      A_SHA[i]="${line%% *}"
      A_BYTES[i]="${line#* }"
    else
      A_SHA[i]=""
    fi
    k=$((k + 1))
  done
  if ((rc != 0)); then
    DIGEST_FAILED=1
    log "error: cannot compute the sha256 of the archives written for $(store_url "backups/${HOST_KEY}/units/")"
  fi
  DIGEST_UNITS=()
  DIGEST_STALE=()
  return "${rc}"
}

# Sets ARCHIVE_BOUND to an upper bound of a unit's archive size (S3 part sizing, staging): its
# bytes, tar headers, and zstd's tiny expansion of incompressible data.
# Arguments: regular-file bytes, entries.
ARCHIVE_BOUND=0
archive_bytes_bound() {
  ARCHIVE_BOUND=$(($1 + $1 / 64 + $2 * 2048 + 1048576))
}

#######################################
# Writes the manifest of snapshot SNAPSHOT_ID: the last write of a backup.
#######################################
write_manifest() {
  local created_at="$1" file="${SCRATCH}/manifest.json" i first=1 s
  {
    printf '{"format":"%s","version":%s,"id":"%s","sequence":%s,"host":%s,"hostKey":"%s","createdAt":"%s","completedAt":"%s",' \
      "${MANIFEST_FORMAT}" "${MANIFEST_VERSION}" "${SNAPSHOT_ID}" "${SNAPSHOT_SEQUENCE}" "$(json_string "${HOST}")" "${HOST_KEY}" \
      "${created_at}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf '"unitDepth":%s,"compression":"zstd","sources":[' "${UNIT_DEPTH}"
    for s in "${SOURCES[@]}"; do
      ((first)) || printf ','
      first=0
      json_string "${s}"
    done
    printf '],"exclude":['
    first=1
    for s in "${EXCLUDES[@]+"${EXCLUDES[@]}"}"; do
      ((first)) || printf ','
      first=0
      json_string "${s}"
    done
    printf '],"units":[\n'
    local last=$((${#UNIT_LINES[@]} - 1))
    for ((i = 0; i < last; i++)); do
      printf '%s,\n' "${UNIT_LINES[i]}"
    done
    ((last < 0)) || printf '%s\n' "${UNIT_LINES[last]}"
    printf ']}\n'
  } >"${file}" || return 1
  store_put_file "${file}" "backups/${HOST_KEY}/snapshots/${SNAPSHOT_ID}.json"
}

#######################################
# Warns when this host's clock and the previous snapshot's date disagree by more than the tolerance
# the audit allows (15 min): the previous snapshot is dated ahead of now, so one of the two clocks
# was wrong. Ordering is by sequence either way; the warning makes the operator look at NTP.
#######################################
CLOCK_SKEW_TOLERANCE_S=900
SNAPSHOT_SEQUENCE=0
check_clock() {
  [[ -n "${PREVIOUS_ID}" ]] || return 0
  local prev_s now_s
  prev_s="$(date -u -d "$(snapshot_iso "${PREVIOUS_ID}")" +%s 2>/dev/null)" || return 0
  now_s="$(date -u +%s)"
  if ((prev_s > now_s + CLOCK_SKEW_TOLERANCE_S)); then
    WARNINGS+=("previous snapshot ${PREVIOUS_ID} is dated $(((prev_s - now_s) / 3600)) h after this host's clock ($(date -u +%Y-%m-%dT%H:%M:%SZ)): a clock was wrong (check NTP); snapshots are ordered by sequence")
    log "warning: ${WARNINGS[-1]}"
  fi
}

# Seconds since the run started.
elapsed_seconds() {
  elapsed_since "${START_S}"
}

#######################################
# Prints the result section and ends the result.
# Arguments: status, error message (may be empty), missing sources (comma-separated).
#######################################
report() {
  local status="$1" error="$2" missing="$3" previous_at=""
  [[ -n "${PREVIOUS_ID}" ]] && previous_at="$(snapshot_iso "${PREVIOUS_ID}")"
  local IFS=','
  kv_section backup \
    "status=${status}" \
    "snapshot=$([[ "${status}" == ok ]] && printf '%s' "${SNAPSHOT_ID}")" \
    "host_key=${HOST_KEY}" \
    "destination=$(store_url "backups/${HOST_KEY}/")" \
    "sources=${SOURCES[*]}" \
    "sources_missing=${missing}" \
    "units_total=${#U_ID[@]}" \
    "units_uploaded=${UNITS_UPLOADED}" \
    "units_reused=${UNITS_REUSED}" \
    "files=${FILES_TOTAL}" \
    "bytes_read=${BYTES_READ}" \
    "bytes_uploaded=${BYTES_UPLOADED}" \
    "duration_seconds=$(elapsed_seconds)" \
    "previous_snapshot=${PREVIOUS_ID}" \
    "previous_snapshot_at=${previous_at}" \
    "warnings=${#WARNINGS[@]}" \
    "warning=${WARNINGS[0]:-}" \
    "error=${error}"
  result_end
}

# Why the run failed when a batch of archives could not be stored (no single unit is to blame).
ARCHIVES_FAILURE=""
archives_not_stored() {
  ARCHIVES_FAILURE="cannot store the archives under $(store_url "backups/${HOST_KEY}/units/")"
}

#######################################
# Ends a run whose upload of a unit failed: the units read so far whose listing did not change are
# recorded for the next run (finish_uploads), then the failure is reported. Does not return.
# Arguments: unit index, missing sources (comma-separated).
#######################################
upload_failed() {
  local i="${DETACH_FAILED_UNIT:-$1}" j
  abort_detached_units
  confirm_pending_units || true
  for j in "${!A_UPLOADED[@]}"; do
    [[ "${A_UPLOADED[j]}" != true ]] || finish_unit "${j}"
  done
  finish_uploads || true
  report failed "${ARCHIVES_FAILURE:-upload of unit ${U_SRC[i]}/${U_REL[i]} failed}; no snapshot written, previous snapshot ${PREVIOUS_ID:-(none)} intact" "$2"
  exit 1
}

main() {
  read_config
  host_id -v HOST
  STATE="$(state_dir)"
  store_init "${DESTINATION}"
  ensure_result_tmp_dir
  SCRATCH="${RESULT_TMP_DIR}"

  # The lock comes first: a second run must exit before it reads or writes anything.
  local lock_fd
  exec {lock_fd}>>"${STATE}/backup.lock" || die "cannot open lock ${STATE}/backup.lock"
  if ! flock -n "${lock_fd}"; then
    log "error: another backup is already running on this host (lock ${STATE}/backup.lock)"
    result_begin backup "${HOST}"
    kv_section backup status=busy "error=already running: another backup holds ${STATE}/backup.lock"
    result_end
    # Not a failure of this host: the running backup reports for itself (backup.run warning).
    exit 0
  fi
  log "backup started (lock ${STATE}/backup.lock held)"
  START_S="$(monotonic_seconds)"
  local created_at
  created_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  result_begin backup "${HOST}"

  if ! HOST_KEY="$(backup_host_key)"; then
    report failed "cannot determine the backup host key" ""
    exit 1
  fi
  if ! store_confirm_client "backups/${HOST_KEY}/"; then
    report failed "${STORE_CLIENT_ERROR}" ""
    exit 1
  fi
  local missing
  store_stage_init "${STATE}" "${S3_BATCH_BYTES}"
  start_listing
  [[ "${STORE_KIND}" != s3 ]] || set_manifest_cache
  foresee_snapshot_id
  if ! scan_units; then
    report failed "cannot read the units of ${SOURCES[*]}" "$(
      IFS=','
      printf '%s' "${MISSING_SOURCES[*]}"
    )"
    exit 1
  fi
  missing="$(
    IFS=','
    printf '%s' "${MISSING_SOURCES[*]}"
  )"
  if ((${#U_ID[@]} == 0)); then
    local why
    if ((${#MISSING_SOURCES[@]} == ${#SOURCES[@]})); then
      why="${missing//,/, } does not exist (backup.sources)"
    else
      why="no entries under ${SOURCES[*]}${missing:+ (${missing//,/, } does not exist)}"
    fi
    log "nothing to back up: ${why}"
    report empty "nothing to back up: ${why}" "${missing}"
    exit 0
  fi
  if ! load_reusable; then
    report failed "cannot list $(store_url "backups/${HOST_KEY}/")" "${missing}"
    exit 1
  fi

  use_snapshot_id
  check_clock

  # Fingerprints decide what is reused and how much must be read.
  local i reuse fp
  for i in "${!U_ID[@]}"; do
    reuse="${REUSABLE[${U_ID[i]}]:-}"
    if [[ -n "${reuse}" && "${reuse%%$'\t'*}" == "${U_FP[i]}" ]]; then
      U_REUSE[i]=1
    else
      U_REUSE[i]=0
      BYTES_TO_READ=$((BYTES_TO_READ + U_BYTES[i]))
    fi
  done
  progress 0 "${#U_ID[@]}"
  # The first unit to read has its zstd level chosen while the units to read are listed.
  for i in "${!U_ID[@]}"; do
    ((U_REUSE[i] == 1)) || {
      start_level_choice "${i}"
      break
    }
  done
  # The folders of the archives to write, made at once (file://): no process per unit.
  local -a folders=() read_units=()
  for i in "${!U_ID[@]}"; do ((U_REUSE[i] == 1)) || read_units+=("${i}"); done
  if ! unit_read_files "${read_units[@]+"${read_units[@]}"}"; then
    report failed "cannot list the units to read; no snapshot written, previous snapshot ${PREVIOUS_ID:-(none)} intact" "${missing}"
    exit 1
  fi
  for i in "${!U_ID[@]}"; do ((U_REUSE[i] == 1)) || folders+=("backups/${HOST_KEY}/units/${U_ID[i]}"); done
  ((${#folders[@]} == 0)) || store_make_folders "${folders[@]}"

  for i in "${!U_ID[@]}"; do
    if ((U_REUSE[i] == 1)); then
      IFS=$'\t' read -r _ "A_KEY[${i}]" "A_SHA[${i}]" "A_BYTES[${i}]" "A_FILES[${i}]" "A_SBYTES[${i}]" "A_LISTING[${i}]" <<<"${REUSABLE[${U_ID[i]}]}"
      A_UPLOADED[i]=false
      UNITS_REUSED=$((UNITS_REUSED + 1))
    else
      PROGRESS_UNITS_DONE="${i}" PROGRESS_BYTES_DONE="${BYTES_READ}"
      upload_unit "${i}" || upload_failed "${i}" "${missing}"
      UNITS_UPLOADED=$((UNITS_UPLOADED + 1))
      BYTES_READ=$((BYTES_READ + A_SBYTES[i]))
    fi
    progress $((i + 1)) "${#U_ID[@]}" "${U_ID[i]}"
  done
  reap_all_units || upload_failed "${i}" "${missing}"
  # The manifest's upload starts while the last archives are checked and sent (see foresee_snapshot_id).
  [[ -n "${STORE_PUT_KEY}" ]] || store_put_prepare "backups/${HOST_KEY}/snapshots/${SNAPSHOT_ID}.json" "${SCRATCH}"
  # The small archives are fsynced and hashed while every unit read is listed again.
  store_sync_start
  if store_stage_filled; then
    # s3://: the last staged batch goes up meanwhile too, once the hashing of each of its archives has
    # started (their paths name this batch's folder; a hashing that failed is kept in DIGEST_FAILED,
    # which fails finish_uploads). A unit read again below goes into the next batch, which store_flush
    # sends after it (the same key: its new archive replaces the first).
    digest_small_archives_start || true
    if ! store_stage_send; then
      archives_not_stored
      report failed "${ARCHIVES_FAILURE}; no snapshot written, previous snapshot ${PREVIOUS_ID:-(none)} intact" "${missing}"
      exit 1
    fi
  elif [[ -z "${DIGEST_PID}" ]]; then
    digest_small_archives_start
  fi
  # Every unit read is listed again at once; those that changed since the scan are read again.
  confirm_pending_units
  local before_bytes
  for i in "${CHANGED_UNITS[@]+"${CHANGED_UNITS[@]}"}"; do
    log "unit ${U_REL[i]} of ${U_SRC[i]} changed while it was read (${A_CHANGE[i]}); reading it again (attempt 2 of ${READ_ATTEMPTS})"
    before_bytes="${A_SBYTES[i]}"
    PROGRESS_UNITS_DONE=$((${#U_ID[@]} - 1)) PROGRESS_BYTES_DONE=$((BYTES_READ - before_bytes))
    upload_unit "${i}" 2 || upload_failed "${i}" "${missing}"
    BYTES_READ=$((BYTES_READ + A_SBYTES[i] - before_bytes))
  done
  ((${#CHANGED_UNITS[@]} == 0)) || progress "${#U_ID[@]}" "${#U_ID[@]}" "${U_ID[CHANGED_UNITS[-1]]}"
  for i in "${!U_ID[@]}"; do
    FILES_TOTAL=$((FILES_TOTAL + A_FILES[i]))
    [[ "${A_UPLOADED[i]}" != true ]] || finish_unit "${i}"
  done
  if ! finish_uploads; then
    report failed "cannot verify the archives written; no snapshot written, previous snapshot ${PREVIOUS_ID:-(none)} intact" "${missing}"
    exit 1
  fi
  for i in "${!U_ID[@]}"; do
    [[ "${A_UPLOADED[i]}" == true ]] && BYTES_UPLOADED=$((BYTES_UPLOADED + A_BYTES[i]))
    add_unit_line "${i}" "${A_KEY[i]}" "${A_SHA[i]}" "${A_BYTES[i]}" "${A_FILES[i]}" "${A_SBYTES[i]}" "${A_LISTING[i]}" "${A_UPLOADED[i]}"
  done

  if ! store_flush; then
    archives_not_stored
    report failed "${ARCHIVES_FAILURE}; no snapshot written, previous snapshot ${PREVIOUS_ID:-(none)} intact" "${missing}"
    exit 1
  fi
  if ! write_manifest "${created_at}"; then
    report failed "cannot write manifest $(store_url "backups/${HOST_KEY}/snapshots/${SNAPSHOT_ID}.json")" "${missing}"
    exit 1
  fi
  [[ ! -e "${STATE}/backup-carry-over.tsv" ]] || rm -f -- "${STATE}/backup-carry-over.tsv"
  [[ -z "${MANIFEST_CACHE}" ]] || cp -- "${SCRATCH}/manifest.json" "${MANIFEST_CACHE}" 2>/dev/null || true
  log "snapshot ${SNAPSHOT_ID}: ${#U_ID[@]} units (${UNITS_UPLOADED} uploaded, ${UNITS_REUSED} reused), $(human_bytes "${BYTES_UPLOADED}") sent"
  report ok "" "${missing}"
}

main "$@"
