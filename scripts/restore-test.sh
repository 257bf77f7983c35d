#!/usr/bin/env bash
#
# Weekly restore test: restores the newest snapshot of this host (or a random sample of its units
# that fits GPU_MAINT_RESTORE_TEST_MAX_BYTES) into a scratch directory one unit at a time, verifies
# each archive's sha256 and the restored listing against the manifest, and removes what it wrote.
#
# Usage: restore-test.sh   (configuration from environment variables)
#   GPU_MAINT_BACKUP_DESTINATION     file:///path or s3://bucket[/prefix] (required)
#   GPU_MAINT_S3_ENDPOINT_URL        endpoint of an S3-compatible store (optional)
#   GPU_MAINT_BACKUP_HOST_KEY        host (default) or aws-userid (lib/backup-manifest.sh)
#   GPU_MAINT_RESTORE_TEST_MAX_BYTES bound on archive plus restored bytes (default 10 GiB)
#   GPU_MAINT_RESTORE_SCRATCH_DIR    where the scratch dir is made (default: the state dir)
#   GPU_MAINT_STATE_DIR              state dir (default /var/lib/gpu-maint)
# Output: the result contract with key=value sections `restore-test` (status ok, failed or empty)
#   and `restore-test-units`.
# Exit: 0 when the test ran, whatever it found (a bad archive is a finding); 1 when it could not run.

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
# shellcheck source=lib/backup-restore.sh
source "${BASH_SOURCE[0]%/*}/lib/backup-restore.sh"

main() {
  restore_main restore-test
}

main "$@"
