// A layered catalog (`catalog: [bundled, ./mine]`) on a target: `fish-sre catalog export-target`
// writes the triples and scripts of the catalog as fish loads it, the real install-target.sh
// installs them, and the real fish-wrapper behind a real sshd runs exactly what that allows.
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSshExecutor, type SshExecutor } from '@fish-sre/exec-ssh';
import { startTestSshd, type TestSshd } from '@fish-sre/testkit';

const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const DEPLOY = resolve(import.meta.dirname, '../deploy');
const SEED = resolve(import.meta.dirname, '../../../catalog');

const OWN_PATTERN = `id: backup-locked
title: Backup repository locked
target_host: $event_host
required_signals:
  - id: locked
    log:
      message: 'repository is already locked'
      service: restic
diagnosis: Another backup holds the lock.
fix:
  script: restic-unlock.sh
  timeout: 1m
verify:
  # A script of the layer below: the catalog looks it up there, and so must the target.
  script: data-dir-owners.sh
  timeout: 1m
samples:
  match: [{ message: "Fatal: unable to create lock in backend: repository is already locked by PID 1", service: restic }]
`;

const root = mkdtempSync(join(tmpdir(), 'fish-target-layers-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function script(path: string, body: string) {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

/** The own layer: a new pattern with its own script, a seed pattern overridden, one disabled. */
function ownLayer(name: string): string {
  const mine = join(root, name);
  mkdirSync(join(mine, 'patterns'), { recursive: true });
  mkdirSync(join(mine, 'scripts'));
  writeFileSync(join(mine, 'patterns', 'backup-locked.yaml'), OWN_PATTERN);
  script(join(mine, 'scripts', 'restic-unlock.sh'), 'echo "unlocked by $FISH_PATTERN_ID verb=$1"');
  const seed = readFileSync(join(SEED, 'patterns', 'apt-security-updates-pending.yaml'), 'utf8');
  expect(seed).toContain('script: apt-security-upgrade.sh');
  writeFileSync(join(mine, 'patterns', 'apt-security-updates-pending.yaml'), seed.replaceAll('script: apt-security-upgrade.sh', 'script: apt-upgrade-mine.sh'));
  script(join(mine, 'scripts', 'apt-upgrade-mine.sh'), 'echo "mine $1"');
  writeFileSync(join(mine, 'patterns', 'docker-compose-stopped-post-reboot.yaml'), 'id: docker-compose-stopped-post-reboot\ndisabled: true\nreason: no compose stacks here\n');
  return mine;
}

const cli = (args: string[]) =>
  promisify(execFile)(process.execPath, [CLI, ...args], { timeout: 25_000 }).then(
    (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );

describe('install-target.sh with a layered catalog', () => {
  let sshd: TestSshd;
  let executor: SshExecutor;
  let triples: string[];
  const target = join(root, 'target');

  beforeAll(async () => {
    chmodSync(root, 0o755);
    const mine = ownLayer('mine');
    const out = join(root, 'export');
    const exported = await cli(['catalog', 'export-target', '--out', out, '--catalog', 'bundled', '--catalog', mine]);
    expect(exported.stderr).toBe('');
    expect(exported.stdout).toMatch(/^exported \d+ allowed triple\(s\) and \d+ script\(s\) of \d+ patterns from bundled \+ /);
    expect(exported.stdout).toContain('docker-compose-stopped-post-reboot: disabled, not allowed');
    expect(exported.code).toBe(0);
    const install = spawnSync(join(DEPLOY, 'install-target.sh'), [out], { env: { ...process.env, DESTDIR: target }, encoding: 'utf8' });
    expect(install.stderr).toBe('');
    expect(install.status).toBe(0);
    triples = readFileSync(join(target, 'etc/fish/allow-triples'), 'utf8').trim().split('\n');
    sshd = await startTestSshd({
      forcedCommand: join(DEPLOY, 'fish-wrapper'),
      env: {
        FISH_ALLOW_TRIPLES: join(target, 'etc/fish/allow-triples'),
        FISH_SCRIPTS_DIR: join(target, 'opt/fish/catalog/scripts'),
        FISH_DENY_LOG: join(root, 'deny.log'),
        FISH_KILL_GRACE: '1',
        FISH_TIMEOUT: '20',
      },
    });
    executor = createSshExecutor({
      targets: { box: { host: '127.0.0.1', port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, hostKey: { fingerprint: sshd.hostKeyFingerprint } } },
      keepAliveIntervalMs: 0,
    });
  }, 60_000);

  afterAll(async () => {
    await executor?.close();
    await sshd?.stop();
  });

  it('allows the layered result: the own pattern (its script and a lower layer’s), the override’s script, not the disabled pattern', () => {
    expect(triples).toContain('backup-locked restic-unlock.sh run');
    expect(triples).toContain('backup-locked data-dir-owners.sh verify');
    expect(triples.filter((line) => line.startsWith('apt-security-updates-pending '))).toEqual([
      'apt-security-updates-pending apt-upgrade-mine.sh run',
      'apt-security-updates-pending apt-upgrade-mine.sh verify',
    ]);
    expect(triples.filter((line) => line.startsWith('docker-compose-stopped-post-reboot '))).toEqual([]);
    const installed = readdirSync(join(target, 'opt/fish/catalog/scripts'));
    expect(installed).toEqual(expect.arrayContaining(['restic-unlock.sh', 'apt-upgrade-mine.sh', 'data-dir-owners.sh']));
    // Nothing left allows them: the seed scripts of the overridden and the disabled pattern are not installed.
    expect(installed).not.toContain('apt-security-upgrade.sh');
    expect(installed).not.toContain('compose-up-stacks.sh');
  });

  it('runs the own pattern’s script through sshd and the wrapper, and refuses the disabled and the overridden seed triples', async () => {
    const request = (patternId: string, scriptName: string) => ({ host: 'box', verb: 'run' as const, patternId, script: scriptName, timeoutMs: 15_000 });
    const own = await executor.run(request('backup-locked', 'restic-unlock.sh'));
    expect(own).toMatchObject({ exitCode: 0, stdout: 'unlocked by backup-locked verb=run\n' });
    for (const [patternId, scriptName] of [
      ['docker-compose-stopped-post-reboot', 'compose-up-stacks.sh'],
      ['apt-security-updates-pending', 'apt-security-upgrade.sh'],
    ] as const) {
      const refused = await executor.run(request(patternId, scriptName));
      expect(refused.exitCode).toBe(126);
      expect(refused.stderr).toContain('fish-wrapper: denied');
    }
  });

  it('refuses to export two different scripts of one name, which a target cannot hold side by side', async () => {
    const mine = ownLayer('clash');
    script(join(mine, 'scripts', 'data-dir-owners.sh'), 'echo "not the seed script"');
    const result = await cli(['catalog', 'export-target', '--out', join(root, 'clash-export'), '--catalog', 'bundled', '--catalog', mine]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^catalog export-target REFUSED: .*\n {2}two different scripts named "data-dir-owners\.sh": /);
    expect(spawnSync('ls', [join(root, 'clash-export')]).status).not.toBe(0);
  });

  it('refuses a folder that holds files and is not an earlier export', async () => {
    const result = await cli(['catalog', 'export-target', '--out', join(root, 'mine'), '--catalog', 'bundled']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('is not an earlier export (no allow-triples in it)');
    expect(readdirSync(join(root, 'mine', 'scripts')).sort()).toEqual(['apt-upgrade-mine.sh', 'restic-unlock.sh']);
  });
});
