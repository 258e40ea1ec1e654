import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@fish-sre/core';
import {
  anthropicMessage,
  startAnthropicServer,
  startNtfyServer,
  startProxmoxServer,
  startTestSshd,
  type AnthropicTestServer,
  type NtfyTestServer,
  type ProxmoxTestServer,
  type TestSshd,
} from '@fish-sre/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentProvider, createSelftestNotifier } from '../src/agent/provider.js';
import { loadConfig } from '../src/config.js';
import { buildParts } from '../src/parts.js';
import { notifyFailures, runSelftest, type SelftestReport } from '../src/selftest.js';
import { startBreakglass, type RunningBreakglass } from '../src/server.js';
import { verifyTrailFile } from '../src/trail/trail.js';
import { createFakePve, type FakePve } from './fake-pve.js';
import { TEST_TOKEN, sleep } from './helpers.js';

/**
 * breakglass against real parts: two OpenSSH sshd (the VM, and the hypervisor with the real
 * forced command in front of a stand-in qm), testkit's Proxmox API, Anthropic and ntfy servers,
 * with the LLM and the notifier built through the plugin registry. The selftest finds each broken
 * part; a VM whose sshd is down is diagnosed through the hypervisor; a rebuilt VM's new host key is
 * refused, shown with the guest's own fingerprint, and re-pinned.
 */

const API_KEY = 'sk-ant-test-rescue';
const AUTH = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };

let vm: TestSshd;
let pve: TestSshd;
let unbound: TestSshd;
let fake: FakePve;
let proxmox: ProxmoxTestServer;
let anthropic: AnthropicTestServer;
let ntfy: NtfyTestServer;
let dataDir: string;

function env(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    BREAKGLASS_API_TOKEN: TEST_TOKEN,
    BREAKGLASS_LISTEN_PORT: '0',
    BREAKGLASS_COOKIE_SECURE: 'false',
    BREAKGLASS_DATA_DIR: dataDir,
    BREAKGLASS_TARGET_HOST: vm.host,
    BREAKGLASS_TARGET_PORT: String(vm.port),
    BREAKGLASS_TARGET_USER: vm.username,
    BREAKGLASS_TARGET_KEY_FILE: vm.privateKeyPath,
    BREAKGLASS_TARGET_HOST_KEY_SHA256: vm.hostKeyFingerprint,
    BREAKGLASS_PVE_SSH_HOST: pve.host,
    BREAKGLASS_PVE_SSH_PORT: String(pve.port),
    BREAKGLASS_PVE_SSH_USER: pve.username,
    BREAKGLASS_PVE_SSH_KEY_FILE: pve.privateKeyPath,
    BREAKGLASS_PVE_SSH_HOST_KEY_SHA256: pve.hostKeyFingerprint,
    BREAKGLASS_PVE_API_HOST: proxmox.host,
    BREAKGLASS_PVE_API_PORT: String(proxmox.port),
    BREAKGLASS_PVE_API_TOKEN_ID: proxmox.tokenId,
    BREAKGLASS_PVE_API_TOKEN_SECRET: proxmox.tokenSecret,
    BREAKGLASS_PVE_API_FINGERPRINT: proxmox.fingerprint256,
    BREAKGLASS_PVE_NODE: proxmox.node,
    BREAKGLASS_PVE_VMID: String(proxmox.vmid),
    BREAKGLASS_LLM: 'claude',
    BREAKGLASS_LLM_OPTIONS: JSON.stringify({ apiKey: API_KEY, baseURL: anthropic.url, maxRetries: 0 }),
    BREAKGLASS_NOTIFY: 'ntfy',
    BREAKGLASS_NOTIFY_OPTIONS: JSON.stringify({ server: ntfy.url, topic: 'breakglass-selftest', retries: 0 }),
    ...overrides,
  };
}

async function selftest(overrides: Record<string, string> = {}): Promise<SelftestReport> {
  const config = loadConfig(env(overrides));
  const parts = await buildParts(config, silentLogger);
  try {
    const provider = await createAgentProvider(config.agent.llm, config.agent.llmOptions, silentLogger, dataDir);
    return await runSelftest({ provider, pool: parts.pool, ...(parts.api ? { api: parts.api } : {}), timeoutMs: 15_000 });
  } finally {
    await parts.close();
  }
}

const check = (report: SelftestReport, name: RegExp) => report.checks.find((entry) => name.test(entry.name));
const okMessage = () => ({ type: 'message' as const, message: anthropicMessage({ content: [{ type: 'text', text: 'OK' }], inputTokens: 20, outputTokens: 1 }) });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'bg-rescue-'));
  fake = await createFakePve();
  [vm, pve, unbound] = await Promise.all([startTestSshd(), startTestSshd({ forcedCommand: fake.forcedCommand, authorizedKeyOptions: ['from="127.0.0.1"'] }), startTestSshd()]);
  [proxmox, anthropic, ntfy] = await Promise.all([startProxmoxServer({ authFailureDelayMs: 50 }), startAnthropicServer({ apiKey: API_KEY }), startNtfyServer({ version: '2.17.0' })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([vm?.stop(), pve?.stop(), unbound?.stop(), proxmox?.close(), anthropic?.close(), ntfy?.stop()]);
  await rm(dataDir, { recursive: true, force: true });
  await rm(fake.dir, { recursive: true, force: true });
});

describe('breakglass selftest', () => {
  it('reaches every part and says so', async () => {
    anthropic.enqueue(okMessage());
    const report = await selftest();
    expect(report.checks.map((entry) => [entry.name, entry.ok])).toEqual([
      [expect.stringMatching(/^LLM \(/), true],
      ['VM over SSH (pinned host key)', true],
      ['hypervisor forced command (breakglass-pve)', true],
      ['Proxmox API (certificate pin, token, read-only call)', true],
    ]);
    expect(check(report, /hypervisor/)?.detail).toMatch(/status: running; unknown verbs are refused/);
    expect(check(report, /Proxmox/)?.detail).toMatch(/VM 102 on pve1 is running/);
    expect(report.ok).toBe(true);
  });

  it('finds each broken part and says what is wrong in plain words', async () => {
    // A wrong key is answered 401 by the Anthropic test server itself.
    const wrongPin = proxmox.fingerprint256.replace(/^../, (pair) => (pair === 'AA' ? 'BB' : 'AA'));
    const broken = await selftest({
      BREAKGLASS_LLM_OPTIONS: JSON.stringify({ apiKey: 'sk-ant-wrong', baseURL: anthropic.url, maxRetries: 0 }),
      BREAKGLASS_TARGET_HOST_KEY_SHA256: pve.hostKeyFingerprint,
      BREAKGLASS_PVE_SSH_PORT: String(unbound.port),
      BREAKGLASS_PVE_SSH_USER: unbound.username,
      BREAKGLASS_PVE_SSH_KEY_FILE: unbound.privateKeyPath,
      BREAKGLASS_PVE_SSH_HOST_KEY_SHA256: unbound.hostKeyFingerprint,
      BREAKGLASS_PVE_API_FINGERPRINT: wrongPin,
    });
    expect(broken.ok).toBe(false);
    expect(broken.checks.every((entry) => !entry.ok)).toBe(true);
    expect(check(broken, /^LLM/)?.detail).toMatch(/401|authentication/i);
    expect(check(broken, /^VM/)?.detail).toMatch(/host key mismatch: .*re-pin/);
    expect(check(broken, /hypervisor/)?.detail).toMatch(/NOT bound to breakglass-pve: a plain command ran/);
    expect(check(broken, /Proxmox/)?.detail).toMatch(/does not match the pinned SHA-256 fingerprint/);

    const secretless = await selftest({
      BREAKGLASS_PVE_API_TOKEN_SECRET: '00000000-0000-0000-0000-000000000000',
      BREAKGLASS_PVE_SSH_HOST_KEY_SHA256: vm.hostKeyFingerprint,
      BREAKGLASS_LLM_OPTIONS: JSON.stringify({ apiKey: API_KEY, baseURL: 'http://127.0.0.1:1', maxRetries: 0 }),
    });
    expect(check(secretless, /Proxmox/)?.detail).toMatch(/HTTP 401/);
    expect(check(secretless, /Proxmox/)?.detail).not.toContain('00000000-0000');
    expect(check(secretless, /hypervisor/)?.detail).toMatch(/host key mismatch/);
    expect(check(secretless, /^LLM/)?.ok).toBe(false);
  });

  it('notifies the phone through the ntfy notifier plugin when a part is broken', async () => {
    const report: SelftestReport = {
      ok: false,
      at: new Date().toISOString(),
      checks: [{ name: 'VM over SSH (pinned host key)', ok: false, detail: 'unreachable: cannot reach 10.0.0.1', durationMs: 3 }],
    };
    const config = loadConfig(env());
    const notifier = await createSelftestNotifier(config.notify!.type, config.notify!.options, silentLogger, dataDir);
    expect(await notifyFailures(notifier, report)).toBe(true);
    expect(await notifyFailures(notifier, { ...report, ok: true, checks: [] })).toBe(false);
    const messages = ntfy.messagesFor('breakglass-selftest');
    expect(messages).toHaveLength(1);
    expect(messages[0]?.title).toBe('breakglass selftest: 1 part broken');
    expect(messages[0]?.message).toContain('unreachable: cannot reach 10.0.0.1');
  });
});

describe('the bad day', () => {
  let app: RunningBreakglass | undefined;
  afterAll(async () => {
    await app?.close();
  });

  async function turnDone(id: string) {
    const session = app!.sessions.get(id)!;
    for (let waited = 0; !session.events.some((event) => event.type === 'done'); waited += 20) {
      if (waited > 20_000) throw new Error('turn did not finish');
      await sleep(20);
    }
    return session;
  }

  it('the agent reads the hypervisor view of a VM whose sshd is down', async () => {
    const config = loadConfig(env());
    const provider = await createAgentProvider(config.agent.llm, config.agent.llmOptions, silentLogger, dataDir);
    app = await startBreakglass({ config, provider, webRoot: dataDir });
    await vm.stop({ remove: false });
    const tool = (id: string, name: string, input: unknown) => ({ type: 'tool_use' as const, id, name, input });
    anthropic.enqueue(
      { type: 'message', message: anthropicMessage({ content: [tool('toolu_up', 'run_command', { argv: ['uptime'] })] }) },
      { type: 'message', message: anthropicMessage({ content: [tool('toolu_status', 'hypervisor', { view: 'status' }), tool('toolu_ping', 'hypervisor', { view: 'agent-ping' })] }) },
      { type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: 'QEMU runs and the guest agent answers: sshd is down inside the guest.' }] }) },
    );
    const created = await fetch(`${app.url}/api/sessions`, { method: 'POST', headers: AUTH, body: '{}' });
    const id = ((await created.json()) as { id: string }).id;
    await fetch(`${app.url}/api/session/${id}/prompt`, { method: 'POST', headers: AUTH, body: JSON.stringify({ text: 'devvm does not answer' }) });
    const session = await turnDone(id);
    const results = session.events.filter((event) => event.type === 'tool-result');
    expect(results.map((event) => (event.type === 'tool-result' ? [event.toolName, event.isError] : []))).toEqual([
      ['run_command', true],
      ['hypervisor', false],
      ['hypervisor', false],
    ]);
    const texts = results.map((event) => (event.type === 'tool-result' ? event.output : ''));
    expect(texts[0]).toMatch(/cannot reach|unreachable|ECONNREFUSED/);
    expect(texts[1]).toContain('status: running');
    expect(texts[2]).toContain('guest agent: answered ping');
    // The model got the hypervisor's answers back as untrusted tool output.
    const lastRequest = JSON.stringify(anthropic.requests.at(-1)?.body);
    expect(lastRequest).toContain('guest agent: answered ping');
  });

  it("refuses a rebuilt VM's new host key, shows old, new and the guest's own fingerprint, and re-pins on typed confirmation", async () => {
    const old = vm.hostKeyFingerprint;
    await vm.restart({ newHostKey: true });
    const fresh = vm.hostKeyFingerprint;
    expect(fresh).not.toBe(old);
    await fake.set('guest-hostkeys', `${vm.knownHostsLine.split(' ').slice(1).join(' ')} root@devvm\n`);
    const state = (await (await fetch(`${app!.url}/api/host-keys/check`, { method: 'POST', headers: AUTH, body: '{}' })).json()) as Record<string, any>;
    expect(state['problem']).toMatchObject({ expected: old, presented: fresh });
    expect(state['hypervisorView']).toMatchObject({ ok: true, fingerprints: [fresh], matchesPresented: true });

    const repin = (confirmation: string, fingerprint = fresh) => fetch(`${app!.url}/api/host-keys/repin`, { method: 'POST', headers: AUTH, body: JSON.stringify({ fingerprint, confirmation }) });
    expect((await repin('wrong!')).status).toBe(400);
    expect((await repin(old.slice(-6), old)).status).toBe(400);
    const done = await repin(fresh.slice(-6));
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ pinned: fresh });
    expect(JSON.parse(await readFile(join(dataDir, 'host-keys.json'), 'utf8'))).toMatchObject({ vm: { fingerprint: fresh, pinnedBy: 'token' } });
    const records = (await readFile(join(dataDir, 'trail.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; data: Record<string, unknown> });
    expect(records.find((record) => record.kind === 'repin')?.data).toMatchObject({ target: 'vm', old, new: fresh, hypervisorAgreed: true });
    expect((await verifyTrailFile(join(dataDir, 'trail.jsonl'))).ok).toBe(true);

    // The new pin survives a restart and the VM answers again.
    await app!.close();
    const config = loadConfig(env());
    app = await startBreakglass({ config, provider: await createAgentProvider(config.agent.llm, config.agent.llmOptions, silentLogger, dataDir), webRoot: dataDir });
    expect(app.hostKeys?.current.pinned).toBe(fresh);
    const again = (await (await fetch(`${app.url}/api/host-keys/check`, { method: 'POST', headers: AUTH, body: '{}' })).json()) as Record<string, unknown>;
    expect(again['problem']).toBeUndefined();
  });
});
