/**
 * gpu-check's output read once into what its checks share: the sections scripts/gpu-check.sh prints, the
 * parsed nvidia-smi table and list, the failures nvidia-smi reported, and what the host should have.
 * Each check (lambda/core/gpu/checks/) reads this, never the raw sections again.
 */
import { type ParsedResult, parseKeyValues, RESULT_CONTRACT, type Section } from '../contract';
import type { EvaluationSettings } from '../evaluation-settings';
import { resolveExpectedGpuCount } from './instance-gpus';
import { detectNvidiaSmiFailures, type GpuList, type GpuRow, type NvidiaSmiFailure, parseGpuList, parseGpuQueryRows } from './nvidia-smi';
import { type QueryOutcome, readQueryOutput } from './query-output';
import { normaliseBusId } from './xid';

/** Section names printed by scripts/gpu-check.sh. */
export const GPU_CHECK_SECTIONS = {
  identity: 'identity',
  driver: 'driver',
  help: 'nvidia-smi-help',
  query: 'nvidia-smi-query',
  queryRetry: 'nvidia-smi-query-retry',
  list: 'nvidia-smi-list',
  seen: 'gpus-seen-this-boot',
  journal: 'kernel-xid-journal',
  dmesg: 'kernel-xid-dmesg',
  budget: 'budget',
} as const;

/** Exit status the script records for a probe it did not run. */
export const NOT_RUN_EXIT = RESULT_CONTRACT.exit.notRun;

/** Which kernel log the Xid lines came from, and why none could be read. */
export interface KernelLog {
  readonly lines: string;
  readonly source: string | null;
  readonly problem: string | null;
}

export interface GpuCheckInput {
  readonly settings: EvaluationSettings;
  readonly instanceType: string | null;
  /** GPUs this host should have (configured, or known for its instance type); null when unknown. */
  readonly expected: number | null;
  readonly uptimeS: number | null;
  readonly inBootGrace: boolean;
  /** NVIDIA GPUs on the PCI bus, whatever the driver says. */
  readonly pciGpus: number | null;
  readonly nvidiaSmiInstalled: boolean;
  /** The loaded kernel module's version; '' when none is loaded. */
  readonly kernelModule: string;
  readonly firstQuery: Section | undefined;
  readonly retry: Section | undefined;
  readonly list: Section | undefined;
  /** Every nvidia-smi call the script made. */
  readonly nvsmiSections: readonly Section[];
  readonly queryOutcome: QueryOutcome;
  readonly rows: readonly GpuRow[];
  readonly listParsed: GpuList | null;
  /** Failures reported by the query that counts (the retry if any) and the list. */
  readonly failures: readonly NvidiaSmiFailure[];
  readonly firstQueryFailures: readonly NvidiaSmiFailure[];
  readonly noDevices: boolean;
  /** Bus id → index of the GPUs seen earlier this boot. */
  readonly seen: ReadonlyMap<string, number>;
  readonly kernelLog: KernelLog;
}

export function num(text: string | undefined): number | null {
  if (text === undefined || text.trim() === '') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

function kv(parsed: ParsedResult, name: string): Record<string, string> {
  const s = parsed.sections.get(name);
  return s ? parseKeyValues(s.stdout) : {};
}

export function notRun(section: Section | undefined): boolean {
  return section !== undefined && section.exitCode === NOT_RUN_EXIT && /^not run/m.test(section.stderr);
}

/** Reads the `gpus-seen-this-boot` section: bus id → last index. */
function seenThisBoot(parsed: ParsedResult): Map<string, number> {
  const seen = new Map<string, number>();
  for (const line of (parsed.sections.get(GPU_CHECK_SECTIONS.seen)?.stdout ?? '').split('\n')) {
    const [bus, index] = line.trim().split(/\s+/);
    const busId = bus ? normaliseBusId(bus) : null;
    if (busId && /^\d+$/.test(index ?? '')) seen.set(busId, Number(index));
  }
  return seen;
}

function kernelLog(parsed: ParsedResult): KernelLog {
  const journal = parsed.sections.get(GPU_CHECK_SECTIONS.journal);
  const dmesg = parsed.sections.get(GPU_CHECK_SECTIONS.dmesg);
  const journalUsable = journal && journal.exitCode === 0 && !/No journal files were found|not seeing messages/.test(journal.stderr);
  if (journalUsable) return { lines: journal.stdout, source: 'journal', problem: null };
  if (dmesg && dmesg.exitCode === 0) return { lines: dmesg.stdout, source: 'dmesg', problem: null };
  const why = [journal, dmesg]
    .filter((s): s is Section => s !== undefined)
    .map((s) => `${s.name}: ${s.timedOut ? 'timed out' : (s.stderr.trim().split('\n')[0] ?? '') || `exit ${s.exitCode}`}`);
  return { lines: '', source: null, problem: why.length ? why.join('; ') : 'no kernel log section in the output' };
}

export function readGpuCheckInput(parsed: ParsedResult, settings: EvaluationSettings): GpuCheckInput {
  const { gpuCheck } = settings;
  const identity = kv(parsed, GPU_CHECK_SECTIONS.identity);
  const driver = kv(parsed, GPU_CHECK_SECTIONS.driver);
  const instanceType = gpuCheck.instanceType !== 'auto' ? gpuCheck.instanceType : identity.instance_type || null;
  const uptimeS = num(identity.uptime_s);

  const help = parsed.sections.get(GPU_CHECK_SECTIONS.help);
  const firstQuery = parsed.sections.get(GPU_CHECK_SECTIONS.query);
  const retry = parsed.sections.get(GPU_CHECK_SECTIONS.queryRetry);
  const query = retry ?? firstQuery;
  const list = parsed.sections.get(GPU_CHECK_SECTIONS.list);

  const queryOutcome = query && !notRun(query) ? readQueryOutput(query, parseGpuQueryRows) : { query: null, findings: [] };
  const failures: NvidiaSmiFailure[] = [];
  for (const s of [query, list]) if (s) failures.push(...detectNvidiaSmiFailures(`${s.stdout}\n${s.stderr}`));

  return {
    settings,
    instanceType,
    expected: resolveExpectedGpuCount(gpuCheck.expectedGpuCount, instanceType),
    uptimeS,
    inBootGrace: uptimeS !== null && uptimeS < gpuCheck.bootGraceMinutes * 60,
    pciGpus: num(driver.pci_gpus),
    nvidiaSmiInstalled: driver.nvidia_smi !== undefined ? driver.nvidia_smi !== '' : parsed.sections.has(GPU_CHECK_SECTIONS.query),
    kernelModule: driver.kernel_module ?? '',
    firstQuery,
    retry,
    list,
    nvsmiSections: [help, firstQuery, retry, list].filter((s): s is Section => s !== undefined),
    queryOutcome,
    rows: queryOutcome.query?.rows ?? [],
    listParsed: list && !notRun(list) && list.exitCode === 0 ? parseGpuList(list.stdout) : null,
    failures,
    firstQueryFailures: firstQuery ? detectNvidiaSmiFailures(`${firstQuery.stdout}\n${firstQuery.stderr}`) : [],
    noDevices: failures.some((f) => f.kind === 'no-devices'),
    seen: seenThisBoot(parsed),
    kernelLog: kernelLog(parsed),
  };
}
