import { FishError, FishErrorCode } from '@fish-sre/core';
import { startProxmoxServer, type ProxmoxTestServer } from '@fish-sre/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PowerService } from '../src/power/power-service.js';
import { ProxmoxClient, UPID_PATTERN, taskSucceeded } from '../src/power/proxmox-client.js';
import { createProxmoxPowerBackend } from '../src/power/proxmox-power-backend.js';
import { INJECTION_CORPUS } from './fixtures.js';
import { POWER_VERBS, isPowerVerb, parsePowerVerb, type PowerBackend, type PowerVerb } from '../src/power/verbs.js';

describe('power verb allow-list', () => {
  it('accepts exactly the seven verbs', () => {
    for (const verb of POWER_VERBS) expect(parsePowerVerb(verb)).toBe(verb);
    expect(POWER_VERBS).toEqual(['status', 'forensics', 'shutdown', 'cycle', 'reset', 'stop', 'start']);
  });

  it.each(INJECTION_CORPUS)('refuses %j', (candidate) => {
    expect(isPowerVerb(candidate)).toBe(false);
    expect(() => parsePowerVerb(candidate)).toThrow(expect.objectContaining({ code: FishErrorCode.VERB_NOT_ALLOWED }));
  });

  it('refuses non-strings', () => {
    for (const value of [undefined, null, 1, ['status'], { toString: () => 'status' }]) expect(isPowerVerb(value)).toBe(false);
  });
});

function fakeBackend(hangForensics = false): PowerBackend & { calls: PowerVerb[] } {
  const calls: PowerVerb[] = [];
  return {
    kind: 'ssh',
    capturesForensics: false,
    calls,
    inspect: async (verb) => ({ verb, ok: true, output: '', durationMs: 0 }),
    async run(verb, signal) {
      calls.push(verb);
      if (verb === 'stop' || (verb === 'forensics' && hangForensics))
        await new Promise((resolve, reject) => signal.addEventListener('abort', () => reject(new Error('hypervisor did not answer')), { once: true }));
      return { verb, ok: true, output: verb, durationMs: 0 };
    },
  };
}

describe('PowerService', () => {
  it('checks the allow-list before any I/O', async () => {
    const backend = fakeBackend();
    const service = new PowerService({ backend, timeoutMs: 1000 });
    for (const candidate of INJECTION_CORPUS) await expect(service.run(candidate, { confirm: true, actor: 't' })).rejects.toThrow(/not allowed/);
    expect(backend.calls).toEqual([]);
  });

  it('needs an explicit confirm: true for mutating verbs', async () => {
    const backend = fakeBackend();
    const service = new PowerService({ backend, timeoutMs: 1000 });
    for (const confirm of [undefined, false, 'true', 1, 'yes']) {
      await expect(service.run('reset', { confirm, actor: 't' })).rejects.toThrow(/confirm/);
    }
    expect(backend.calls).toEqual([]);
    expect((await service.run('status', { actor: 't' })).ok).toBe(true);
    expect(backend.calls).toEqual(['status']);
  });

  it('captures forensics before a mutating verb', async () => {
    const backend = fakeBackend();
    const service = new PowerService({ backend, timeoutMs: 1000 });
    const result = await service.run('reset', { confirm: true, actor: 't' });
    expect(backend.calls).toEqual(['forensics', 'reset']);
    expect(result.forensics?.verb).toBe('forensics');
  });

  it("gives forensics their own short budget: a hanging capture never eats the verb's time", async () => {
    const backend = fakeBackend(true);
    const service = new PowerService({ backend, timeoutMs: 5000, forensicsTimeoutMs: 150 });
    const started = Date.now();
    const result = await service.run('reset', { confirm: true, actor: 't' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(backend.calls).toEqual(['forensics', 'reset']);
    expect(result.forensics).toMatchObject({ ok: false });
    expect(result).toMatchObject({ verb: 'reset', ok: true });
  });

  it('gives up after its timeout when the hypervisor hangs, and refuses a second verb meanwhile', async () => {
    const backend = fakeBackend();
    const service = new PowerService({ backend, timeoutMs: 300 });
    const hanging = service.run('stop', { confirm: true, actor: 't' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(service.run('status', { actor: 't' })).rejects.toThrow(/in progress/);
    const result = await hanging;
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/did not answer/);
    expect((await service.run('status', { actor: 't' })).ok).toBe(true);
  });
});

describe('Proxmox VE API backend against the testkit server', () => {
  let server: ProxmoxTestServer;
  let client: ProxmoxClient;
  const signal = () => AbortSignal.timeout(10_000);

  beforeAll(async () => {
    server = await startProxmoxServer({ authFailureDelayMs: 50, taskPolls: 2 });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.setVmState('running');
    client = new ProxmoxClient({ host: server.host, port: server.port, tokenId: server.tokenId, tokenSecret: server.tokenSecret, fingerprintSha256: server.fingerprint256 });
  });

  const backend = (overrides: Partial<Parameters<typeof createProxmoxPowerBackend>[0]> = {}) =>
    createProxmoxPowerBackend({
      host: server.host,
      port: server.port,
      tokenId: server.tokenId,
      tokenSecret: server.tokenSecret,
      fingerprintSha256: server.fingerprint256,
      node: server.node,
      vmid: server.vmid,
      pollMs: 10,
      ...overrides,
    });

  it('reads the VM status through the {"data": ...} envelope', async () => {
    const status = await client.vmStatus(server.node, server.vmid, signal());
    expect(status.status).toBe('running');
    const result = await backend().run('status', signal());
    expect(result).toMatchObject({ ok: true, state: 'running' });
    expect(server.requests.at(-1)).toMatchObject({ method: 'GET', path: `/api2/json/nodes/${server.node}/qemu/${server.vmid}/status/current`, authorized: true });
  });

  it('gets a UPID in the real format for reset, and polls the task until it stops with OK', async () => {
    const upid = await client.powerAction(server.node, server.vmid, 'reset', signal());
    expect(upid).toMatch(UPID_PATTERN);
    expect(upid).toMatch(new RegExp(`^UPID:${server.node}:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmreset:${server.vmid}:breakglass@pve!power:$`));
    const done = await client.waitForTask(server.node, upid, signal(), 5);
    expect(done).toMatchObject({ status: 'stopped', exitstatus: 'OK' });
    const polls = server.requests.filter((request) => request.path.endsWith(`/tasks/${encodeURIComponent(upid)}/status`));
    expect(polls.length).toBe(3);
  });

  it('runs cycle as an ACPI shutdown with its timeout, then start (no hard stop when the guest powers off)', async () => {
    const before = server.tasks.length;
    const requestsBefore = server.requests.length;
    const result = await backend({ shutdownTimeoutSeconds: 42 }).run('cycle', signal());
    expect(result.ok).toBe(true);
    expect(server.tasks.slice(before).map((task) => task.type)).toEqual(['qmshutdown', 'qmstart']);
    expect(server.tasks.slice(before).every((task) => task.status === 'stopped' && task.exitstatus === 'OK')).toBe(true);
    expect(result.output).toMatch(/shutdown: task UPID:.*\nshutdown: OK\nstart: task UPID:.*\nstart: OK\nstatus: running/);
    const shutdown = server.requests.slice(requestsBefore).find((request) => request.path.endsWith('/status/shutdown'));
    expect(shutdown).toMatchObject({ method: 'POST', body: 'timeout=42' });
    expect(server.vmState).toBe('running');
  });

  it('runs cycle as shutdown, then a hard stop with its timeout when the guest ignores the ACPI button, then start', async () => {
    server.failNextTask('qmshutdown', 'VM quit/powerdown failed - got timeout');
    const before = server.tasks.length;
    const requestsBefore = server.requests.length;
    const result = await backend({ shutdownTimeoutSeconds: 5, stopTimeoutSeconds: 7 }).run('cycle', signal());
    expect(result.ok).toBe(true);
    expect(server.tasks.slice(before).map((task) => [task.type, task.exitstatus])).toEqual([
      ['qmshutdown', 'VM quit/powerdown failed - got timeout'],
      ['qmstop', 'OK'],
      ['qmstart', 'OK'],
    ]);
    expect(result.output).toMatch(/the guest did not power off in time/);
    const posts = server.requests.slice(requestsBefore).filter((request) => request.method === 'POST');
    expect(posts.map((request) => [request.path.split('/').at(-1), request.body])).toEqual([
      ['shutdown', 'timeout=5'],
      ['stop', 'timeout=7'],
      ['start', ''],
    ]);
  });

  it('reports a failed task as a failure, even though the POST returned 200', async () => {
    server.failNextTask('qmstop', "can't lock file '/var/lock/qemu-server/lock-102.conf' - got timeout");
    const result = await backend().run('stop', signal());
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/failed: can't lock file/);
    expect(server.vmState).toBe('running');
  });

  it('treats WARNINGS: n as success', async () => {
    expect(taskSucceeded('WARNINGS: 2')).toBe(true);
    expect(taskSucceeded('OK')).toBe(true);
    expect(taskSucceeded('unexpected status')).toBe(false);
    expect(taskSucceeded(undefined)).toBe(false);
    server.failNextTask('qmstart', 'WARNINGS: 1');
    server.setVmState('stopped');
    expect((await backend().run('start', signal())).ok).toBe(true);
  });

  it('reports reset on a stopped VM as the immediate HTTP 500 Proxmox gives', async () => {
    server.setVmState('stopped');
    const result = await backend().run('reset', signal());
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/HTTP 500: VM 102 not running/);
  });

  it('is refused with a wrong token (401)', async () => {
    const result = await backend({ tokenSecret: '00000000-0000-0000-0000-000000000000' }).run('status', signal());
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/HTTP 401/);
    expect(result.output).not.toContain('00000000-0000');
  });

  it('refuses a server whose certificate does not match the pin, before sending the token', async () => {
    const requestsBefore = server.requests.length;
    const wrongPin = server.fingerprint256.replace(/^../, (pair) => (pair === 'AA' ? 'BB' : 'AA'));
    const result = await backend({ fingerprintSha256: wrongPin }).run('status', signal());
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/does not match the pinned SHA-256 fingerprint/);
    expect(server.requests.length).toBe(requestsBefore);
  });

  it('cannot be built without a pin', () => {
    expect(() => new ProxmoxClient({ host: '127.0.0.1', port: 1, tokenId: 'a@pve!b', tokenSecret: 'x', fingerprintSha256: '' })).toThrow(FishError);
  });

  it('stops waiting for a wedged task at the verb timeout', async () => {
    server.hangNextTask('qmreset');
    const service = new PowerService({ backend: backend(), timeoutMs: 600 });
    const result = await service.run('reset', { confirm: true, actor: 't' });
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/gave up waiting for task|timed out/);
    expect(result.forensics?.ok).toBe(true);
  });
});
