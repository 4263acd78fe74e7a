import { addon } from './addon.js';
import { native, nativeAsync } from './errors.js';
import * as v from './validate.js';

export interface CpuInfo {
  /** CPU features found at run time (CPUID/XGETBV on x86-64, HWCAP on arm64). */
  features: Record<string, boolean>;
  /** Kernel sets this CPU can run, best last. */
  availableIsas: string[];
  /** The kernel set in use (HALFBYTE_FORCE_ISA=scalar|avx2|avx512|avx512amx|neon|neondot overrides). */
  activeIsa: string;
}

/** Which CPU features were found and which kernels run. */
export function getCpuInfo(): CpuInfo {
  return native(() => addon().cpuInfo());
}

export interface ReadBandwidthOptions {
  /** Threads reading at once, each one contiguous slice (as the matrix kernels do). Default: the number of physical cores, as load(). */
  threads?: number;
  /** Size of the buffer read, in MiB: well above the last-level cache. Default 256. */
  megabytes?: number;
  /** Times the buffer is read; the median and best are reported. Default 5. */
  passes?: number;
}

export interface ReadBandwidth {
  /** Median over the passes, in GB/s (1e9 bytes per second). */
  medianGBps: number;
  /** Fastest pass, in GB/s. */
  bestGBps: number;
  threads: number;
  /** Bytes read per pass. */
  bytes: number;
  passes: number;
}

/**
 * Measures how fast this machine's memory can be read: the ceiling for generation speed, since
 * each generated token reads every weight once (tokens/s x weight bytes <= this figure).
 * Runs on a worker thread; it allocates and touches the buffer first, then takes about
 * passes x megabytes / bandwidth.
 */
const READ_BANDWIDTH_KEYS = v.optionKeys<ReadBandwidthOptions>({ threads: true, megabytes: true, passes: true });

export async function measureReadBandwidth(options?: ReadBandwidthOptions): Promise<ReadBandwidth> {
  const o = v.optionsObject(options, 'read bandwidth options', READ_BANDWIDTH_KEYS);
  const threads = o.threads === undefined ? 0 : v.threads(o.threads);
  const megabytes = v.integer(o.megabytes, 'megabytes', 1, 1 << 20, 256);
  const passes = v.integer(o.passes, 'passes', 1, 1000, 5);
  return nativeAsync(addon().measureReadBandwidth(threads, megabytes * 2 ** 20, passes));
}
