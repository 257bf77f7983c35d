#!/usr/bin/env bash
#
# CLI start-up benchmark: times `gpu-maint --version`, `--help`, `run --help` and a whole
# `run gpu-check` (the fake nvidia-smi of test/fakes/bin in no-driver mode, so every host gives the
# same work) against `node -e ''`, with hyperfine, and prints each command's time over node's. Then
# what the launcher pays around the bundle: its staleness check per start, a start without the V8 code
# cache, and a start that rebuilds the bundle (the first after a source changed). Everything it writes
# lives in a temp dir, removed at exit.
# Usage: bash bench/cli/start.sh [runs = 30]
# Exit: 0 when every command ran; non-zero when one failed or a tool is missing.

set -euo pipefail

WORK=""

#######################################
# Removes the temp dir.
#######################################
cleanup() {
  [[ -z "${WORK}" ]] || rm -rf -- "${WORK}"
}

#######################################
# Prints, for each result of a hyperfine JSON export, its mean, its median and the mean over the
# first result's (`node -e ''`).
# Arguments: the JSON file.
#######################################
print_over_node() {
  # shellcheck disable=SC2016 # the single-quoted text is jq's program, not shell
  timeout 10 jq -r '
    .results[0].mean as $node
    | .results[]
    | "\(.command): mean \(.mean * 1000 | round) ms, median \(.median * 1000 | round) ms, user+sys \((.user + .system) * 1000 | round) ms, over node -e \u0027\u0027: \((.mean - $node) * 1000 | round) ms"
  ' "$1"
}

main() {
  local runs="${1:-30}" root cli
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  cli="${root}/bin/gpu-maint.cjs"
  for tool in hyperfine jq node; do
    command -v "${tool}" >/dev/null || {
      echo "bench: ${tool} is needed" >&2
      exit 1
    }
  done
  WORK="$(mktemp -d)"
  trap cleanup EXIT
  printf '{"local":{"stateDir":"%s/state"}}\n' "${WORK}" >"${WORK}/config.json"
  export PATH="${root}/test/fakes/bin:${PATH}" FAKE_NVSMI_MODE=no-driver GPU_MAINT_IMDS=off GPU_MAINT_HOST_ID=bench
  # The bundle of the current sources, and its code cache written by one start.
  timeout 300 node "${root}/bin/cli-bundle.cjs"
  timeout 60 node "${cli}" --help >/dev/null

  echo "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), node $(node --version), hyperfine $(hyperfine --version | cut -d' ' -f2)"
  timeout 1800 hyperfine -N --warmup 3 --runs "${runs}" --style basic --export-json "${WORK}/start.json" \
    "node -e ''" \
    "node ${cli} --version" \
    "node ${cli} --help" \
    "node ${cli} run --help" \
    "node ${cli} --config ${WORK}/config.json run gpu-check --json" >&2
  print_over_node "${WORK}/start.json"

  # The task script alone, as `run gpu-check` ran it: what the run's time over node is made of.
  local script
  script="$(find "${WORK}/state/scripts" -name 'gpu-check.*.sh' | head -1)"
  timeout 600 hyperfine -N --warmup 2 --runs "${runs}" --style basic --export-json "${WORK}/script.json" \
    "node -e ''" "env GPU_MAINT_STATE_DIR=${WORK}/state/host bash ${script}" >&2
  print_over_node "${WORK}/script.json"

  echo "launcher: the staleness check per start (mean of 200, ms):"
  timeout 60 node -e '
    const cliBundle = require(process.argv[1]);
    const text = cliBundle.readBundle();
    const started = process.hrtime.bigint();
    for (let i = 0; i < 200; i++) if (cliBundle.staleReason({ text })) throw new Error("the bundle is stale");
    console.log((Number(process.hrtime.bigint() - started) / 1e6 / 200).toFixed(2));
  ' "${root}/bin/cli-bundle.cjs"

  # A bundle of its own, so that removing it leaves the repository's alone.
  local bundle="${WORK}/bundle/main.cjs"
  GPU_MAINT_CLI_BUNDLE="${bundle}" timeout 300 node "${cli}" --version >/dev/null
  GPU_MAINT_CLI_BUNDLE="${bundle}" timeout 1800 hyperfine -N --warmup 1 --runs "$((runs < 10 ? runs : 10))" --style basic \
    --export-json "${WORK}/rebuild.json" \
    --prepare true "node -e ''" \
    --prepare "find ${WORK}/bundle -name '*.v8cache' -delete" "node ${cli} --help" \
    --prepare "rm -rf ${WORK}/bundle" "node ${cli} --help" >&2
  echo "(below: --help without the code cache, then --help that rebuilds the bundle first)"
  print_over_node "${WORK}/rebuild.json"
}

main "$@"
