/**
 * Base of Kubegate's own expected errors: each carries a stable `code` that
 * callers switch on (and tests assert), and a message fit to show a person
 * or an operator. Anything that is not an AppError is a bug: a generic 500
 * with a request id, nothing leaked.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isAppError(err: unknown, code?: string): err is AppError {
  return err instanceof AppError && (code === undefined || err.code === code);
}
