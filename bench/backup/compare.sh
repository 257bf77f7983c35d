#!/usr/bin/env bash
#
# Backup comparison: gpu-maint against restic and borg (the anchors) and against the plain tools (the
# limits), on generated corpora, runs interleaved (each run times every tool once, in a rotating order),
# medians printed as one table with each gpu-maint figure's ratio to the best anchor.
#   weights        fp16-like weights (generate-corpus.ts), file:// / a local repository, first run
#   weights-rerun  the same, unchanged
#   partial        one shard of a 4-shard model rewritten (bytes sent: what each tool reports it added)
#   restore        restore of the weights snapshot into an empty directory (gpu-maint verifies every archive)
#   small          many small files (generate-small-files.ts), first run, then unchanged rerun
#   small-restore  restore of the small-files snapshot into an empty directory
#   s3, s3-rerun   weights to an S3-protocol server on 127.0.0.1 (s3rver from node_modules; restic's s3 backend)
#   s3-small       the small files to the same server, first run (limit: one tar | zstd stream, one upload)
#   (with s3 rows) the AWS CLI alone: gpu-maint's archives of the file:// rows sent by one
#                  `aws s3 cp --recursive`, and a rerun's listing and manifest put at once (limits)
# restic and borg are installed from Debian when missing (apt-get; they are never needed by gpu-maint).
# borg runs unencrypted (--encryption=none, its fastest mode); restic always encrypts.
# Everything lives in bench/.work/backup-compare.
#
# Usage: bash bench/backup/compare.sh [--weights-mib 512] [--small-files 40000] [--small-dirs 400]
#          [--runs 3]
#          [--rows weights,weights-rerun,partial,restore,small,small-rerun,small-restore,s3,s3-rerun,s3-small]
# Exit: 0 when every command ran; non-zero when one failed or a tool is missing.

set -euo pipefail

WEIGHTS_MIB=512
SMALL_FILES=40000
SMALL_DIRS=400
RUNS=3
ROWS="weights,weights-rerun,partial,restore,small,small-rerun,small-restore,s3,s3-rerun,s3-small"
ROOT=""
WORK=""
TIMES=""
S3_PID=""
S3_PORT=""
readonly BUCKET="bench"
export RESTIC_PASSWORD="bench"
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
# s3rver's fixed credentials; no real AWS is reached.
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

log() { echo "bench: $*" >&2; }
die() {
  log "$*"
  exit 1
}

parse_args() {
  while (($# > 0)); do
    case "$1" in
    --weights-mib) WEIGHTS_MIB="$2" ;;
    --small-files) SMALL_FILES="$2" ;;
    --small-dirs) SMALL_DIRS="$2" ;;
    --runs) RUNS="$2" ;;
    --rows) ROWS="$2" ;;
    *) die "unknown argument '$1' (see the header of $0)" ;;
    esac
    shift 2 || die "$1 needs a value"
  done
  local n
  for n in "${WEIGHTS_MIB}" "${SMALL_FILES}" "${SMALL_DIRS}" "${RUNS}"; do
    [[ "${n}" =~ ^[1-9][0-9]*$ ]] || die "sizes and runs must be positive integers, got: '${n}'"
  done
  ((WEIGHTS_MIB % 16 == 0)) || die "--weights-mib must be a multiple of 16 (4 models x 4 shards), got: ${WEIGHTS_MIB}"
}

want() { [[ ",${ROWS}," == *",$1,"* ]]; }

ensure_tools() {
  local missing=() tool
  command -v restic >/dev/null || missing+=(restic)
  command -v borg >/dev/null || missing+=(borgbackup)
  if ((${#missing[@]} > 0)); then
    log "installing ${missing[*]} from Debian"
    timeout 600 apt-get install -y --no-install-recommends "${missing[@]}" >&2 || die "cannot install ${missing[*]}"
  fi
  for tool in tar zstd jq node openssl restic borg /usr/bin/aws; do
    command -v "${tool}" >/dev/null || die "${tool} is needed"
  done
}

# Seconds since the epoch, with microseconds.
now() { printf '%s\n' "${EPOCHREALTIME}"; }

#######################################
# Times a command and appends `row<TAB>tool<TAB>seconds<TAB>extra` to TIMES.
# Arguments: row, tool, extra-command (prints the extra column after the run, or ""), command...
#######################################
timed() {
  local row="$1" tool="$2" extra_cmd="$3" start end extra=""
  shift 3
  start="$(now)"
  "$@" >"${WORK}/last.out" 2>"${WORK}/last.err" || {
    cat "${WORK}/last.err" >&2
    die "${row} / ${tool} failed: $*"
  }
  end="$(now)"
  [[ -n "${extra_cmd}" ]] && extra="$(${extra_cmd})"
  printf '%s\t%s\t%s\t%s\n' "${row}" "${tool}" "$(awk -v s="${start}" -v e="${end}" 'BEGIN { printf "%.3f", e - s }')" "${extra}" >>"${TIMES}"
  log "${row} / ${tool}: $(tail -n 1 "${TIMES}" | cut -f3-) "
}

# gpu-maint through its CLI, with a config per destination.
gm_config() {
  local name="$1" source="$2" destination="$3"
  printf '{"local":{"stateDir":"%s/gm-state-%s"},"backup":{"sources":["%s"],"exclude":[],"destination":"%s"%s}}\n' \
    "${WORK}" "${name}" "${source}" "${destination}" \
    "$([[ "${destination}" == s3://* ]] && printf ',"s3EndpointUrl":"https://127.0.0.1:%s"' "${S3_PORT}")" >"${WORK}/gm-${name}.json"
}
gm() {
  local name="$1"
  shift
  # /usr/bin/aws (AWS CLI v2) first: the scripts' S3 client.
  PATH="${WORK}/bin:${PATH}" node "${ROOT}/bin/gpu-maint.cjs" --config "${WORK}/gm-${name}.json" "$@"
}
gm_backup() { gm "$1" run backup --json; }
# Snapshot ids have a one-second resolution: a run waits for a new second, so the bench does it first.
gm_fresh_second() { sleep "0.$((1000000 - 10#${EPOCHREALTIME#*.}))" 2>/dev/null || sleep 1; }
gm_sent() { jq -r '.snapshot.bytesUploaded' "${WORK}/last.out"; }
gm_script_s() { jq -r '.snapshot.durationSeconds' "${WORK}/last.out"; }
gm_reset() { rm -rf "${WORK}/gm-state-$1" "${WORK}/gm-dest-$1"; }

restic_sent() { jq -rs 'map(select(.message_type == "summary"))[0].data_added' "${WORK}/last.out"; }
borg_sent() { jq -r '.archive.stats.deduplicated_size' "${WORK}/last.out"; }
restic_reset() {
  rm -rf "${WORK}/restic-$1"
  restic init --repo "${WORK}/restic-$1" >/dev/null
}
borg_reset() {
  rm -rf "${WORK}/borg-$1"
  borg init --encryption=none "${WORK}/borg-$1" >/dev/null
}
restic_backup() { (cd "$2" && restic backup --repo "${WORK}/restic-$1" --json --host bench .); }
borg_backup() { (cd "$2" && borg create --json "${WORK}/borg-$1::a-${EPOCHREALTIME/./-}" .); }
tar_sync() { tar -cf "${WORK}/plain.tar" -C "$1" . && sync "${WORK}/plain.tar"; }
tar_zstd_sync() { tar -cf - -C "$1" . | zstd -q -T0 >"${WORK}/plain.tar.zst" && sync "${WORK}/plain.tar.zst"; }

start_s3() {
  local data="${WORK}/s3rver"
  rm -rf "${data}"
  mkdir -p "${data}"
  S3_PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  # TLS: over plain HTTP restic's S3 client signs streamed chunks (aws-chunked), which s3rver stores
  # undecoded. Over TLS every client sends plain payloads; each one trusts this certificate.
  timeout 60 openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "${WORK}/s3.key" -out "${WORK}/s3.pem" 2>/dev/null || die "cannot make a certificate for s3rver"
  export AWS_CA_BUNDLE="${WORK}/s3.pem"
  # --openssl-legacy-provider: s3rver encrypts its continuation tokens with DES (OpenSSL 3 legacy).
  node --openssl-legacy-provider "${ROOT}/node_modules/s3rver/bin/s3rver.js" -d "${data}" -a 127.0.0.1 -p "${S3_PORT}" --silent \
    --key "${WORK}/s3.key" --cert "${WORK}/s3.pem" --configure-bucket "${BUCKET}" >"${WORK}/s3rver.log" 2>&1 &
  S3_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/${S3_PORT}" 2>/dev/null && return 0
    sleep 0.2
  done
  die "s3rver did not start: $(cat "${WORK}/s3rver.log")"
}
stop_s3() {
  if [[ -n "${S3_PID}" ]]; then
    kill "${S3_PID}" 2>/dev/null || true
    wait "${S3_PID}" 2>/dev/null || true
  fi
  S3_PID=""
  return 0
}
s3_raw() {
  local d
  for d in "$1"/*/; do
    tar -cf - -C "$1" "$(basename "${d}")" |
      timeout 600 /usr/bin/aws s3 cp --only-show-errors --endpoint-url "https://127.0.0.1:${S3_PORT}" - "s3://${BUCKET}/raw/$(basename "${d}").tar"
  done
}
s3_raw_stream() {
  tar -cf - -C "$1" . | zstd -q -T0 |
    timeout 600 /usr/bin/aws s3 cp --only-show-errors --endpoint-url "https://127.0.0.1:${S3_PORT}" - "s3://${BUCKET}/raw/small.tar.zst"
}
# The floor of any uploader built on the AWS CLI: the archives of gpu-maint's newest snapshot of a
# file:// destination (the weights or small-files rows), linked into one folder and sent by one
# `aws s3 cp --recursive`; and the two requests of an unchanged rerun (listing, manifest put), each
# an AWS CLI process, run at once. Arguments: run, destination name (w or s).
s3_cli_archives() {
  local r="$1" host_dir out="${WORK}/cli-archives-$2" key
  host_dir="$(find "${WORK}/gm-dest-$2/backups" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
  rm -rf "${out}"
  mkdir -p "${out}"
  jq -rs 'max_by(.sequence) | .units[].key' "${host_dir}"/snapshots/*.json | while IFS= read -r key; do
    mkdir -p "${out}/${key%/*}"
    ln "${host_dir}/${key}" "${out}/${key}"
  done
  timeout 600 /usr/bin/aws s3 cp --recursive --only-show-errors --no-progress --endpoint-url "https://127.0.0.1:${S3_PORT}" \
    "${out}" "s3://${BUCKET}/cli-$2-${r}/"
}
s3_cli_rerun() {
  local r="$1" manifest
  manifest="$(find "${WORK}/gm-dest-w/backups" -path '*/snapshots/*.json' | head -n 1)"
  timeout 600 /usr/bin/aws s3api list-objects-v2 --endpoint-url "https://127.0.0.1:${S3_PORT}" --bucket "${BUCKET}" \
    --prefix "gm-s3-${r}/" --query 'Contents[].[Size,Key]' --output text >/dev/null &
  timeout 600 /usr/bin/aws s3 cp --only-show-errors --endpoint-url "https://127.0.0.1:${S3_PORT}" "${manifest}" \
    "s3://${BUCKET}/cli-rerun-${r}.json"
  wait $!
}
# Times an AWS CLI floor (a limit) when the file:// row of a destination left its archives.
# Arguments: row, destination name (w or s), the limit's label, command...
time_s3_floor() {
  local row="$1" name="$2" label="$3"
  shift 3
  [[ -d "${WORK}/gm-dest-${name}/backups" ]] || return 0
  timed "${row}" "limit: ${label}" "" "$@"
}
restic_s3_reset() {
  RESTIC_S3_REPO="s3:https://127.0.0.1:${S3_PORT}/${BUCKET}/restic-$1"
  restic init --cacert "${WORK}/s3.pem" --repo "${RESTIC_S3_REPO}" >/dev/null
}
restic_s3_backup() { (cd "$1" && restic backup --cacert "${WORK}/s3.pem" --repo "${RESTIC_S3_REPO}" --json --host bench .); }

# The order of the tools in run r: rotated, so that no tool always runs first (or right after a write).
rotate() {
  local r="$1"
  shift
  local -a tools=("$@")
  local n="${#tools[@]}" k
  for ((k = 0; k < n; k++)); do printf '%s\n' "${tools[(k + r) % n]}"; done
}

#######################################
# Times an unchanged rerun of each tool, in run r's order: gpu-maint with config <name>, restic and
# borg with their repository <name> (local), restic-s3 with the S3 repository set by restic_s3_reset.
# Arguments: run, row, name, corpus, tools...
#######################################
time_reruns() {
  local r="$1" row="$2" name="$3" corpus="$4" tool
  shift 4
  for tool in $(rotate "${r}" "$@"); do
    case "${tool}" in
    gm)
      gm_fresh_second
      timed "${row}" gpu-maint gm_script_s gm_backup "${name}"
      ;;
    restic) timed "${row}" restic "" restic_backup "${name}" "${corpus}" ;;
    borg) timed "${row}" borg "" borg_backup "${name}" "${corpus}" ;;
    restic-s3) timed "${row}" restic "" restic_s3_backup "${corpus}" ;;
    esac
  done
}

run_weights() {
  local r="$1" corpus="$2" tool
  if want weights || want weights-rerun || want partial || want restore; then
    for tool in $(rotate "${r}" gm restic borg limit); do
      case "${tool}" in
      gm)
        gm_reset w
        gm_fresh_second
        timed weights gpu-maint gm_script_s gm_backup w
        ;;
      restic)
        restic_reset w
        timed weights restic "" restic_backup w "${corpus}"
        ;;
      borg)
        borg_reset w
        timed weights borg "" borg_backup w "${corpus}"
        ;;
      limit)
        rm -f "${WORK}/plain.tar"
        sync
        timed weights 'limit: tar -cf + sync' "" tar_sync "${corpus}"
        ;;
      esac
    done
  fi
  if want weights-rerun; then time_reruns "${r}" weights-rerun w "${corpus}" gm restic borg; fi
  if want restore; then time_restores "${r}" restore w "${corpus}"; fi
  if want partial; then
    # One 32 MiB shard (at 512 MiB) of model-1 rewritten; every tool backs up the same change.
    (cd "${ROOT}" && npx tsx bench/backup/generate-corpus.ts --rewrite "${corpus}/model-1/shard-2.safetensors" >/dev/null)
    for tool in $(rotate "${r}" gm restic borg); do
      case "${tool}" in
      gm)
        gm_fresh_second
        timed partial gpu-maint gm_sent gm_backup w
        ;;
      restic) timed partial restic restic_sent restic_backup w "${corpus}" ;;
      borg) timed partial borg borg_sent borg_backup w "${corpus}" ;;
      esac
    done
  fi
}

run_small() {
  local r="$1" corpus="$2" tool
  want small || want small-rerun || want small-restore || return 0
  for tool in $(rotate "${r}" gm restic borg limit); do
    case "${tool}" in
    gm)
      gm_reset s
      gm_fresh_second
      timed small gpu-maint gm_script_s gm_backup s
      ;;
    restic)
      restic_reset s
      timed small restic "" restic_backup s "${corpus}"
      ;;
    borg)
      borg_reset s
      timed small borg "" borg_backup s "${corpus}"
      ;;
    limit)
      rm -f "${WORK}/plain.tar.zst"
      sync
      timed small 'limit: tar | zstd -T0 + sync' "" tar_zstd_sync "${corpus}"
      ;;
    esac
  done
  if want small-rerun; then time_reruns "${r}" small-rerun s "${corpus}" gm restic borg; fi
  if want small-restore; then time_restores "${r}" small-restore s "${corpus}"; fi
}

#######################################
# Times a restore of the latest snapshot of each tool into an empty directory, in run r's order, and
# the limit: `zstd -d | tar -x` of one archive of the whole corpus (made once).
# Arguments: run, row, name (w or s: the tools' repositories of that corpus), corpus.
#######################################
time_restores() {
  local r="$1" row="$2" name="$3" corpus="$4" tool archive="${WORK}/limit-$3.tar.zst"
  for tool in $(rotate "${r}" gm restic borg limit); do
    rm -rf "${WORK}/restored"
    mkdir -p "${WORK}/restored"
    # Each restore starts with nothing left to write back from the one before.
    sync
    case "${tool}" in
    gm) timed "${row}" gpu-maint "" gm "${name}" restore --snapshot latest --to "${WORK}/restored" --json ;;
    restic) timed "${row}" restic "" restic restore --repo "${WORK}/restic-${name}" latest --target "${WORK}/restored" ;;
    borg)
      timed "${row}" borg "" bash -c \
        "cd '${WORK}/restored' && borg extract '${WORK}/borg-${name}::$(borg list --short --last 1 "${WORK}/borg-${name}")'"
      ;;
    limit)
      [[ -f "${archive}" ]] || tar -cf - -C "${corpus}" . | zstd -q -T0 >"${archive}"
      timed "${row}" 'limit: zstd -d | tar -x' "" bash -c "zstd -d -q -c '${archive}' | tar -xf - -C '${WORK}/restored'"
      ;;
    esac
  done
  rm -rf "${WORK}/restored"
}

#######################################
# Times a first backup to S3 of each tool, in run r's order: gpu-maint with config <name> and a
# fresh state dir, restic with a fresh repository, and the plain upload.
# Arguments: run, row, name, corpus, the limit's label, the limit's command.
#######################################
time_s3_first() {
  local r="$1" row="$2" name="$3" corpus="$4" limit_label="$5" limit_cmd="$6" tool
  for tool in $(rotate "${r}" gm restic limit); do
    case "${tool}" in
    gm)
      gm_config "${name}" "${corpus}" "s3://${BUCKET}/gm-${name}-${r}"
      rm -rf "${WORK}/gm-state-${name}"
      gm_fresh_second
      timed "${row}" gpu-maint gm_script_s gm_backup "${name}"
      ;;
    restic)
      restic_s3_reset "${name}-${r}"
      timed "${row}" restic "" restic_s3_backup "${corpus}"
      ;;
    limit) timed "${row}" "limit: ${limit_label}" "" "${limit_cmd}" "${corpus}" ;;
    esac
  done
}

run_s3() {
  local r="$1" corpus="$2"
  want s3 || want s3-rerun || return 0
  time_s3_first "${r}" s3 s3 "${corpus}" "4 x tar | aws s3 cp -" s3_raw
  time_s3_floor s3-cli w "aws s3 cp --recursive" s3_cli_archives "${r}" w
  want s3-rerun || return 0
  time_reruns "${r}" s3-rerun s3 "${corpus}" gm restic-s3
  time_s3_floor s3-rerun-cli w "listing and manifest put at once" s3_cli_rerun "${r}"
}

run_s3_small() {
  want s3-small || return 0
  time_s3_first "$1" s3-small s3s "$2" "tar | zstd -T0 | aws s3 cp -" s3_raw_stream
  time_s3_floor s3-small-cli s "aws s3 cp --recursive" s3_cli_archives "$1" s
}

# Prints the table: medians per row and tool, the ratio of gpu-maint to the best anchor, extras.
print_table() {
  echo
  echo "| work | gpu-maint | restic | borg | limit | gpu-maint / best anchor |"
  echo "|---|---|---|---|---|---|"
  awk -F'\t' '
    function median(list,    n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
      tool = $2 ~ /^limit/ ? "limit" : $2
      key = $1 SUBSEP tool
      t[key] = t[key] " " $3
      if ($4 != "") x[key] = x[key] " " $4
      if (tool == "limit") { lname[$1] = substr($2, 8); gsub(/\|/, "\\|", lname[$1]) }
      if (!($1 in seen)) { seen[$1] = 1; order[++rows] = $1 }
    }
    END {
      label["weights"] = "weights, first run"; label["weights-rerun"] = "weights, unchanged rerun"
      label["partial"] = "one shard rewritten (bytes sent)"; label["restore"] = "restore of the weights snapshot"
      label["small"] = "small files, first run"; label["small-rerun"] = "small files, unchanged rerun"
      label["small-restore"] = "restore of the small-files snapshot"
      label["s3"] = "weights to S3 (127.0.0.1), first run"; label["s3-rerun"] = "S3, unchanged rerun"
      label["s3-small"] = "small files to S3, first run"
      label["s3-cli"] = "AWS CLI alone: the same weights archives"; label["s3-rerun-cli"] = "AWS CLI alone: a rerun'"'"'s two requests"
      label["s3-small-cli"] = "AWS CLI alone: the same small-file archives"
      for (r = 1; r <= rows; r++) {
        row = order[r]; line = "| " label[row]; best = -1
        split("gpu-maint restic borg limit", tools, " ")
        for (k = 1; k <= 4; k++) {
          key = row SUBSEP tools[k]
          if (!(key in t)) { line = line " | -"; continue }
          m = median(t[key]); cell = sprintf("%.2f s", m)
          if (key in x) {
            if (row == "partial") cell = cell sprintf(", %.1f MB", median(x[key]) / 1e6)
            else cell = cell sprintf(" (script %.2f s)", median(x[key]))
          }
          if (tools[k] == "limit") cell = lname[row] " " cell
          line = line " | " cell
          if (tools[k] == "gpu-maint") g = m
          if ((tools[k] == "restic" || tools[k] == "borg") && (best < 0 || m < best)) best = m
        }
        line = line " | " (best > 0 && (row SUBSEP "gpu-maint") in t ? sprintf("%.2fx", g / best) : "-") " |"
        print line
      }
    }' "${TIMES}"
}

main() {
  parse_args "$@"
  ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  WORK="${ROOT}/bench/.work/backup-compare"
  mkdir -p "${WORK}/bin"
  ln -sf /usr/bin/aws "${WORK}/bin/aws"
  ensure_tools
  trap stop_s3 EXIT
  local weights="${WORK}/weights-${WEIGHTS_MIB}m" small="${WORK}/small-${SMALL_FILES}-${SMALL_DIRS}"
  # The partial row rewrites a shard: the corpus is regenerated whenever it runs.
  if [[ ! -d "${weights}" ]] || want partial; then
    rm -rf "${weights}"
    (cd "${ROOT}" && npx tsx bench/backup/generate-corpus.ts "${weights}" "${WEIGHTS_MIB}" >&2)
  fi
  if { want small || want small-rerun || want small-restore || want s3-small; } && [[ ! -d "${small}" ]]; then
    (cd "${ROOT}" && npx tsx bench/backup/generate-small-files.ts "${small}" "${SMALL_FILES}" "${SMALL_DIRS}" >&2)
  fi
  gm_config w "${weights}" "file://${WORK}/gm-dest-w"
  gm_config s "${small}" "file://${WORK}/gm-dest-s"
  if want s3 || want s3-rerun || want s3-small; then start_s3; fi
  TIMES="${WORK}/times.tsv"
  : >"${TIMES}"
  echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ { print $2 }') GiB), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "tools: $(restic version | cut -d' ' -f1-2), $(borg --version), $(zstd --version | sed 's/^\*\*\* //; s/, by.*//'), $(tar --version | head -1), $(/usr/bin/aws --version 2>&1 | cut -d' ' -f1), node $(node --version)"
  echo "corpora: weights $(du -sh --apparent-size "${weights}" | cut -f1) in $(find "${weights}" -type f | wc -l) files$(
    [[ -d "${small}" ]] && printf '; small files %s in %s files, %s dirs' "$(du -sh --apparent-size "${small}" | cut -f1)" "${SMALL_FILES}" "${SMALL_DIRS}"
  ); ${RUNS} interleaved runs, medians"
  local r
  for ((r = 0; r < RUNS; r++)); do
    log "run $((r + 1)) of ${RUNS}"
    run_weights "${r}" "${weights}"
    run_small "${r}" "${small}"
    run_s3 "${r}" "${weights}"
    run_s3_small "${r}" "${small}"
  done
  print_table
}

main "$@"
