import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
    const rules = readFileSync(join(DEPLOY, 'sudoers.d/fish'), 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'));
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
    expect(readFileSync(join(root, 'etc/fish/allow-triples'), 'utf8')).toBe(
      'docker-compose-stopped compose-check.sh verify\ndocker-compose-stopped compose-up.sh run\npmxcfs-ro restart-pve-cluster.sh run\n',
    );
    expect(first.stderr).toContain('pve-check.sh (verify of pmxcfs-ro) is not in');
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
    expect(readFileSync(join(root, 'etc/fish/allow-triples'), 'utf8')).toBe('docker-compose-stopped compose-check.sh verify\ndocker-compose-stopped compose-up.sh run\n');
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

describe('fish-wrapper run-time behaviour (no ssh: SSH_ORIGINAL_COMMAND set directly)', () => {
  const dir = join(temp, 'wrapper');
  const scripts = join(dir, 'scripts');
  mkdirSync(scripts, { recursive: true });
  const install = (name: string, body: string) => {
    writeFileSync(join(scripts, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(scripts, name), 0o755);
  };
  install('code.sh', 'echo "verb=$1 env=$FISH_VERB/$FISH_PATTERN_ID cwd=$(pwd) list=${FISH_ALLOW_TRIPLES:-unset}"; exit 3');
  install('stubborn.sh', `trap '' TERM\necho $$ > '${dir}/stubborn.pid'\nwhile :; do sleep 0.2; done`);
  install('sleepy.sh', `echo $$ > '${dir}/sleepy.pid'\nsleep 30`);
  writeFileSync(
    join(dir, 'allow-triples'),
    ['code.sh', 'stubborn.sh', 'sleepy.sh', 'missing.sh'].flatMap((script) => ['run', 'verify', 'rollback'].map((verb) => `p1 ${script} ${verb}`)).join('\n') + '\n',
  );

  /** Runs the wrapper with stdin kept open (like an SSH channel); closes it once `closeStdinAfter` exists. */
  const wrapper = (command: string, env: Record<string, string> = {}, closeStdinAfter?: string) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(join(DEPLOY, 'fish-wrapper'), [], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          SSH_ORIGINAL_COMMAND: command,
          FISH_ALLOW_TRIPLES: join(dir, 'allow-triples'),
          FISH_SCRIPTS_DIR: scripts,
          FISH_KILL_GRACE: '1',
          ...env,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      let poll: NodeJS.Timeout | undefined;
      if (closeStdinAfter !== undefined) {
        poll = setInterval(() => {
          if (existsSync(closeStdinAfter) && readFileSync(closeStdinAfter, 'utf8').trim() !== '') {
            clearInterval(poll);
            child.stdin.end();
          }
        }, 20);
      }
      child.on('close', (code) => {
        clearInterval(poll);
        resolve({ code, stdout, stderr });
      });
    });
  const alive = (pidFile: string) => {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    try {
      process.kill(pid, 0);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  };

  it('passes the verb as $1 and the script exit code through', async () => {
    expect(await wrapper('rollback p1 code.sh')).toMatchObject({ code: 3, stdout: 'verb=rollback env=rollback/p1 cwd=/ list=unset\n' });
  });

  it('its own timeout KILLs a TERM-ignoring script: 137, process gone', async () => {
    const result = await wrapper('run p1 stubborn.sh', { FISH_TIMEOUT: '1' });
    expect(result.code).toBe(137);
    expect(existsSync(join(dir, 'stubborn.pid'))).toBe(true);
    expect(alive(join(dir, 'stubborn.pid'))).toBe(false);
  }, 20_000);

  it('end-of-file on stdin cancels the script (143)', async () => {
    const result = await wrapper('run p1 sleepy.sh', {}, join(dir, 'sleepy.pid'));
    expect(result.code).toBe(143);
    expect(alive(join(dir, 'sleepy.pid'))).toBe(false);
  }, 20_000);

  it('allowed but not installed is 127; bad configuration is 125; not allowed is 126', async () => {
    expect((await wrapper('run p1 missing.sh')).code).toBe(127);
    expect((await wrapper('run p1 code.sh', { FISH_TIMEOUT: '1;id' })).code).toBe(125);
    expect((await wrapper('run p2 code.sh')).code).toBe(126);
    expect((await wrapper('run p1 code.sh', { FISH_ALLOW_TRIPLES: join(dir, 'nonexistent') })).code).toBe(126);
  });
});
