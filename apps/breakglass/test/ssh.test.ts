import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FishErrorCode } from '@fish-sre/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planToolCall } from '../src/agent/tools.js';
import { createSshPowerBackend } from '../src/power/ssh-power-backend.js';
import { PowerService } from '../src/power/power-service.js';
import { quoteArgv, sshExec } from '../src/ssh/ssh-exec.js';
import { INJECTION_CORPUS } from './fixtures.js';
import { SshConnectionPool } from '@fish-sre/exec-ssh';
import { startTestSshd, type TestSshd } from '@fish-sre/testkit';

const SCRIPT = new URL('../deploy/breakglass-pve', import.meta.url).pathname;

/** A stand-in for Proxmox's `qm`: keeps the VM state in a file and logs each argv. */
const FAKE_QM = `#!/bin/sh
STATE="$(dirname "$0")/vm-state"
[ -f "$STATE" ] || echo running > "$STATE"
printf '%s\\n' "$*" >> "$(dirname "$0")/qm-calls"
case "$1" in
  status) echo "status: $(cat "$STATE")"; if [ "\${3:-}" = --verbose ]; then echo "pid: 4242"; fi ;;
  config) echo "memory: 8192"; echo "cores: 4" ;;
  stop) echo stopped > "$STATE" ;;
  start) if [ "$(cat "$STATE")" = running ]; then echo "VM $2 already running" >&2; exit 2; fi; echo running > "$STATE" ;;
  reset) [ "$(cat "$STATE")" = running ] || { echo "VM $2 not running" >&2; exit 2; } ;;
  *) echo "unknown command" >&2; exit 255 ;;
esac
`;

let vm: TestSshd;
let pve: TestSshd;
let pool: SshConnectionPool;
let gateDir: string;

beforeAll(async () => {
  gateDir = await mkdtemp(join(tmpdir(), 'bg-gate-'));
  await writeFile(join(gateDir, 'qm'), FAKE_QM, { mode: 0o755 });
  [vm, pve] = await Promise.all([
    startTestSshd(),
    startTestSshd({ forcedCommand: `${SCRIPT} --qm ${join(gateDir, 'qm')} --log-dir ${join(gateDir, 'pve-log')} --stop-timeout 5 102`, authorizedKeyOptions: ['from="127.0.0.1"'] }),
  ]);
  pool = new SshConnectionPool({
    targets: {
      vm: { host: vm.host, port: vm.port, username: vm.username, privateKey: vm.privateKey, hostKey: { fingerprint: vm.hostKeyFingerprint } },
      hypervisor: { host: pve.host, port: pve.port, username: pve.username, privateKey: pve.privateKey, hostKey: { fingerprint: pve.hostKeyFingerprint } },
      impostor: { host: vm.host, port: vm.port, username: vm.username, privateKey: vm.privateKey, hostKey: { fingerprint: pve.hostKeyFingerprint } },
    },
  });
});
afterAll(async () => {
  await pool?.close();
  await Promise.all([vm?.stop(), pve?.stop()]);
  await rm(gateDir, { recursive: true, force: true });
});

const exec = (argv: string[], options: { timeoutMs?: number; outputLimitBytes?: number } = {}) => sshExec(pool, 'vm', quoteArgv(argv), { timeoutMs: options.timeoutMs ?? 10_000, outputLimitBytes: options.outputLimitBytes ?? 65_536 });

describe('SSH exec on the target VM (real sshd)', () => {
  it('passes argv words literally: no shell syntax is interpreted', async () => {
    const marker = join(gateDir, 'pwned');
    const result = await exec(['printf', '%s|', 'a;b', '$(id)', "it's", `\`touch ${marker}\``, '*', 'x && touch ' + marker]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(`a;b|$(id)|it's|\`touch ${marker}\`|*|x && touch ${marker}|`);
    expect(existsSync(marker)).toBe(false);
  });

  it('caps output and says so', async () => {
    const result = await exec(['head', '-c', '100000', '/dev/zero'], { outputLimitBytes: 1000 });
    expect(result.stdout).toMatch(/output truncated, 99000 more bytes/);
  });

  it('ends a command at its timeout', async () => {
    const started = Date.now();
    const result = await exec(['sleep', '30'], { timeoutMs: 400 });
    expect(result.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it('refuses a host whose key does not match the pin', async () => {
    await expect(sshExec(pool, 'impostor', quoteArgv(['true']), { timeoutMs: 5000, outputLimitBytes: 100 })).rejects.toMatchObject({ code: FishErrorCode.EXECUTOR_HOST_KEY });
  });

  it('runs read_file and search_files with their fixed argv', async () => {
    const file = join(gateDir, 'app.log');
    await writeFile(file, 'ok\nERROR disk full on /var\nok\n');
    const read = planToolCall('read_file', { path: file }, { outputLimitBytes: 10 });
    expect((await exec(read.argv)).stdout).toBe('ok\nERROR d');
    const search = planToolCall('search_files', { pattern: 'disk full', path: gateDir, fixedString: true }, { outputLimitBytes: 1000 });
    expect((await exec(search.argv)).stdout).toContain('app.log:2:ERROR disk full on /var');
    const tricky = planToolCall('search_files', { pattern: '--include=*; touch /tmp/x', path: gateDir }, { outputLimitBytes: 1000 });
    expect(tricky.argv).toContain('-e');
    expect((await exec(tricky.argv)).exitCode).toBe(1);
  });
});

describe('hypervisor forced command (deploy/breakglass-pve behind a real sshd)', () => {
  const qmCalls = async () => (await readFile(join(gateDir, 'qm-calls'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
  const backend = () => createSshPowerBackend({ pool, target: 'hypervisor', timeoutMs: 20_000 });

  it('is shellcheck-clean POSIX sh', () => {
    expect(() => execFileSync('shellcheck', ['-s', 'sh', SCRIPT])).not.toThrow();
  });

  it('reports status', async () => {
    const result = await backend().run('status', AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: true, state: 'running' });
  });

  it('runs cycle as stop, wait, start, with forensics saved first', async () => {
    await writeFile(join(gateDir, 'qm-calls'), '');
    const service = new PowerService({ backend: backend(), timeoutMs: 30_000 });
    const result = await service.run('cycle', { confirm: true, actor: 'test' });
    expect(result.ok).toBe(true);
    expect(result.output).toMatch(/forensics: saved to .*forensics-102-/);
    expect(result.output).toMatch(/status: running$/);
    const calls = await qmCalls();
    const firstMutation = calls.findIndex((call) => call === 'stop 102');
    expect(calls.slice(0, firstMutation)).toEqual(expect.arrayContaining(['status 102 --verbose', 'config 102']));
    expect(calls.slice(firstMutation)).toEqual(expect.arrayContaining(['stop 102', 'start 102']));
    expect(calls.indexOf('start 102')).toBeGreaterThan(firstMutation);
    const saved = await readdir(join(gateDir, 'pve-log'));
    expect(saved.some((name) => name.startsWith('forensics-102-'))).toBe(true);
  });

  it('reports a failing qm as a failure (reset on a stopped VM)', async () => {
    await writeFile(join(gateDir, 'vm-state'), 'stopped\n');
    const result = await backend().run('reset', AbortSignal.timeout(10_000));
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/not running/);
    await writeFile(join(gateDir, 'vm-state'), 'running\n');
  });

  it('denies anything but an allow-listed verb on the host, and logs it (the host enforces its own list)', async () => {
    await writeFile(join(gateDir, 'qm-calls'), '');
    for (const raw of [...INJECTION_CORPUS.filter((value) => value.length > 0 && !value.includes('\0')).slice(0, 8), 'status; touch /tmp/bg-pwned']) {
      const result = await sshExec(pool, 'hypervisor', raw, { timeoutMs: 10_000, outputLimitBytes: 10_000 });
      expect(result.exitCode, raw).toBe(3);
      expect(result.stderr).toMatch(/denied/);
    }
    expect(existsSync('/tmp/bg-pwned')).toBe(false);
    expect(await qmCalls()).toEqual([]);
    const audit = await readFile(join(gateDir, 'pve-log', 'audit.log'), 'utf8');
    expect(audit).toMatch(/denied: verb 'status\? touch \?tmp\?bg-pwned' from 127\.0\.0\.1 for VM 102/);
  }, 30_000);
});
