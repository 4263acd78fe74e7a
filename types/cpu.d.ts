export interface CpuInfo {
    /** CPU features found at run time (CPUID/XGETBV on x86-64, HWCAP on arm64). */
    features: Record<string, boolean>;
    /** Kernel sets this CPU can run, best last. */
    availableIsas: string[];
    /** The kernel set in use (HALFBYTE_FORCE_ISA=scalar|avx2|avx512|avx512amx|neon|neondot overrides). */
    activeIsa: string;
}
/** Which CPU features were found and which kernels run. */
export declare function getCpuInfo(): CpuInfo;
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
export declare function measureReadBandwidth(options?: ReadBandwidthOptions): Promise<ReadBandwidth>;
