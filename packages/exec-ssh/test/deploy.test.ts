import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The target-host kit in apps/fish/deploy: lint, generated lines, idempotent install on a temp root.
const DEPLOY = fileURLToPath(new URL('../../../apps/fish/deploy/', import.meta.url));
const temp = mkdtempSync(join(tmpdir(), 'fish-deploy-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else out[relative(root, path)] = `${(stat.mode & 0o7777).toString(8)} ${stat.mtimeMs} ${readFileSync(path, 'utf8')}`;
    }
  };
  walk(root);
  return out;
}

describe('deploy kit', () => {
  it('every shell script is shellcheck-clean as POSIX sh', () => {
    const result = spawnSync('shellcheck', ['-s', 'sh', 'fish-wrapper', 'authorized-keys-line.sh', 'install-target.sh'], { cwd: DEPLOY, encoding: 'utf8' });
    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('the sudoers drop-in parses and allows only the wrapper, without arguments', () => {
    const result = spawnSync('visudo', ['-cf', join(DEPLOY, 'sudoers.d/fish')], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    const rules = readFileSync(join(DEPLOY, 'sudoers.d/fish'), 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(rules).toEqual([
      'Defaults!/usr/local/bin/fish-wrapper env_reset, env_keep = "SSH_ORIGINAL_COMMAND SSH_CLIENT", !use_pty, !requiretty, !lecture',
      'fish ALL=(root) NOPASSWD: /usr/local/bin/fish-wrapper ""',
    ]);
  });

  it('authorized-keys-line.sh prints a restricted forced-command line and refuses bad input', () => {
    const keyDir = join(temp, 'key');
    mkdirSync(keyDir);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fish@controller', '-f', join(keyDir, 'id')]);
    const pub = readFileSync(join(keyDir, 'id.pub'), 'utf8').trim().split(' ');
    const line = execFileSync(join(DEPLOY, 'authorized-keys-line.sh'), [join(keyDir, 'id.pub'), '192.168.1.0/24,100.64.0.0/10'], { encoding: 'utf8' });
    expect(line).toBe(`command="sudo -n /usr/local/bin/fish-wrapper",from="192.168.1.0/24,100.64.0.0/10",restrict ${pub[0]} ${pub[1]} fish@controller\n`);
    for (const from of ['', '10.0.0.1 ,x', '10.0.0.1";rm', '*', '10.0.0.1,,10.0.0.2']) {
      const bad = spawnSync(join(DEPLOY, 'authorized-keys-line.sh'), [join(keyDir, 'id.pub'), from], { encoding: 'utf8' });
      expect(bad.status).toBe(2);
      expect(bad.stdout).toBe('');
    }
    const privateKey = spawnSync(join(DEPLOY, 'authorized-keys-line.sh'), [join(keyDir, 'id'), '10.0.0.1'], { encoding: 'utf8' });
    expect(privateKey.status).toBe(2);
  });

  it('install-target.sh installs from a catalog, is idempotent, and mirrors removals', () => {
    const catalog = join(temp, 'catalog');
    mkdirSync(join(catalog, 'scripts'), { recursive: true });
    mkdirSync(join(catalog, 'patterns'));
    writeFileSync(
      join(catalog, 'patterns', 'docker-stopped.yaml'),
      'id: docker-compose-stopped\ntarget_host: penny\nfix:\n  script: compose-up.sh\n  timeout: 60s\nverify:\n  script: "compose-check.sh"\n',
    );
    writeFileSync(join(catalog, 'patterns', 'pve.yml'), "id: 'pmxcfs-ro'\ntarget_host: lancelot\nfix:\n  script: restart-pve-cluster.sh\nverify:\n  script: pve-check.sh\n");
    writeFileSync(join(catalog, 'patterns', 'evil.yaml'), 'id: Evil;rm\nfix:\n  script: ../../bin/sh\n');
    for (const script of ['compose-up.sh', 'compose-check.sh', 'restart-pve-cluster.sh', 'not-referenced.sh']) {
      writeFileSync(join(catalog, 'scripts', script), `#!/bin/sh\necho ${script}\n`);
    }
    const root = join(temp, 'root');
    const keyDir = join(temp, 'key2');
    mkdirSync(keyDir);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id')]);
    const env = { ...process.env, DESTDIR: root, PUBKEY: join(keyDir, 'id.pub'), FROM: '10.0.0.5' };
    const install = () => spawnSync(join(DEPLOY, 'install-target.sh'), [catalog], { env, encoding: 'utf8' });

    const first = install();
    expect(first.status).toBe(0);
    expect(first.stderr).toContain('pve-check.sh is referenced but not in');
    expect(readFileSync(join(root, 'etc/fish/allow-list'), 'utf8')).toBe('docker-compose-stopped\npmxcfs-ro\n');
    expect(readFileSync(join(root, 'etc/fish/allow-scripts'), 'utf8')).toBe('compose-check.sh\ncompose-up.sh\nrestart-pve-cluster.sh\n');
    expect(readdirSync(join(root, 'opt/fish/catalog/scripts')).sort()).toEqual(['compose-check.sh', 'compose-up.sh', 'restart-pve-cluster.sh']);
    expect(statSync(join(root, 'usr/local/bin/fish-wrapper')).mode & 0o777).toBe(0o755);
    expect(statSync(join(root, 'etc/sudoers.d/fish')).mode & 0o777).toBe(0o440);
    expect(readFileSync(join(root, 'var/lib/fish-target/.ssh/authorized_keys'), 'utf8')).toMatch(/^command="sudo -n \/usr\/local\/bin\/fish-wrapper",from="10\.0\.0\.5",restrict ssh-ed25519 /);

    const before = snapshot(root);
    const second = install();
    expect(second.status).toBe(0);
    expect(second.stdout).not.toMatch(/installed|removed|created/);
    expect(snapshot(root)).toEqual(before);

    rmSync(join(catalog, 'patterns', 'pve.yml'));
    const third = install();
    expect(third.status).toBe(0);
    expect(third.stdout).toContain('removed');
    expect(readFileSync(join(root, 'etc/fish/allow-list'), 'utf8')).toBe('docker-compose-stopped\n');
    expect(readdirSync(join(root, 'opt/fish/catalog/scripts')).sort()).toEqual(['compose-check.sh', 'compose-up.sh']);
  });

  it('fish.service is hardened', () => {
    const unit = readFileSync(join(DEPLOY, 'fish.service'), 'utf8');
    for (const directive of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'StateDirectory=fish', 'ProtectHome=yes', 'PrivateTmp=yes', 'CapabilityBoundingSet=\n']) {
      expect(unit).toContain(directive);
    }
    const verify = spawnSync('systemd-analyze', ['verify', join(DEPLOY, 'fish.service')], { encoding: 'utf8' });
    if (verify.error === undefined) expect(verify.stderr).not.toMatch(/Unknown key|Invalid|Failed to parse/i);
  });
});
