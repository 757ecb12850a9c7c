/** What the sign-in page says for each error code (Auth.js's and ours). Unknown codes get the default. */
const SIGN_IN_ERRORS: Record<string, string> = {
  credentials: 'Wrong username or password.',
  bad_credentials: 'Wrong username or password.',
  disabled: 'This account is disabled in your directory. Ask your platform team.',
  not_allowed: 'Your account is not allowed to sign in here (it is outside the organisations or groups this portal accepts). If that is a mistake, tell your platform team.',
  invalid_response:
    'The answer from your identity provider could not be accepted (it may have expired, been used already, or come from another browser). Start the sign-in again.',
  unavailable: 'Your identity provider did not answer in time. Try again in a minute; if it keeps happening, tell your platform team.',
  rate_limited: 'Too many failed attempts. Wait a few minutes before trying again.',
  Configuration:
    'The sign-in service could not be reached or is misconfigured. Try again in a minute; if it keeps happening, tell your platform team.',
  AccessDenied: 'Your account is not allowed to sign in here.',
  claims: 'Your identity provider did not send the details needed to sign you in (a username). Tell your platform team.',
  Verification: 'The sign-in link is no longer valid. Start again.',
  unknown_upstream: 'That sign-in method is not available.',
  session_ended: 'Your session has ended. Sign in again.',
  session_idle: 'You were signed out after a period of inactivity. Sign in again.',
  offboarded: 'Your account no longer has access here. If that is a mistake, tell your platform team.',
  upstream_unavailable: 'Your sign-in provider has not been reachable to confirm your account for a while. Try again in a few minutes.',
  Default: 'Sign-in failed. Try again.',
};

export function signInErrorMessage(code: string | string[] | undefined): string | undefined {
  if (code === undefined) return undefined;
  const key = Array.isArray(code) ? code[0] : code;
  if (!key) return undefined;
  return Object.hasOwn(SIGN_IN_ERRORS, key) ? SIGN_IN_ERRORS[key] : SIGN_IN_ERRORS.Default;
}
