#!/usr/bin/env bash
#
# Runs the whole test suite (vitest: TypeScript units, real-bash script tests, CDK templates) and
# ends with the plain line "N passed, N failed" that CI reads, after "faults: N survived of M" for the
# fault suite (test/faults/).
# Usage: npm test [-- vitest args]
# Exit: vitest's status (0 when every test passed).

set -euo pipefail

RESULTS_DIR=""

main() {
  local root rc=0
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  RESULTS_DIR="$(mktemp -d)"
  trap 'rm -rf -- "${RESULTS_DIR}"' EXIT
  cd "${root}"
  export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
  npx vitest run --reporter=default --reporter=json --outputFile.json="${RESULTS_DIR}/vitest.json" "$@" || rc=$?
  if [[ -s "${RESULTS_DIR}/vitest.json" ]]; then
    # shellcheck disable=SC2016 # the single-quoted text is JavaScript, not shell
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const skipped = r.numPendingTests + r.numTodoTests;
      const faults = r.testResults.filter((f) => /[\\/]test[\\/]faults[\\/]/.test(f.name)).flatMap((f) => f.assertionResults).filter((t) => t.status === "passed" || t.status === "failed");
      if (faults.length) console.log(`faults: ${faults.filter((t) => t.status === "passed").length} survived of ${faults.length}`);
      console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
    ' "${RESULTS_DIR}/vitest.json"
  else
    echo "0 passed, 1 failed"
    [[ "${rc}" -ne 0 ]] || rc=1
  fi
  return "${rc}"
}

main "$@"
