export interface CpuInfo {
    /** CPU features found at run time (CPUID/XGETBV on x86-64, HWCAP on arm64). */
    features: Record<string, boolean>;
    /** Kernel sets this CPU can run, best last. */
    availableIsas: string[];
    /** The kernel set in use (HALFBYTE_FORCE_ISA=scalar|avx2|avx512|neon|neondot overrides). */
    activeIsa: string;
}
/** Which CPU features were found and which kernels run. */
export declare function getCpuInfo(): CpuInfo;
