/**
 * Every error halfbyte throws on purpose is a HalfbyteError with a stable `code`.
 * Codes from the native engine (GGUF_*, MISSING_TENSOR, ...) pass through unchanged.
 */
export type HalfbyteErrorCode = 'INVALID_ARGUMENT' | 'ADDON_LOAD_FAILED' | 'FILE_NOT_FOUND' | 'FILE_READ_ERROR' | 'GGUF_BAD_MAGIC' | 'GGUF_UNSUPPORTED_VERSION' | 'GGUF_TRUNCATED' | 'GGUF_BAD_METADATA' | 'GGUF_BAD_TENSOR' | 'GGUF_MISSING_KEY' | 'UNSUPPORTED_ARCHITECTURE' | 'UNSUPPORTED_TENSOR_TYPE' | 'UNSUPPORTED_TOKENIZER' | 'TOKENIZER_MISSING' | 'MISSING_TENSOR' | 'TENSOR_SHAPE_MISMATCH' | 'TOKEN_OUT_OF_RANGE' | 'CONTEXT_FULL' | 'CONTEXT_BUSY' | 'VOCAB_ONLY' | 'DISPOSED' | 'ABORTED' | 'OUT_OF_MEMORY' | 'UNSUPPORTED_ISA' | 'STATE_BAD_FILE' | 'STATE_MODEL_MISMATCH' | 'FILE_WRITE_ERROR' | 'NO_CHAT_TEMPLATE' | 'INVALID_CHAT_TEMPLATE' | 'GRAMMAR_SYNTAX' | 'GRAMMAR_NO_TOKEN' | 'GRAMMAR_REJECTED' | 'GRAMMAR_INCOMPLETE' | 'UNSUPPORTED_SCHEMA' | 'INVALID_TOOL_CALL' | 'TOOL_LOOP_LIMIT' | 'NETWORK_ERROR' | 'CHECKSUM_MISMATCH' | 'MODEL_NOT_CACHED' | 'UNKNOWN_QUANTIZATION' | 'INTERNAL' | (string & {});
export declare class HalfbyteError extends Error {
    readonly code: HalfbyteErrorCode;
    constructor(code: HalfbyteErrorCode, message: string, options?: {
        cause?: unknown;
    });
}
/** Converts an error thrown by the addon (an Error with a `code`) into a HalfbyteError. */
export declare function fromNative(err: unknown): HalfbyteError;
/** Runs fn, rethrowing addon errors as HalfbyteError. */
export declare function native<T>(fn: () => T): T;
/** Awaits p, rethrowing addon errors as HalfbyteError. */
export declare function nativeAsync<T>(p: Promise<T>): Promise<T>;
