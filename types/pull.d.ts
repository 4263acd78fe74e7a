export interface PullOptions {
    /** Where files go. Default: $HALFBYTE_CACHE or ~/.cache/halfbyte. */
    cacheDir?: string;
    /** Called as bytes arrive. */
    onProgress?: (p: {
        receivedBytes: number;
        totalBytes: number | undefined;
        file: string;
    }) => void;
    signal?: AbortSignal;
}
export interface PullResult {
    path: string;
    bytes: number;
    /** The sha256 the hub gave and the file matched, if it gave one. */
    sha256?: string;
    /** Bytes taken from an earlier, interrupted download. */
    resumedBytes: number;
}
export declare function pull(ref: string, options?: PullOptions): Promise<PullResult>;
/**
 * A model reference as a local path, without the network: a path is returned as is; an hf: or
 * URL reference names its file in the cache (MODEL_NOT_CACHED, saying how to pull it, if it is
 * not there). hf:owner/repo:QUANT resolves through the cached files of that repository.
 */
export declare function resolveModel(ref: string, options?: Pick<PullOptions, 'cacheDir'>): string;
