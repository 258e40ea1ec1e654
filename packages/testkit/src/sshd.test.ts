import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSshd, type TestSshd } from './sshd.js';

// startTestSshd drives a real /usr/sbin/sshd; checked here with the OpenSSH client.
describe('startTestSshd', () => {
  let sshd: TestSshd;
  const ssh = (command: string) => {
    const knownHosts = join(sshd.dir, 'client_known_hosts');
    writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
    return spawnSync(
      'ssh',
      ['-i', sshd.privateKeyPath, '-p', String(sshd.port), '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `${sshd.username}@127.0.0.1`, command],
      { encoding: 'utf8', input: '' },
    );
  };

  beforeAll(async () => {
    sshd = await startTestSshd({ forcedCommand: 'echo "forced:$SSH_ORIGINAL_COMMAND:$FISH_X"', env: { FISH_X: 'set-by-setenv' } });
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  it('runs the forced command with SSH_ORIGINAL_COMMAND and SetEnv, verified against known_hosts', () => {
    const result = ssh('whatever you ask');
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('forced:whatever you ask:set-by-setenv\n');
  });

  it('reports the host key fingerprint exactly as ssh-keygen does', () => {
    const printed = execFileSync('ssh-keygen', ['-lf', join(sshd.dir, 'host_ed25519.pub')], { encoding: 'utf8' });
    expect(printed.split(' ')[1]).toBe(sshd.hostKeyFingerprint);
  });

  it('the key is restricted: no pty, no port forwarding', () => {
    const forward = spawnSync(
      'ssh',
      [
        '-i',
        sshd.privateKeyPath,
        '-p',
        String(sshd.port),
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'ExitOnForwardFailure=yes',
        '-L',
        '0:127.0.0.1:9',
        `${sshd.username}@127.0.0.1`,
        'x',
      ],
      { encoding: 'utf8', input: '' },
    );
    expect(forward.status).not.toBe(0);
  });

  it('restart keeps the port; newHostKey changes the fingerprint; stop closes the port', async () => {
    const port = sshd.port;
    const before = sshd.hostKeyFingerprint;
    await sshd.restart({ newHostKey: true });
    expect(sshd.port).toBe(port);
    expect(sshd.hostKeyFingerprint).not.toBe(before);
    expect(ssh('again').stdout).toBe('forced:again:set-by-setenv\n');
    const dir = sshd.dir;
    await sshd.stop();
    expect(existsSync(dir)).toBe(false);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  }, 30_000);
});
