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
import { INJECTION_CORPUS } from './fixtures.js';
import { GATE_SCRIPT, createFakePve, type FakePve } from './fake-pve.js';
import { createSshPool, type SshPool } from '@fish-sre/exec-ssh';
import { startTestSshd, type TestSshd } from '@fish-sre/testkit';

const SCRIPT = GATE_SCRIPT;

let vm: TestSshd;
let pve: TestSshd;
let pool: SshPool;
let gateDir: string;
let fake: FakePve;

beforeAll(async () => {
  fake = await createFakePve();
  gateDir = fake.dir;
  [vm, pve] = await Promise.all([startTestSshd(), startTestSshd({ forcedCommand: fake.forcedCommand, authorizedKeyOptions: ['from="127.0.0.1"'] })]);
  pool = createSshPool({
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

const exec = (argv: string[], options: { timeoutMs?: number; outputLimitBytes?: number } = {}) =>
  pool.run('vm', { argv }, { timeoutMs: options.timeoutMs ?? 10_000, outputLimitBytes: options.outputLimitBytes ?? 65_536, killGraceMs: 1000, closeAfterKillMs: 500 });

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
    await expect(pool.run('impostor', { argv: ['true'] }, { timeoutMs: 5000, outputLimitBytes: 100 })).rejects.toMatchObject({ code: FishErrorCode.EXECUTOR_HOST_KEY });
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

  const forensicsFiles = async () => (await readdir(join(gateDir, 'pve-log')).catch(() => [] as string[])).filter((name) => name.startsWith('forensics-102-'));

  it('runs cycle as ACPI shutdown (with its timeout), then start, every qm under timeout, forensics captured once', async () => {
    await fake.reset();
    const before = (await forensicsFiles()).length;
    const service = new PowerService({ backend: backend(), timeoutMs: 30_000, forensicsTimeoutMs: 5000 });
    const result = await service.run('cycle', { confirm: true, actor: 'test' });
    expect(result.ok, result.output).toBe(true);
    expect(result.output).toMatch(/forensics: saved to .*forensics-102-/);
    expect(result.output).toMatch(/shutdown: ACPI power button, waiting up to 3s\nshutdown: done\nstart: starting\nstatus: running$/);
    expect(result.state).toBe('running');
    const calls = await fake.qmCalls();
    const mutations = calls.filter((call) => /^(shutdown|stop|start|reset) /.test(call));
    expect(mutations).toEqual(['shutdown 102 --timeout 3', 'start 102']);
    expect(calls.indexOf('config 102')).toBeLessThan(calls.indexOf('shutdown 102 --timeout 3'));
    expect(calls.filter((call) => call === 'config 102')).toHaveLength(1);
    expect(await fake.qmParents()).toEqual(calls.map(() => 'timeout'));
    expect((await forensicsFiles()).length).toBe(before + 1);
    expect(result.forensics).toBeUndefined();
  });

  it('runs cycle as shutdown, then a hard stop with its timeout when the guest ignores the ACPI button, then start', async () => {
    await fake.reset();
    await fake.set('acpi-ignored', '');
    try {
      const service = new PowerService({ backend: backend(), timeoutMs: 30_000 });
      const result = await service.run('cycle', { confirm: true, actor: 'test' });
      expect(result.ok, result.output).toBe(true);
      expect(result.output).toMatch(/shutdown: the guest did not power off in time\nstop: hard stop, waiting up to 5s\nstart: starting\nstatus: running\n/);
      expect((await fake.qmCalls()).filter((call) => /^(shutdown|stop|start) /.test(call))).toEqual(['shutdown 102 --timeout 3', 'stop 102 --timeout 5', 'start 102']);
      expect(new Set(await fake.qmParents())).toEqual(new Set(['timeout']));
    } finally {
      await fake.set('acpi-ignored', undefined);
    }
  });

  it('runs shutdown as the ACPI button with a timeout, and reports a guest that ignores it as a failure', async () => {
    await fake.set('acpi-ignored', '');
    try {
      const result = await backend().run('shutdown', AbortSignal.timeout(20_000));
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(/powerdown failed - got timeout/);
    } finally {
      await fake.set('acpi-ignored', undefined);
    }
    await fake.reset();
    const result = await backend().run('shutdown', AbortSignal.timeout(20_000));
    expect(result).toMatchObject({ ok: true, state: 'stopped' });
    expect((await fake.qmCalls()).filter((call) => call.startsWith('shutdown'))).toEqual(['shutdown 102 --timeout 3']);
    await fake.set('vm-state', 'running\n');
  });

  it('answers the read-only hypervisor views through the forced command', async () => {
    const config = await backend().inspect('config', AbortSignal.timeout(10_000));
    expect(config).toMatchObject({ ok: true });
    expect(config.output).toContain('memory: 8192');
    expect((await backend().inspect('tasks', AbortSignal.timeout(10_000))).output).toMatch(/UPID:pve1:.*qmstart/);
    expect((await backend().inspect('journal', AbortSignal.timeout(10_000))).output).toMatch(/-u 102\.scope/);
    expect(await backend().inspect('agent-ping', AbortSignal.timeout(10_000))).toMatchObject({ ok: true, output: 'guest agent: answered ping' });
    await fake.set('agent-down', '');
    const ping = await backend().inspect('agent-ping', AbortSignal.timeout(10_000));
    await fake.set('agent-down', undefined);
    expect(ping.ok).toBe(false);
    expect(ping.output).toMatch(/guest agent: no answer/);
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
      const result = await pool.run('hypervisor', { command: raw }, { timeoutMs: 10_000, outputLimitBytes: 10_000 });
      expect(result.exitCode, raw).toBe(3);
      expect(result.stderr).toMatch(/denied/);
    }
    expect(existsSync('/tmp/bg-pwned')).toBe(false);
    expect(await qmCalls()).toEqual([]);
    const audit = await readFile(join(gateDir, 'pve-log', 'audit.log'), 'utf8');
    expect(audit).toMatch(/denied: verb 'status\? touch \?tmp\?bg-pwned' from 127\.0\.0\.1 for VM 102/);
  }, 30_000);
});
