/**
 * Severity of each NVIDIA Xid code, decided by NVIDIA's recommended action for it.
 *
 * Source of the table: NVIDIA/NVSentinel `xiderrorsmapping.csv` (Apache-2.0), the Xid → resolution
 * mapping that NVIDIA's own GPU fault-remediation service uses (code, mnemonic, recommended action,
 * FATAL/NONFATAL), copied unchanged into test/fixtures/xid/nvsentinel-xiderrorsmapping.csv;
 * test/gpu/xid-catalog.test.ts checks this table against that file row by row. The action of Xid 154
 * ("Follow guidance as it applies to another Xid") is written FOLLOW_OTHER_XID here.
 *
 * On top of the table (docs/gpu-check.md explains each):
 * - the design notes' list: 13, 31, 43, 45, 68, 94 are usually application faults (at least a warning:
 *   the job died, the GPU is fine); 63 and 92 need a GPU reset at the next drain (warning); 48, 64, 74,
 *   79, 95, 119, 120 need a reset, reboot or replacement (critical);
 * - Xid 144-150 (NVLink5): the line itself says "Fatal" (critical) or "Nonfatal" (warning);
 * - Xid 154: follows the recovery action it changed *to* (None: ok, Drain P2P: warning, reset/reboot: critical);
 * - Xid 45 "... caused by previous Xid N": follows N; without that suffix it is a warning.
 */
import type { Severity } from '../types';

export type XidAction =
  | 'IGNORE'
  | 'RESTART_APP'
  | 'RESET_GPU'
  | 'RESTART_BM'
  | 'RESTART_VM'
  | 'CHECK_MECHANICALS'
  | 'CHECK_UVM'
  | 'UPDATE_SWFW'
  | 'UNEXPECTED_ERR_REPORT_ISSUE'
  | 'WORKFLOW_XID_45'
  | 'WORKFLOW_XID_48'
  | 'WORKFLOW_NVLINK_ERR'
  | 'WORKFLOW_NVLINK5_ERR'
  | 'FOLLOW_OTHER_XID';

export interface XidCatalogEntry {
  readonly code: number;
  /** NVIDIA's name for the error, e.g. ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS; empty when unnamed. */
  readonly mnemonic: string;
  /** NVIDIA's recommended action (resolution bucket). */
  readonly action: XidAction;
  /** NVIDIA's FATAL / NONFATAL classification. */
  readonly fatal: boolean;
}

// [code, mnemonic, recommended action, fatal] from NVIDIA/NVSentinel xiderrorsmapping.csv.
const ROWS: ReadonlyArray<readonly [number, string, XidAction, boolean]> = [
  [1, 'ROBUST_CHANNEL_FIFO_ERROR_FIFO_METHOD', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [2, 'ROBUST_CHANNEL_FIFO_ERROR_SW_METHOD', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [3, 'ROBUST_CHANNEL_FIFO_ERROR_UNK_METHOD', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [4, 'ROBUST_CHANNEL_FIFO_ERROR_CHANNEL_BUSY', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [5, 'ROBUST_CHANNEL_FIFO_ERROR_RUNOUT_OVERFLOW', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [6, 'ROBUST_CHANNEL_FIFO_ERROR_PARSE_ERR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [7, 'ROBUST_CHANNEL_FIFO_ERROR_PTE_ERR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [8, 'ROBUST_CHANNEL_FIFO_ERROR_IDLE_TIMEOUT', 'RESTART_APP', false],
  [9, 'ROBUST_CHANNEL_GR_ERROR_INSTANCE', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [10, 'ROBUST_CHANNEL_GR_ERROR_SINGLE_STEP', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [11, 'ROBUST_CHANNEL_GR_ERROR_MISSING_HW', 'RESTART_APP', false],
  [12, 'ROBUST_CHANNEL_GR_ERROR_SW_METHOD', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [13, 'ROBUST_CHANNEL_GR_EXCEPTION / ROBUST_CHANNEL_GR_ERROR_SW_NOTIFY', 'RESTART_APP', false],
  [14, 'ROBUST_CHANNEL_FAKE_ERROR', 'IGNORE', false],
  [15, 'ROBUST_CHANNEL_SCANLINE_TIMEOUT', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [16, 'ROBUST_CHANNEL_VBLANK_CALLBACK_TIMEOUT', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [17, 'ROBUST_CHANNEL_PARAMETER_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [18, 'ROBUST_CHANNEL_BUS_MASTER_TIMEOUT_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [19, 'ROBUST_CHANNEL_DISP_MISSED_NOTIFIER', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [20, 'ROBUST_CHANNEL_MPEG_ERROR_SW_METHOD', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [21, 'ROBUST_CHANNEL_ME_ERROR_SW_METHOD', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [22, 'ROBUST_CHANNEL_VP_ERROR_SW_METHOD', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [23, 'ROBUST_CHANNEL_RC_LOGGING_ENABLED', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [24, 'ROBUST_CHANNEL_GR_SEMAPHORE_TIMEOUT', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [25, 'ROBUST_CHANNEL_GR_ILLEGAL_NOTIFY', 'RESTART_APP', false],
  [26, 'ROBUST_CHANNEL_FIFO_ERROR_FBISTATE_TIMEOUT', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [27, 'ROBUST_CHANNEL_VP_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [28, 'ROBUST_CHANNEL_VP2_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [29, 'ROBUST_CHANNEL_BSP_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [30, 'ROBUST_CHANNEL_BAD_ADDR_ACCESS', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [31, 'ROBUST_CHANNEL_FIFO_ERROR_MMU_ERR_FLT', 'RESTART_APP', false],
  [32, 'ROBUST_CHANNEL_PBDMA_ERROR', 'RESTART_APP', false],
  [33, 'ROBUST_CHANNEL_SEC_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [34, 'ROBUST_CHANNEL_MSVLD_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [35, 'ROBUST_CHANNEL_MSPDEC_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [36, 'ROBUST_CHANNEL_MSPPP_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [37, 'ROBUST_CHANNEL_FECS_ERR_UNIMP_FIRMWARE_METHOD', 'IGNORE', false],
  [38, 'ROBUST_CHANNEL_FECS_ERR_WATCHDOG_TIMEOUT', 'IGNORE', false],
  [39, 'ROBUST_CHANNEL_CE0_ERROR', 'RESTART_APP', false],
  [40, 'ROBUST_CHANNEL_CE1_ERROR', 'RESTART_APP', false],
  [41, 'ROBUST_CHANNEL_CE2_ERROR', 'RESTART_APP', false],
  [42, 'ROBUST_CHANNEL_VIC_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [43, 'ROBUST_CHANNEL_RESETCHANNEL_VERIF_ERROR', 'IGNORE', false],
  [44, 'ROBUST_CHANNEL_GR_FAULT_DURING_CTXSW', 'IGNORE', false],
  [45, 'ROBUST_CHANNEL_PREEMPTIVE_REMOVAL', 'WORKFLOW_XID_45', false],
  [46, 'ROBUST_CHANNEL_GPU_TIMEOUT_ERROR', 'RESET_GPU', true],
  [47, 'ROBUST_CHANNEL_NVENC0_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [48, 'ROBUST_CHANNEL_GPU_ECC_DBE', 'WORKFLOW_XID_48', true],
  [49, 'SILENT_RUNNING_CONSTANT_LEVEL_SET_BY_REGISTRY', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [50, 'SILENT_RUNNING_LEVEL_TRANSITION_DUE_TO_RC_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [51, 'SILENT_RUNNING_STRESS_TEST_FAILURE', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [52, 'SILENT_RUNNING_LEVEL_TRANS_DUE_TO_TEMP_RISE', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [53, 'SILENT_RUNNING_TEMP_REDUCED_CLOCKING', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [54, 'SILENT_RUNNING_PWR_REDUCED_CLOCKING', 'CHECK_MECHANICALS', true],
  [55, 'SILENT_RUNNING_TEMPERATURE_READ_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [56, 'DISPLAY_CHANNEL_EXCEPTION', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [57, 'FB_LINK_TRAINING_FAILURE_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [58, 'FB_MEMORY_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [59, 'PMU_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [60, 'ROBUST_CHANNEL_SEC2_ERROR', 'RESTART_APP', false],
  [61, 'PMU_BREAKPOINT', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [62, 'PMU_HALT_ERROR', 'RESET_GPU', true],
  [63, 'INFOROM_DRAM_RETIREMENT_EVENT', 'IGNORE', false],
  [64, 'INFOROM_DRAM_RETIREMENT_FAILURE', 'RESET_GPU', true],
  [65, 'ROBUST_CHANNEL_NVENC1_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [66, 'ROBUST_CHANNEL_FECS_ERR_REG_ACCESS_VIOLATION', 'IGNORE', false],
  [67, 'ROBUST_CHANNEL_FECS_ERR_VERIF_VIOLATION', 'IGNORE', false],
  [68, 'ROBUST_CHANNEL_NVDEC0_ERROR', 'RESTART_APP', false],
  [69, 'ROBUST_CHANNEL_GR_CLASS_ERROR', 'RESTART_APP', false],
  [70, 'ROBUST_CHANNEL_CE3_ERROR', 'RESTART_APP', false],
  [71, 'ROBUST_CHANNEL_CE4_ERROR', 'RESTART_APP', false],
  [72, 'ROBUST_CHANNEL_CE5_ERROR', 'RESTART_APP', false],
  [73, 'ROBUST_CHANNEL_NVENC2_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [74, 'NVLINK_ERROR', 'WORKFLOW_NVLINK_ERR', true],
  [75, 'ROBUST_CHANNEL_CE6_ERROR', 'RESTART_APP', false],
  [76, 'ROBUST_CHANNEL_CE7_ERROR', 'RESTART_APP', false],
  [77, 'ROBUST_CHANNEL_CE8_ERROR', 'RESTART_APP', false],
  [78, 'VGPU_START_ERROR', 'UPDATE_SWFW', true],
  [79, 'ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS', 'RESTART_BM', true],
  [80, 'PBDMA_PUSHBUFFER_CRC_MISMATCH', 'RESTART_APP', false],
  [81, 'ROBUST_CHANNEL_VGA_SUBSYSTEM_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [82, 'ROBUST_CHANNEL_NVJPG0_ERROR', 'RESTART_APP', false],
  [83, 'ROBUST_CHANNEL_NVDEC1_ERROR', 'RESTART_APP', false],
  [84, 'ROBUST_CHANNEL_NVDEC2_ERROR', 'RESTART_APP', false],
  [85, 'ROBUST_CHANNEL_CE9_ERROR', 'RESTART_APP', false],
  [86, 'ROBUST_CHANNEL_OFA0_ERROR', 'RESTART_APP', false],
  [87, 'NVTELEMETRY_DRIVER_REPORT', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [88, 'ROBUST_CHANNEL_NVDEC3_ERROR', 'RESTART_APP', false],
  [89, 'ROBUST_CHANNEL_NVDEC4_ERROR', 'RESTART_APP', false],
  [90, 'LTC_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [91, 'RESERVED_XID', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [92, 'EXCESSIVE_SBE_INTERRUPTS', 'IGNORE', false],
  [93, 'INFOROM_ERASE_LIMIT_EXCEEDED', 'IGNORE', false],
  [94, 'ROBUST_CHANNEL_CONTAINED_ERROR', 'RESTART_APP', false],
  [95, 'ROBUST_CHANNEL_UNCONTAINED_ERROR', 'RESET_GPU', true],
  [96, 'ROBUST_CHANNEL_NVDEC5_ERROR', 'RESTART_APP', false],
  [97, 'ROBUST_CHANNEL_NVDEC6_ERROR', 'RESTART_APP', false],
  [98, 'ROBUST_CHANNEL_NVDEC7_ERROR', 'RESTART_APP', false],
  [99, 'ROBUST_CHANNEL_NVJPG1_ERROR', 'RESTART_APP', false],
  [100, 'ROBUST_CHANNEL_NVJPG2_ERROR', 'RESTART_APP', false],
  [101, 'ROBUST_CHANNEL_NVJPG3_ERROR', 'RESTART_APP', false],
  [102, 'ROBUST_CHANNEL_NVJPG4_ERROR', 'RESTART_APP', false],
  [103, 'ROBUST_CHANNEL_NVJPG5_ERROR', 'RESTART_APP', false],
  [104, 'ROBUST_CHANNEL_NVJPG6_ERROR', 'RESTART_APP', false],
  [105, 'ROBUST_CHANNEL_NVJPG7_ERROR', 'RESTART_APP', false],
  [106, 'SMBPBI_TEST_MESSAGE', 'IGNORE', false],
  [107, 'SMBPBI_TEST_MESSAGE_SILENT', 'IGNORE', false],
  [108, 'DESTINATION_FLA_TRANSLATION_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [109, 'ROBUST_CHANNEL_CTXSW_TIMEOUT_ERROR', 'RESET_GPU', true],
  [110, 'SEC_FAULT_ERROR', 'RESET_GPU', true],
  [111, 'BUNDLE_ERROR_EVENT', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [112, 'DISP_SUPERVISOR_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [113, 'DP_LT_FAILURE', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [114, 'HEAD_RG_UNDERFLOW', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [115, 'CORE_CHANNEL_REGS', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [116, 'WINDOW_CHANNEL_REGS', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [117, 'CURSOR_CHANNEL_REGS', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [118, 'HEAD_REGS', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [119, 'GSP_RPC_TIMEOUT', 'RESET_GPU', true],
  [120, 'GSP_ERROR', 'RESET_GPU', true],
  [121, 'C2C_ERROR', 'IGNORE', false],
  [122, 'SPI_PMU_RPC_READ_FAIL', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [123, 'SPI_PMU_RPC_WRITE_FAIL', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [124, 'SPI_PMU_RPC_ERASE_FAIL', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [125, 'INFOROM_FS_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [126, 'ROBUST_CHANNEL_CE10_ERROR', 'RESTART_APP', false],
  [127, 'ROBUST_CHANNEL_CE11_ERROR', 'RESTART_APP', false],
  [128, 'ROBUST_CHANNEL_CE12_ERROR', 'RESTART_APP', false],
  [129, 'ROBUST_CHANNEL_CE13_ERROR', 'RESTART_APP', false],
  [130, 'ROBUST_CHANNEL_CE14_ERROR', 'RESTART_APP', false],
  [131, 'ROBUST_CHANNEL_CE15_ERROR', 'RESTART_APP', false],
  [132, 'ROBUST_CHANNEL_CE16_ERROR', 'RESTART_APP', false],
  [133, 'ROBUST_CHANNEL_CE17_ERROR', 'RESTART_APP', false],
  [134, 'ROBUST_CHANNEL_CE18_ERROR', 'RESTART_APP', false],
  [135, 'ROBUST_CHANNEL_CE19_ERROR', 'RESTART_APP', false],
  [136, 'ALI_TRAINING_FAIL', 'RESET_GPU', true],
  [137, 'NVLINK_FLA_PRIV_ERR', 'IGNORE', false],
  [138, 'ROBUST_CHANNEL_DLA_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [139, 'ROBUST_CHANNEL_OFA1_ERROR', 'RESTART_APP', false],
  [140, 'UNRECOVERABLE_ECC_ERROR_ESCAPE', 'RESET_GPU', true],
  [141, 'ROBUST_CHANNEL_FAST_PATH_ERROR', 'IGNORE', false],
  [142, 'ROBUST_CHANNEL_NVENC3_ERROR', 'UNEXPECTED_ERR_REPORT_ISSUE', true],
  [143, 'GPU_INIT_ERROR', 'RESET_GPU', true],
  [144, 'NVLINK_SAW_ERROR', 'WORKFLOW_NVLINK5_ERR', true],
  [145, 'NVLINK_RLW_ERROR', 'WORKFLOW_NVLINK5_ERR', true],
  [146, 'NVLINK_TLW_ERROR', 'WORKFLOW_NVLINK5_ERR', true],
  [147, 'NVLINK_TREX_ERROR', 'WORKFLOW_NVLINK5_ERR', true],
  [148, 'NVLINK_NVLPW_CTRL_ERROR', 'WORKFLOW_NVLINK5_ERR', true],
  [149, 'NVLINK_NETIR_ERROR', 'WORKFLOW_NVLINK5_ERR', true],
  [150, 'NVLINK_MSE_ERROR', 'WORKFLOW_NVLINK5_ERR', true],
  [151, 'ROBUST_CHANNEL_KEY_ROTATION_ERROR', 'RESTART_VM', true],
  [152, 'ROBUST_CHANNEL_DLA_SMMU_ERROR', 'IGNORE', false],
  [153, 'ROBUST_CHANNEL_DLA_TIMEOUT', 'IGNORE', false],
  [154, 'GPU_RECOVERY_ACTION_CHANGED', 'FOLLOW_OTHER_XID', false],
  [155, 'NVLINK_SW_DEFINED_ERROR', 'RESET_GPU', true],
  [156, 'RESOURCE_RETIREMENT_EVENT', 'RESET_GPU', true],
  [157, 'RESOURCE_RETIREMENT_FAILURE', 'IGNORE', false],
  [158, 'GPU_FATAL_TIMEOUT', 'RESET_GPU', true],
  [159, 'ROBUST_CHANNEL_CHI_NON_DATA_ERROR', 'CHECK_UVM', false],
  [160, 'CHANNEL_RETIREMENT_EVENT', 'RESTART_BM', true],
  [161, 'CHANNEL_RETIREMENT_FAILURE', 'IGNORE', false],
  [162, '', 'RESET_GPU', true],
];

export const XID_CATALOG: ReadonlyMap<number, XidCatalogEntry> = new Map(
  ROWS.map(([code, mnemonic, action, fatal]) => [code, { code, mnemonic, action, fatal }]),
);

/** What each recommended action means for the host, in words an operator acts on. */
export const ACTION_ADVICE: Readonly<Record<XidAction, string>> = {
  IGNORE: 'informational, no action',
  RESTART_APP: 'restart the application; the GPU is usable',
  RESET_GPU: 'drain the node and reset the GPU (or reboot)',
  RESTART_BM: 'drain the node and reboot it (replace the instance if it recurs)',
  RESTART_VM: 'drain and restart the VM',
  CHECK_MECHANICALS: 'check power and cooling (on EC2: replace the instance)',
  CHECK_UVM: 'check the UVM driver and the application',
  UPDATE_SWFW: 'update the driver / firmware',
  UNEXPECTED_ERR_REPORT_ISSUE: 'unexpected error: drain the node, collect nvidia-bug-report.sh, report to NVIDIA',
  WORKFLOW_XID_45: 'the channel was stopped (application ended or a prior error); look for an earlier Xid',
  WORKFLOW_XID_48: 'uncorrectable ECC error: drain and reset the GPU; replace it if it recurs',
  WORKFLOW_NVLINK_ERR: 'NVLink error: drain and reset the GPUs (reboot if it persists)',
  WORKFLOW_NVLINK5_ERR: 'NVLink error: drain and reset the GPUs if fatal',
  FOLLOW_OTHER_XID: 'the GPU recovery action changed: follow the named action',
};

const ACTION_SEVERITY: Readonly<Record<XidAction, Severity>> = {
  IGNORE: 'ok',
  RESTART_APP: 'warning',
  CHECK_UVM: 'warning',
  UPDATE_SWFW: 'warning',
  WORKFLOW_XID_45: 'warning',
  // Decided by the action the line names (see xidSeverity); NONFATAL in the table when it names none.
  FOLLOW_OTHER_XID: 'warning',
  RESET_GPU: 'critical',
  RESTART_BM: 'critical',
  RESTART_VM: 'critical',
  CHECK_MECHANICALS: 'critical',
  WORKFLOW_XID_48: 'critical',
  WORKFLOW_NVLINK_ERR: 'critical',
  WORKFLOW_NVLINK5_ERR: 'critical',
  // NVIDIA marks every such code FATAL: an unexplained fatal error is not something to wait out.
  UNEXPECTED_ERR_REPORT_ISSUE: 'critical',
};

/** Minimum severities from the design notes (application faults and codes that need a reset). */
const SEVERITY_FLOOR: ReadonlyMap<number, Severity> = new Map<number, Severity>([
  [13, 'warning'],
  [31, 'warning'],
  [43, 'warning'],
  [45, 'warning'],
  [68, 'warning'],
  [94, 'warning'],
  [63, 'warning'],
  [92, 'warning'],
  [48, 'critical'],
  [64, 'critical'],
  [74, 'critical'],
  [79, 'critical'],
  [95, 'critical'],
  [119, 'critical'],
  [120, 'critical'],
]);

const RANK: Record<Severity, number> = { ok: 0, warning: 1, critical: 2 };
const atLeast = (a: Severity, b: Severity): Severity => (RANK[a] >= RANK[b] ? a : b);

/** GPU recovery actions (NVML nvmlDeviceGpuRecoveryAction_t) named in Xid 154 lines. */
const RECOVERY_ACTION_SEVERITY: ReadonlyArray<readonly [RegExp, Severity]> = [
  [/^none$/i, 'ok'],
  [/drain\s*p2p/i, 'warning'],
  [/reset|reboot/i, 'critical'],
];

/** Severity of a GPU recovery action as nvidia-smi (`gpu_recovery_action`) or Xid 154 names it. */
export function recoveryActionSeverity(action: string): Severity | null {
  const name = action.trim();
  for (const [pattern, severity] of RECOVERY_ACTION_SEVERITY) if (pattern.test(name)) return severity;
  return null;
}

/** "caused by previous Xid 149" → 149. */
export function causingXid(text: string): number | null {
  const m = /caused by previous Xid (\d+)/i.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Severity of one Xid line.
 * @param code the Xid code
 * @param text the rest of the kernel line after the code (decides 144-150, 154 and 45)
 * @param severityOfCause for Xid 45 "caused by previous Xid N": the severity already seen for N on the
 *   same GPU, when known; otherwise N's catalog severity is used.
 */
export function xidSeverity(code: number, text = '', severityOfCause?: (cause: number) => Severity | undefined): Severity {
  if (code >= 144 && code <= 150) {
    if (/\bnon-?fatal\b/i.test(text)) return 'warning';
    if (/\bfatal\b/i.test(text)) return 'critical';
  }
  if (code === 154) {
    const m = /\bto 0x[0-9a-f]+ \(([^)]*)\)/i.exec(text);
    const named = m ? recoveryActionSeverity(m[1]) : null;
    if (named) return named;
  }
  if (code === 45) {
    const cause = causingXid(text);
    if (cause !== null && cause !== 45) return severityOfCause?.(cause) ?? xidSeverity(cause);
  }
  const entry = XID_CATALOG.get(code);
  // A code newer than the table: someone has to look it up, but it is not known to be fatal.
  const base: Severity = entry ? ACTION_SEVERITY[entry.action] : 'warning';
  const floor = SEVERITY_FLOOR.get(code);
  return floor ? atLeast(base, floor) : base;
}

/** One line of advice for an Xid code, e.g. "drain the node and reboot it ...". */
export function xidAdvice(code: number): string {
  const entry = XID_CATALOG.get(code);
  return entry ? ACTION_ADVICE[entry.action] : "not in NVIDIA's Xid catalog: look it up in the driver release notes";
}
