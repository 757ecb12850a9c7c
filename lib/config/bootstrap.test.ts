import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { minimalYaml } from '../../test/support/fixtures';
import { locateConfig } from './bootstrap';
import { ConfigError, loadConfigFile } from './load';

let cwd: string;
beforeEach(() => {
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'kubegate-bootstrap-'));
});
afterEach(() => fs.rmSync(cwd, { recursive: true, force: true }));

const write = (rel: string, text = minimalYaml()) => {
  const file = path.join(cwd, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
};

describe('locateConfig', () => {
  it.each([
    ['a relative KUBEGATE_CONFIG, against the working directory', 'etc/custom.yaml', 'etc/custom.yaml'],
    ['an absolute KUBEGATE_CONFIG', 'ABS', 'etc/custom.yaml'],
  ])('uses %s', (_, given, rel) => {
    const file = write(rel);
    write('kubegate.yaml'); // KUBEGATE_CONFIG wins over ./kubegate.yaml
    expect(locateConfig({ KUBEGATE_CONFIG: given === 'ABS' ? file : given }, cwd)).toEqual({ file });
    expect(fs.existsSync(path.join(cwd, 'data'))).toBe(false);
  });

  it('refuses a KUBEGATE_CONFIG that does not exist, rather than generating a default', () => {
    write('kubegate.yaml');
    expect(() => locateConfig({ KUBEGATE_CONFIG: 'missing.yaml' }, cwd)).toThrow(ConfigError);
    try {
      locateConfig({ KUBEGATE_CONFIG: 'missing.yaml' }, cwd);
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(['KUBEGATE_CONFIG names a file that does not exist']);
      expect((err as ConfigError).message).toContain(path.join(cwd, 'missing.yaml'));
    }
    expect(fs.existsSync(path.join(cwd, 'data'))).toBe(false);
  });

  it('uses ./kubegate.yaml when present, before any embedded default', () => {
    const file = write('kubegate.yaml');
    write('data/kubegate.yaml');
    expect(locateConfig({}, cwd)).toEqual({ file });
  });

  it('uses an existing data/kubegate.yaml without regenerating it', () => {
    const file = write('data/kubegate.yaml', '# mine\n' + minimalYaml());
    expect(locateConfig({}, cwd)).toEqual({ file });
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^# mine\n/);
  });

  describe('the embedded default, generated on first start', () => {
    it('is written once, 0600, valid, with a password that matches its bcrypt hash', () => {
      const first = locateConfig({ PORT: '4123' }, cwd);
      const file = path.join(cwd, 'data', 'kubegate.yaml');
      expect(first.file).toBe(file);
      expect(first.generated?.username).toBe('demo');
      const password = first.generated!.password;
      expect(password.length).toBeGreaterThanOrEqual(20);

      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.dirname(file)).mode & 0o077).toBe(0);
      const text = fs.readFileSync(file, 'utf8');
      // The password is shown once and never stored in clear.
      expect(text).not.toContain(password);

      const config = loadConfigFile(file, {});
      expect(config.issuer.url).toBe('http://localhost:4123');
      expect(config.issuer.id_token_lifetime).toBe(60);
      expect(config.storage.sqlite!.path).toBe(path.join(cwd, 'data', 'kubegate.db'));
      const demo = config.users.find((u) => u.username === 'demo');
      expect(demo).toBeDefined();
      expect(bcrypt.compareSync(password, demo!.password_hash)).toBe(true);
      expect(config.upstreams.some((u) => u.type === 'local')).toBe(true);
      expect(config.clusters.map((c) => c.client_id)).toEqual(['kubernetes']);

      // Second start: the same file, untouched, and no password to show.
      const before = fs.statSync(file).mtimeMs;
      const second = locateConfig({ PORT: '4123' }, cwd);
      expect(second).toEqual({ file });
      expect(fs.readFileSync(file, 'utf8')).toBe(text);
      expect(fs.statSync(file).mtimeMs).toBe(before);
    });

    it('goes to KUBEGATE_DATA_DIR when set', () => {
      const dataDir = path.join(cwd, 'var', 'lib', 'kubegate');
      const file = write('var/lib/kubegate/kubegate.yaml');
      expect(locateConfig({ KUBEGATE_DATA_DIR: dataDir }, cwd)).toEqual({ file });
      // Relative, against the working directory.
      expect(locateConfig({ KUBEGATE_DATA_DIR: 'var/lib/kubegate' }, cwd)).toEqual({ file });
    });
  });
});
