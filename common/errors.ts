/**
 * Errors with a stable code and a cause (like fastify's FST_ERR_* or undici's UND_ERR_*).
 * Code is for programs and tests; message is for people. Converted to gRPC/HTTP status only at
 * the edge.
 */
export class NetsonarError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetsonarError';
    this.code = code;
  }

  /** Wraps anything thrown into a NetsonarError, keeping an existing one as it is. */
  static from(err: unknown, code = 'NS_ERR_INTERNAL'): NetsonarError {
    if (err instanceof NetsonarError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new NetsonarError(code, message, { cause: err });
  }
}

/** The message of anything thrown, for logs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
