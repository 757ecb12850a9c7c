import { describe, expect, test } from 'vitest';
import { credentialSpec, oidcLoginViews, renderAllShells } from './cluster-view';
import { compact, displayOf, scriptOf } from './shell-script';
import { ClusterSchema } from '../config/schema';

const CA = `-----BEGIN CERTIFICATE-----\n${'MIIB'.repeat(60)}\n-----END CERTIFICATE-----\n`;
const cluster = {
  ...ClusterSchema.parse({ name: 'prod', server: 'https://prod.example.com:6443', client_id: 'kubernetes-prod', client_secret: 'cl"ient $ecret' }),
  ca_pem: CA,
};
const tokens = { idToken: `eyJ${'a'.repeat(300)}.eyJ${'b'.repeat(300)}.${'c'.repeat(80)}`, refreshToken: 'r'.repeat(64) };
const text = (parts: { text: string }[] | undefined) => parts?.map((p) => p.text).join('');

describe('compact shell renderings', () => {
  const all = [
    ...renderAllShells(credentialSpec({ url: 'https://kubegate.example.com' }, cluster, 'alice', tokens)),
    ...oidcLoginViews({ url: 'https://kubegate.example.com', ca_pem: CA }, cluster).flatMap((v) => v.renderings),
  ];

  test('the script and its display form are rebuilt exactly from the steps, for every shell and flow', () => {
    // The hostile client secret leaves some shells unavailable: those are covered too.
    expect(all.filter((r) => r.display !== undefined).length).toBeGreaterThanOrEqual(6);
    for (const r of all) {
      const c = compact(r);
      expect(c).not.toHaveProperty('script');
      expect(c).not.toHaveProperty('display');
      expect(scriptOf(c), r.shell).toBe(r.script);
      expect(text(displayOf(c)), r.shell).toBe(text(r.display));
      expect(displayOf(c)?.filter((p) => p.shortened).map((p) => p.text)).toEqual(r.display?.filter((p) => p.shortened).map((p) => p.text));
    }
  });

  test('a shell that cannot carry the values stays unavailable', () => {
    const r = { shell: 'cmd' as const, label: 'cmd.exe', unavailable: 'no' };
    expect(scriptOf(compact(r))).toBeUndefined();
    expect(displayOf(compact(r))).toBeUndefined();
  });
});
