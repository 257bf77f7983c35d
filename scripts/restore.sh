#!/usr/bin/env bash
#
# Restores a backup snapshot (all units or some) into a directory. Each archive is verified against
# the manifest (sha256, then the restored listing) in a staging directory inside the target before
# it is moved into place, so a bad archive never replaces anything.
#
# Usage: restore.sh   (configuration from environment variables)
#   GPU_MAINT_BACKUP_DESTINATION  file:///path or s3://bucket[/prefix] (required)
#   GPU_MAINT_S3_ENDPOINT_URL     endpoint of an S3-compatible store (optional)
#   GPU_MAINT_BACKUP_HOST_KEY     host (default) or aws-userid: this host's key (lib/backup-manifest.sh)
#   GPU_MAINT_RESTORE_HOST        host key whose snapshot is restored (default: this host's)
#   GPU_MAINT_RESTORE_SNAPSHOT    snapshot id or `latest` (default latest)
#   GPU_MAINT_RESTORE_UNITS       comma-separated unit ids or unit paths (default: every unit)
#   GPU_MAINT_RESTORE_TARGET      absolute directory to restore into (required). With one source the
#                                 target stands for the source; with several, each source's units
#                                 go below <target>/<source path>.
#   GPU_MAINT_RESTORE_FORCE       true: restore into a non-empty target, replacing entries of the
#                                 same name as restored units (default false)
# Output: the result contract with key=value sections `restore` and `restore-units`.
# Exit: 0 when every selected unit was restored and verified; 1 otherwise (a refused non-empty
#   target, a missing snapshot or unit, a failed download or verification, invalid configuration).

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
  restore_main restore
}

main "$@"
