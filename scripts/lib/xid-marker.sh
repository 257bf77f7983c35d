# shellcheck shell=bash
#
# The text every NVIDIA Xid kernel line carries ("NVRM: Xid (PCI:0000:2b:00): 79, ..."). gpu-check and
# gpu-watch keep the kernel lines that contain it and nothing else; lambda/core/gpu/xid.ts parses what they
# keep (parseXidLine requires this very text), so both read the kernel log by the same rule.
# Bundled into the scripts that source it (lambda/tasks/scripts.ts); never executed alone.

# shellcheck disable=SC2034 # read by the task scripts that source this lib
readonly XID_MARKER='NVRM: Xid'
