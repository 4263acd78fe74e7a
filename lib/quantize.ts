// Quantizing a GGUF model file: llama-quantize's types and mixtures, computed natively on worker
// threads and streamed to the output file (which appears only once complete).
import { addon } from './addon.js';
import { native } from './errors.js';
import { abortedError, nativeCall } from './generation.js';
import * as v from './validate.js';

/** The types (llama-quantize's file types) quantize() can produce. */
export const quantizationTypes = [
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q8_0',
  'Q2_K',
  'Q3_K_S',
  'Q3_K_M',
  'Q3_K_L',
  'Q4_K_S',
  'Q4_K_M',
  'Q5_K_S',
  'Q5_K_M',
  'Q6_K',
  'IQ4_NL',
  'IQ4_XS',
  'F16',
  'BF16',
  'F32',
] as const;

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

interface NativeQuantizeTask {
  promise: Promise<QuantizeResult>;
  abort(): void;
}

interface NativeQuantizeAddon {
  quantizeModel(
    inPath: string,
    outPath: string,
    options: { type: string; pure: boolean; allowRequantize: boolean; threads: number },
    onProgress?: (progress: QuantizeProgress) => void,
  ): NativeQuantizeTask;
}

function nonEmptyString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw v.invalid('a non-empty string', what, value);
  return value;
}

/**
 * Quantizes the GGUF model at `inPath` (F32, F16 or BF16 tensors) into a new GGUF file at
 * `outPath`, as `llama-quantize inPath outPath <type>` does: the same algorithms (without an
 * importance matrix), the same per-tensor types, all metadata copied, general.file_type set.
 * The output is written to a temporary file and renamed into place when complete, so a failure
 * or an abort never leaves a partial file (an existing file at `outPath` is then untouched).
 *
 * Errors (HalfbyteError codes): INVALID_ARGUMENT, FILE_NOT_FOUND, GGUF_* (a malformed source),
 * UNSUPPORTED_SOURCE (quantized source tensors without allowRequantize), BAD_TENSOR_DATA
 * (NaN or infinite weights), FILE_WRITE_ERROR, ABORTED.
 */
const QUANTIZE_KEYS = v.optionKeys<QuantizeOptions>({
  type: true, pure: true, allowRequantize: true, threads: true, signal: true, onProgress: true,
});

export async function quantize(inPath: string, outPath: string, options: QuantizeOptions): Promise<QuantizeResult> {
  nonEmptyString(inPath, 'inPath');
  nonEmptyString(outPath, 'outPath');
  const o = v.optionsObject(options, 'quantize options', QUANTIZE_KEYS);
  if (typeof o.type !== 'string' || !(quantizationTypes as readonly string[]).includes(o.type))
    throw v.invalid(`one of ${quantizationTypes.join(', ')}`, 'type', o.type);
  const pure = v.boolean(o.pure, 'pure', false);
  const allowRequantize = v.boolean(o.allowRequantize, 'allowRequantize', false);
  const threads = o.threads === undefined ? 0 : v.threads(o.threads);
  const signal = v.signal(o.signal, 'signal');
  const onProgress = o.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') throw v.invalid('a function', 'onProgress', onProgress);
  if (signal?.aborted) throw abortedError(signal);

  const task = native(() =>
    (addon() as unknown as NativeQuantizeAddon).quantizeModel(inPath, outPath, { type: o.type!, pure, allowRequantize, threads }, onProgress),
  );
  const onAbort = () => task.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await nativeCall(task.promise, signal);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
