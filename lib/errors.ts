import { errorCodes, type HalfbyteErrorCode } from './error-codes.js';

export { errorCodes, errorCodeMeanings, type HalfbyteErrorCode } from './error-codes.js';

/** Every error halfbyte lets reach the caller; `code` is one of `errorCodes`. */
export class HalfbyteError extends Error {
  readonly code: HalfbyteErrorCode;
  constructor(code: HalfbyteErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HalfbyteError';
    this.code = code;
  }
}

/** Converts an error thrown by the addon (an Error with a `code`) into a HalfbyteError. */
export function fromNative(err: unknown): HalfbyteError {
  if (err instanceof HalfbyteError) return err;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && (errorCodes as readonly string[]).includes(code))
      return new HalfbyteError(code as HalfbyteErrorCode, err.message, { cause: err });
    return new HalfbyteError('INTERNAL', `${typeof code === 'string' ? code + ': ' : ''}${err.message}`, { cause: err });
  }
  return new HalfbyteError('INTERNAL', String(err));
}

/** Runs fn, rethrowing addon errors as HalfbyteError. */
export function native<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/** Awaits p, rethrowing addon errors as HalfbyteError. */
export async function nativeAsync<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw fromNative(err);
  }
}
