import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { minimalYaml } from '../../test/support/fixtures';
import { loadKek } from '../crypto/kek';
import { configEnvironment, issuerNotice, localUrl, locateConfig } from './bootstrap';
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

      const config = loadConfigFile(file, configEnvironment({ PORT: '4123' }).env);
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

    it('writes a key-encryption key beside it, 0600, that the config names', async () => {
      const { file } = locateConfig({}, cwd);
      const keyFile = path.join(cwd, 'data', 'kubegate.key');
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'base64')).toHaveLength(32);
      const config = loadConfigFile(file, configEnvironment({}).env);
      expect(config.secrets.key_encryption_key_file).toBe(keyFile);
      const { kek, warning } = await loadKek({ env: {}, file: config.secrets.key_encryption_key_file, configFile: file });
      expect(warning).toBeUndefined();
      expect(kek.source).toContain(keyFile);
    });

    it('keeps a key file that is already there (a database beside it may be encrypted with it)', () => {
      const keyFile = write('data/kubegate.key', 'the-old-key\n');
      locateConfig({}, cwd);
      expect(fs.readFileSync(keyFile, 'utf8')).toBe('the-old-key\n');
    });

    // Regression: `npm start`, then `PORT=4000 npm start`, served a portal and discovery pointing at port 3000.
    it('follows PORT and HOST on every start, not only the first', () => {
      const { file } = locateConfig({ PORT: '3000' }, cwd);
      const text = fs.readFileSync(file, 'utf8');
      const at = (env: Record<string, string>) => loadConfigFile(file, configEnvironment(env).env).issuer.url;
      expect(at({ PORT: '3000' })).toBe('http://localhost:3000');
      expect(at({ PORT: '4000' })).toBe('http://localhost:4000');
      expect(at({ PORT: '4000', HOST: '127.0.0.1' })).toBe('http://127.0.0.1:4000');
      expect(at({})).toBe('http://localhost:3000');
      expect(fs.readFileSync(file, 'utf8')).toBe(text);
    });

    it('says at start-up what the issuer URL is and why', () => {
      const { file } = locateConfig({}, cwd);
      const ce = configEnvironment({ PORT: '4000' });
      const config = loadConfigFile(file, ce.env);
      expect(issuerNotice(config.issuer.url, file, ce.local, ce.followsListenAddress())).toBe(
        `kubegate: issuer URL http://localhost:4000: ${file} sets issuer.url to \${KUBEGATE_LOCAL_URL}, which follows where Kubegate listens ` +
          'on every start (PORT=4000, HOST not set (localhost)). Put your https URL there to fix it.',
      );
      // A config with its own issuer.url says so, whatever PORT is.
      const own = write('kubegate.yaml');
      const ce2 = configEnvironment({ PORT: '4000' });
      const c2 = loadConfigFile(own, ce2.env);
      expect(issuerNotice(c2.issuer.url, own, ce2.local, ce2.followsListenAddress())).toBe(
        `kubegate: issuer URL https://kubegate.example.com: issuer.url in ${own}.`,
      );
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

describe('localUrl: where a browser on this machine reaches Kubegate', () => {
  it.each([
    [{}, 'http://localhost:3000', 'PORT not set (3000), HOST not set (localhost)'],
    [{ PORT: '4000' }, 'http://localhost:4000', 'PORT=4000, HOST not set (localhost)'],
    [{ HOST: 'localhost' }, 'http://localhost:3000', 'PORT not set (3000), HOST=localhost'],
    [{ HOST: '127.0.0.2', PORT: '8080' }, 'http://127.0.0.2:8080', 'PORT=8080, HOST=127.0.0.2'],
    [{ HOST: '::1' }, 'http://[::1]:3000', 'PORT not set (3000), HOST=::1'],
    [{ HOST: '0.0.0.0' }, 'http://localhost:3000', 'PORT not set (3000), HOST=0.0.0.0 (every interface; the URL uses localhost)'],
    [{ HOST: '::' }, 'http://localhost:3000', 'PORT not set (3000), HOST=:: (every interface; the URL uses localhost)'],
    [
      { HOST: '192.0.2.7' },
      'http://localhost:3000',
      'PORT not set (3000), HOST=192.0.2.7 (not loopback, and an http issuer must be: the URL uses localhost; set issuer.url to your https URL)',
    ],
  ])('%j → %s', (env, url, why) => {
    expect(localUrl(env)).toEqual({ url, why });
  });

  it('is computed, never taken from the environment', () => {
    const ce = configEnvironment({ KUBEGATE_LOCAL_URL: 'https://evil.example.com', PORT: '5000' });
    expect(ce.followsListenAddress()).toBe(false);
    expect(ce.env.KUBEGATE_LOCAL_URL).toBe('http://localhost:5000');
    expect(ce.followsListenAddress()).toBe(true);
  });
});
