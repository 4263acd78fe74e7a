import { type HalfbyteErrorCode } from './error-codes.js';
export { errorCodes, errorCodeMeanings, type HalfbyteErrorCode } from './error-codes.js';
/** Every error halfbyte lets reach the caller; `code` is one of `errorCodes`. */
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
