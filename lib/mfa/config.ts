import type { MfaPolicy } from './policy';

/** The MFA policy the config file states (`mfa:`). */
export function mfaPolicyOf(config: { mfa: { required: boolean; required_groups: string[] } }): MfaPolicy {
  return { everyone: config.mfa.required, groups: config.mfa.required_groups };
}
