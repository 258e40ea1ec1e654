import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FishError } from '@fish-sre/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../src/agent/session.js';
import { loadConfig } from '../src/config.js';
import { createApp } from '../src/http/app.js';
import { LoginSessions } from '../src/http/auth.js';
import { PowerService } from '../src/power/power-service.js';
import type { PowerBackend, PowerVerb } from '../src/power/verbs.js';
import { TEST_TOKEN, scriptedProvider, testEnv } from './helpers.js';

const PROXY = '10.0.0.2';

function recordingBackend(): PowerBackend & { calls: PowerVerb[] } {
  const calls: PowerVerb[] = [];
  return {
    kind: 'ssh',
    capturesForensics: false,
    calls,
    inspect: async (verb) => ({ verb, ok: true, output: '', durationMs: 0 }),
    async run(verb) {
      calls.push(verb);
      return { verb, ok: true, output: `status: running`, state: 'running', durationMs: 1 };
    },
  };
}

let dir: string;
let backend: ReturnType<typeof recordingBackend>;
let peerAddress = '127.0.0.1';
let app: ReturnType<typeof createApp>;
let sessionId: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bg-auth-'));
  backend = recordingBackend();
  const sessions = new SessionManager({
    provider: scriptedProvider(() => [
      { type: 'text-delta', text: 'hi' },
      { type: 'finish', finishReason: 'stop', model: 'x' },
    ]),
    runCommand: async () => ({ exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false }),
    systemPrompt: 'test',
    approval: true,
    maxConcurrentTurns: 2,
    turnTimeoutMs: 10_000,
    maxSteps: 3,
    commandTimeoutMs: 1000,
    outputLimitBytes: 1000,
  });
  sessionId = (await sessions.create('auth')).id;
  app = createApp({
    sessions,
    power: new PowerService({ backend, timeoutMs: 1000 }),
    auth: { token: TEST_TOKEN, trustedHeader: 'x-authentik-username', trustedProxies: [PROXY], cookieSecure: false },
    logins: new LoginSessions(),
    peer: () => peerAddress,
    webRoot: dir,
    keepAliveMs: 50,
    info: { vmName: 'devvm', target: 'breakglass@127.0.0.1', powerBackend: 'ssh', approval: true, llm: 'scripted' },
  });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function concretePath(path: string): string {
  return path.replace(':id', sessionId).replace(':callId', 'toolu_01').replace(':verb', 'status').replace(':file', 'index.js');
}

describe('auth on every route', () => {
  const PUBLIC = new Set(['GET /login', 'POST /login', 'GET /healthz', 'GET /sw.js', 'GET /offline.html']);

  it('lists the routes we expect (the enumeration is not empty)', () => {
    const routes = app.routes.filter((route) => route.method !== 'ALL').map((route) => `${route.method} ${route.path}`);
    expect(routes).toEqual(
      expect.arrayContaining(['GET /api/session/:id/stream', 'POST /api/vm/:verb', 'GET /', 'GET /assets/:file', 'GET /manifest.webmanifest', 'POST /api/session/:id/approve/:callId']),
    );
    expect(routes.length).toBeGreaterThanOrEqual(16);
  });

  it('refuses every non-public route without credentials, and with a wrong token, and with an identity header from a non-proxy peer', async () => {
    peerAddress = '192.0.2.9';
    const checked: string[] = [];
    for (const route of app.routes) {
      if (route.method === 'ALL') continue;
      const key = `${route.method} ${route.path}`;
      if (PUBLIC.has(key)) continue;
      const path = concretePath(route.path);
      const attempts: Array<Record<string, string>> = [
        {},
        { authorization: 'Bearer wrong-token-0123456789abcdef0123' },
        { authorization: `Bearer ${TEST_TOKEN}x` },
        { 'x-authentik-username': 'mallory' },
        { cookie: `breakglass_auth=${TEST_TOKEN}` },
      ];
      for (const headers of attempts) {
        const response = await app.request(path, {
          method: route.method,
          headers: { 'content-type': 'application/json', ...headers },
          body: route.method === 'POST' ? JSON.stringify({ confirm: true, text: 'x', decision: 'run' }) : undefined,
        });
        expect(response.status, `${key} with ${JSON.stringify(headers)}`).toBe(401);
        await response.body?.cancel();
      }
      checked.push(key);
    }
    expect(checked).toContain('GET /api/session/:id/stream');
    expect(checked).toContain('GET /assets/:file');
    expect(backend.calls).toEqual([]);
  });

  it('sends a browser without credentials to the login page', async () => {
    const response = await app.request('/', { headers: { accept: 'text/html' } });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/login');
  });

  it('honours the identity header only from a configured proxy address', async () => {
    peerAddress = PROXY;
    const ok = await app.request('/api/sessions', { headers: { 'x-authentik-username': 'viktor' } });
    expect(ok.status).toBe(200);
    peerAddress = `::ffff:${PROXY}`;
    expect((await app.request('/api/sessions', { headers: { 'x-authentik-username': 'viktor' } })).status).toBe(200);
    expect((await app.request('/api/sessions')).status).toBe(401);
    peerAddress = '127.0.0.1';
    expect((await app.request('/api/sessions', { headers: { 'x-authentik-username': 'viktor' } })).status).toBe(401);
  });

  it('throttles login attempts per client address, without locking out other clients', async () => {
    peerAddress = '198.51.100.7';
    const attempts = await Promise.all(Array.from({ length: 12 }, () => app.request('/login', { method: 'POST', body: new URLSearchParams({ token: 'guess' }) })));
    const statuses = attempts.map((response) => response.status).sort();
    expect(statuses.filter((status) => status === 401)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(2);
    // Even the right token waits now, from that address...
    expect((await app.request('/login', { method: 'POST', body: new URLSearchParams({ token: TEST_TOKEN }) })).status).toBe(429);
    // ...while another address logs in.
    peerAddress = '198.51.100.8';
    expect((await app.request('/login', { method: 'POST', body: new URLSearchParams({ token: TEST_TOKEN }) })).status).toBe(303);
  });

  it('accepts the bearer token, and the cookie set by the login form', async () => {
    peerAddress = '192.0.2.9';
    expect((await app.request('/api/sessions', { headers: { authorization: `Bearer ${TEST_TOKEN}` } })).status).toBe(200);
    const wrong = await app.request('/login', { method: 'POST', body: new URLSearchParams({ token: 'nope' }) });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const login = await app.request('/login', { method: 'POST', body: new URLSearchParams({ token: TEST_TOKEN }) });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).not.toContain(TEST_TOKEN);
    const value = /breakglass_auth=([^;]+)/.exec(cookie)?.[1];
    const response = await app.request('/api/sessions', { headers: { cookie: `breakglass_auth=${value}` } });
    expect(response.status).toBe(200);
  });

  it('refuses a mutating API call that is not JSON (a cross-site form cannot send one)', async () => {
    const response = await app.request('/api/vm/reset', {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'confirm=true',
    });
    expect(response.status).toBe(415);
  });
});

describe('power verb routes', () => {
  const post = (path: string, body: unknown) =>
    app.request(path, { method: 'POST', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('refuses unknown verbs before any I/O, and mutating verbs without confirm', async () => {
    backend.calls.length = 0;
    for (const path of ['/api/vm/destroy', '/api/vm/status%3Breboot', '/api/vm/RESET', '/api/vm/reset%20--skiplock', '/api/vm/__proto__']) {
      const response = await post(path, { confirm: true });
      expect(response.status, path).toBe(400);
    }
    expect((await post('/api/vm/reset', {})).status).toBe(400);
    expect((await post('/api/vm/reset', { confirm: 'true' })).status).toBe(400);
    expect(backend.calls).toEqual([]);
  });

  it('runs a confirmed mutating verb after forensics, and status without confirm', async () => {
    backend.calls.length = 0;
    const reset = await post('/api/vm/reset', { confirm: true });
    expect(reset.status).toBe(200);
    expect(await reset.json()).toMatchObject({ verb: 'reset', ok: true, forensics: { verb: 'forensics' } });
    const status = await app.request('/api/vm/status', { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    expect(await status.json()).toMatchObject({ verb: 'status', state: 'running' });
    expect(backend.calls).toEqual(['forensics', 'reset', 'status']);
  });
});

describe('configuration', () => {
  const message = (env: Record<string, string | undefined>) => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(FishError.isInstance(error)).toBe(true);
      return (error as Error).message;
    }
    throw new Error('expected loadConfig to throw');
  };

  it('refuses to start with no credential configured', () => {
    expect(message(testEnv({ BREAKGLASS_API_TOKEN: undefined }))).toMatch(/BREAKGLASS_API_TOKEN: no credential configured/);
  });

  it('requires the identity header and the proxy list together', () => {
    expect(message(testEnv({ BREAKGLASS_API_TOKEN: undefined, BREAKGLASS_TRUSTED_HEADER: 'x-user' }))).toMatch(/BREAKGLASS_TRUSTED_PROXIES/);
    expect(loadConfig(testEnv({ BREAKGLASS_API_TOKEN: undefined, BREAKGLASS_TRUSTED_HEADER: 'X-User', BREAKGLASS_TRUSTED_PROXIES: '10.0.0.2, fd00::1' })).auth).toEqual({
      trustedHeader: 'x-user',
      trustedProxies: ['10.0.0.2', 'fd00::1'],
      cookieSecure: false,
    });
  });

  it('refuses host names where an IP address is required (DNS may be what is broken)', () => {
    expect(message(testEnv({ BREAKGLASS_TARGET_HOST: 'devvm.lan' }))).toMatch(/BREAKGLASS_TARGET_HOST: must be an IP address/);
    expect(message(testEnv({ BREAKGLASS_TRUSTED_HEADER: 'x-user', BREAKGLASS_TRUSTED_PROXIES: 'proxy.lan' }))).toMatch(/BREAKGLASS_TRUSTED_PROXIES/);
  });

  it('checks SSH host-key pins', () => {
    expect(message(testEnv({ BREAKGLASS_TARGET_HOST_KEY_SHA256: 'abc' }))).toMatch(/BREAKGLASS_TARGET_HOST_KEY_SHA256: must be SHA256:/);
    const pin = `SHA256:${'A'.repeat(43)}`;
    expect(loadConfig(testEnv({ BREAKGLASS_TARGET_HOST_KEY_SHA256: pin })).target.hostKeySha256).toBe(pin);
  });

  it('refuses a short token and says how to make one', () => {
    expect(message(testEnv({ BREAKGLASS_API_TOKEN: 'short' }))).toMatch(/at least 24 characters/);
  });

  it('requires a certificate pin for the Proxmox API backend: there is no insecure mode', () => {
    const env = testEnv({
      BREAKGLASS_POWER_BACKEND: 'proxmox-api',
      BREAKGLASS_PVE_API_HOST: '192.168.1.127',
      BREAKGLASS_PVE_API_TOKEN_ID: 'breakglass@pve!power',
      BREAKGLASS_PVE_API_TOKEN_SECRET: '5f0c6a2e-8b1d-4c3a-9e7f-2d4b6a8c0e1f',
      BREAKGLASS_PVE_NODE: 'pve1',
      BREAKGLASS_PVE_VMID: '102',
    });
    expect(message(env)).toMatch(/BREAKGLASS_PVE_API_FINGERPRINT: required .* no insecure mode/);
    expect(message({ ...env, BREAKGLASS_PVE_API_FINGERPRINT: 'AB:CD' })).toMatch(/64 hex digits/);
    const config = loadConfig({ ...env, BREAKGLASS_PVE_API_FINGERPRINT: 'ab:'.repeat(31) + 'ab' });
    expect(config.power.api?.fingerprintSha256).toBe('AB'.repeat(32));
  });

  it('documents its defaults', () => {
    const config = loadConfig(testEnv({ BREAKGLASS_LISTEN_PORT: undefined, BREAKGLASS_COOKIE_SECURE: undefined }));
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8088 });
    expect(config.sseKeepAliveMs).toBe(15_000);
    expect(config.agent.approval).toBe(true);
    expect(config.agent.maxConcurrentTurns).toBe(2);
    expect(config.auth.cookieSecure).toBe(true);
  });

  it('never echoes the token in an error', () => {
    expect(message(testEnv({ BREAKGLASS_TARGET_HOST: 'nope' }))).not.toContain(TEST_TOKEN);
  });
});

describe('configuration with nothing set', () => {
  it('says first that there is no credential, then what else is missing', () => {
    let text = '';
    try {
      loadConfig({});
    } catch (error) {
      text = (error as Error).message;
    }
    expect(text).toMatch(/^\[fish-sre\] \[breakglass\] invalid environment: BREAKGLASS_API_TOKEN: no credential configured.*BREAKGLASS_TARGET_HOST/);
  });
});
