/**
 * OAuth 2.0 errors (RFC 6749 §5.2), named after the spec's codes. One place
 * (toErrorResponse in token-endpoint.ts) turns them into responses.
 */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = new.target.name;
  }
}

export class InvalidRequestError extends OAuthError {
  constructor(description: string, status = 400) {
    super('invalid_request', description, status);
  }
}

export class InvalidClientError extends OAuthError {
  /** `challenge`: the client tried HTTP Basic, so answer 401 with a Basic challenge (RFC 6749 §5.2). */
  constructor(description: string, challenge: boolean) {
    super('invalid_client', description, 401, challenge ? { 'www-authenticate': 'Basic realm="kubegate"' } : {});
  }
}

export class InvalidGrantError extends OAuthError {
  constructor(description: string) {
    super('invalid_grant', description);
  }
}

export class UnsupportedGrantTypeError extends OAuthError {
  constructor(grantType: string) {
    super('unsupported_grant_type', `grant_type ${JSON.stringify(grantType.slice(0, 64))} is not supported; use refresh_token`);
  }
}
