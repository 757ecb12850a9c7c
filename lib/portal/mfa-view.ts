/** What the second-factor forms get back from their server actions. */
export type MfaFormState =
  | { status: 'idle' }
  | { status: 'refused'; message: string }
  /** Enrollment confirmed: the recovery codes, shown this once, and where to go next. */
  | { status: 'enrolled'; recoveryCodes: string[]; next: string }
  | { status: 'regenerated'; recoveryCodes: string[] };

export const MFA_MESSAGES = {
  wrong_code: 'That code is not right, or was used already. Try the next code your app shows, or a recovery code.',
  rate_limited: 'Too many wrong codes. Wait a few minutes before trying again.',
  not_found: 'This enrollment has expired. Reload the page to start again.',
  not_from_portal: 'This request did not come from the Kubegate portal. Reload the page and try again.',
} as const;
