/** The types (llama-quantize's file types) quantize() can produce. */
export declare const quantizationTypes: readonly ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "F16", "BF16", "F32"];
export type QuantizationType = (typeof quantizationTypes)[number];
export interface QuantizeProgress {
    /** The tensor being written. */
    tensor: string;
    /** Its position in the output file, from 0. */
    index: number;
    /** Tensors in the output file. */
    count: number;
    /** Bytes of source tensor data processed so far (all tensors). */
    bytesDone: number;
    /** Bytes of source tensor data in all. */
    bytesTotal: number;
}
export interface QuantizeOptions {
    /**
     * The file type, as in llama-quantize: the main type of the matrices. Mixtures such as Q4_K_M
     * give the most sensitive tensors (output, some attn_v and ffn_down layers) more bits; norms and
     * other 1-D tensors stay F32.
     */
    type: QuantizationType;
    /** Every matrix in `type`, the output and embeddings included (no mixture). Default false. */
    pure?: boolean;
    /** Accept a source whose tensors are already quantized (dequantized first, losing quality). Default false. */
    allowRequantize?: boolean;
    /** Worker threads. Default: the number of physical cores. */
    threads?: number;
    /** Stops the work; the promise rejects with code ABORTED and no output file is left behind. */
    signal?: AbortSignal;
    /** Called as the work proceeds (at least once per tensor). */
    onProgress?: (progress: QuantizeProgress) => void;
}
export interface QuantizeResult {
    /** Tensors written. */
    tensors: number;
    /** Size of the source file in bytes. */
    inputBytes: number;
    /** Size of the written file in bytes. */
    outputBytes: number;
    seconds: number;
}
export declare function quantize(inPath: string, outPath: string, options: QuantizeOptions): Promise<QuantizeResult>;
