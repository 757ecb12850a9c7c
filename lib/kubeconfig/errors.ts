import type { Shell } from './types';

/**
 * A value cannot be rendered safely for a shell. We refuse rather than emit a
 * command that would run something other than what the argv says. The message
 * never contains the value itself: it is usually a secret or a token.
 */
export class UnsafeForShellError extends Error {
  constructor(
    readonly shell: Shell,
    readonly reason: string,
  ) {
    super(`cannot render this command for ${shell}: an argument ${reason}`);
    this.name = 'UnsafeForShellError';
  }
}

/** The CredentialSpec cannot be expressed (e.g. a name kubectl's `config set` path parser would split). */
export class InvalidCredentialSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCredentialSpecError';
  }
}
