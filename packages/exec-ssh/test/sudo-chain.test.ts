import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSshd, type TestSshd } from '@fish-sre/testkit';
import { createSshExecutor, type SshExecutor } from '../src/index.js';
import { WRAPPER_PATH } from './helpers.js';

// The production chain end to end: sshd forces `sudo -n <wrapper>` for a non-root user, the
// shipped sudoers drop-in (paths substituted) lets that user run the wrapper as root and nothing
// else, and sudo's env_reset strips any FISH_* override. Needs root (creates a user and a file in
// /etc/sudoers.d, both removed afterwards) and the `sudo` package.
const USER = 'fish-e2e';
const SUDOERS_FILE = '/etc/sudoers.d/fish-e2e-test';
const DEPLOY_SUDOERS = new URL('../../../apps/fish/deploy/sudoers.d/fish', import.meta.url);

describe('sshd -> sudo -n fish-wrapper (as installed) -> catalog script as root', () => {
  let dir: string;
  let sshd: TestSshd;
  let executor: SshExecutor;
  let createdUser = false;

  beforeAll(async () => {
    expect(process.getuid?.()).toBe(0);
    dir = mkdtempSync(join(tmpdir(), 'fish-sudo-chain-'));
    chmodSync(dir, 0o755);
    const scripts = join(dir, 'scripts');
    mkdirSync(scripts);
    writeFileSync(join(scripts, 'whoami.sh'), `#!/bin/sh\necho "uid=$(id -u) verb=$1 fishvar=\${FISH_ALLOW_TRIPLES:-unset}"\n`);
    writeFileSync(join(scripts, 'stubborn.sh'), `#!/bin/sh\ntrap '' TERM\necho $$ > '${dir}/stubborn.pid'\nwhile :; do sleep 0.2; done\n`);
    for (const name of ['whoami.sh', 'stubborn.sh']) chmodSync(join(scripts, name), 0o755);
    writeFileSync(join(dir, 'allow-triples'), 'chain-pat whoami.sh verify\nchain-pat stubborn.sh run\n');
    // A permissive list the fish user might try to point the wrapper at: sudo must drop the variable.
    writeFileSync(join(dir, 'evil-allow-triples'), 'chain-pat whoami.sh verify\nevil-pat whoami.sh run\n');
    // The wrapper exactly as shipped, with its default paths pointed at this temp catalog.
    const wrapper = readFileSync(WRAPPER_PATH, 'utf8')
      .replace('${FISH_ALLOW_TRIPLES:-/etc/fish/allow-triples}', `\${FISH_ALLOW_TRIPLES:-${dir}/allow-triples}`)
      .replace('${FISH_SCRIPTS_DIR:-/opt/fish/catalog/scripts}', `\${FISH_SCRIPTS_DIR:-${scripts}}`)
      .replace('${FISH_KILL_GRACE:-5}', '${FISH_KILL_GRACE:-1}');
    expect(wrapper).toContain(`${dir}/allow-triples`);
    writeFileSync(join(dir, 'fish-wrapper'), wrapper);
    chmodSync(join(dir, 'fish-wrapper'), 0o755);

    if (spawnSync('id', [USER]).status !== 0) {
      // Password field `*` (no password) rather than useradd's `!` (locked): sshd refuses locked
      // accounts when UsePAM is off, as in the test sshd.
      execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', dir, '--shell', '/bin/sh', '--password', '*', USER]);
      createdUser = true;
    }
    const sudoers = readFileSync(DEPLOY_SUDOERS, 'utf8')
      .replaceAll('/usr/local/bin/fish-wrapper', join(dir, 'fish-wrapper'))
      .replace(/^fish ALL/m, `${USER} ALL`);
    writeFileSync(join(dir, 'sudoers'), sudoers);
    execFileSync('visudo', ['-cqf', join(dir, 'sudoers')]);
    writeFileSync(SUDOERS_FILE, sudoers, { mode: 0o440 });

    sshd = await startTestSshd({
      username: USER,
      forcedCommand: `sudo -n ${join(dir, 'fish-wrapper')}`,
      env: { FISH_ALLOW_TRIPLES: join(dir, 'evil-allow-triples'), FISH_TIMEOUT: '1' },
    });
    executor = createSshExecutor({
      targets: { box: { host: '127.0.0.1', port: sshd.port, username: USER, privateKey: sshd.privateKey, hostKey: { fingerprint: sshd.hostKeyFingerprint } } },
      killGraceMs: 3000,
      keepAliveIntervalMs: 0,
    });
  });

  afterAll(async () => {
    await executor?.close();
    await sshd?.stop();
    rmSync(SUDOERS_FILE, { force: true });
    if (createdUser) spawnSync('userdel', [USER]);
    try {
      const pid = Number(readFileSync(join(dir, 'stubborn.pid'), 'utf8'));
      if (pid > 1) process.kill(pid, 'SIGKILL');
    } catch {
      // not started or already gone
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the allowed script as root, with SSH_ORIGINAL_COMMAND kept and FISH_* stripped by sudo', async () => {
    const result = await executor.run({ host: 'box', verb: 'verify', patternId: 'chain-pat', script: 'whoami.sh', timeoutMs: 20_000 });
    expect(result.stderr).not.toContain('denied');
    expect(result).toMatchObject({ exitCode: 0, stdout: 'uid=0 verb=verify fishvar=unset\n' });
  });

  it('check() sees the wrapper behind sudo', async () => {
    const result = await executor.check('box');
    expect(result).toMatchObject({ ok: true });
    expect(result.detail).toContain('fish-wrapper is the forced command');
  });

  it('a triple only the injected FISH_ALLOW_TRIPLES would allow is denied (126)', async () => {
    const result = await executor.run({ host: 'box', verb: 'run', patternId: 'evil-pat', script: 'whoami.sh', timeoutMs: 20_000 });
    expect(result.exitCode).toBe(126);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('denied (not-allowed)');
  });

  it('the cancel on timeout goes through sudo: a TERM-ignoring root script is killed', async () => {
    const result = await executor.run({ host: 'box', verb: 'run', patternId: 'chain-pat', script: 'stubborn.sh', timeoutMs: 800 });
    expect(result.timedOut).toBe(true);
    const pid = Number(readFileSync(join(dir, 'stubborn.pid'), 'utf8'));
    const deadline = Date.now() + 5000;
    let alive = true;
    while (alive && Date.now() < deadline) {
      try {
        process.kill(pid, 0);
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        alive = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
      } catch {
        alive = false;
      }
      if (alive) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(alive).toBe(false);
  }, 30_000);
});
