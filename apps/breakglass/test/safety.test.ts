import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LLMStreamPart } from '@fish-sre/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandRunner } from '../src/agent/session.js';
import { startBreakglass, type RunningBreakglass } from '../src/server.js';
import type { PowerBackend } from '../src/power/verbs.js';
import { verifyTrailFile, verifyTrailText } from '../src/trail/trail.js';
import { TEST_TOKEN, type ScriptStep, scriptedProvider, sleep, testConfig } from './helpers.js';

/**
 * The approval bypasses and session weaknesses found in review, each now closed, through the real
 * HTTP server: a read outside the allowed folders is asked, a repeated tool-call id is refused,
 * the spend caps stop a turn, logout revokes the cookie, login throttling follows the identity a
 * trusted proxy forwards, and every one of those leaves a line in the hash-chained trail.
 */

const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };
const PROXY_ENV = { BREAKGLASS_TRUSTED_HEADER: 'x-user', BREAKGLASS_TRUSTED_PROXIES: '127.0.0.1' };

const hypervisorCalls: string[] = [];
const backend: PowerBackend = {
  kind: 'ssh',
  capturesForensics: true,
  run: async (verb) => ({ verb, ok: true, output: 'status: running', state: 'running', durationMs: 0 }),
  inspect: async (verb) => {
    hypervisorCalls.push(verb);
    return { verb, ok: true, output: `status: running\nqmpstatus: running (${verb})`, durationMs: 0 };
  },
};

let dir: string;
let running: RunningBreakglass | undefined;
const commands: string[][] = [];
const runCommand: CommandRunner = async (argv) => {
  commands.push(argv);
  return { exitCode: 0, signal: null, stdout: `ran ${argv.join(' ')}`, stderr: '', timedOut: false };
};

const toolCall = (id: string, toolName: string, input: unknown): LLMStreamPart[] => [
  { type: 'tool-call', toolCallId: id, toolName, input },
  { type: 'usage', usage: { inputTokens: 10, outputTokens: 5, costEur: 0.4 } },
  { type: 'finish', finishReason: 'tool-calls', model: 'x' },
];
const finish: LLMStreamPart[] = [
  { type: 'text-delta', text: 'done' },
  { type: 'usage', usage: { inputTokens: 1, outputTokens: 1, costEur: 0.4 } },
  { type: 'finish', finishReason: 'stop', model: 'x' },
];

async function start(script: ScriptStep, env: Record<string, string> = {}) {
  running = await startBreakglass({ config: testConfig({ BREAKGLASS_DATA_DIR: dir, ...env }), provider: scriptedProvider(script), runCommand, powerBackend: backend, webRoot: dir });
  return running;
}

async function turn(app: RunningBreakglass, text: string, onApproval?: (callId: string) => 'run' | 'skip') {
  const created = await fetch(`${app.url}/api/sessions`, { method: 'POST', headers: JSON_AUTH, body: '{}' });
  const id = ((await created.json()) as { id: string }).id;
  expect((await fetch(`${app.url}/api/session/${id}/prompt`, { method: 'POST', headers: JSON_AUTH, body: JSON.stringify({ text }) })).status).toBe(202);
  const session = app.sessions.get(id)!;
  const deadline = Date.now() + 10_000;
  const answered = new Set<string>();
  while (!session.events.some((event) => event.type === 'done')) {
    if (Date.now() > deadline) throw new Error('turn did not finish');
    for (const event of session.events) {
      if (event.type === 'tool-approval-needed' && onApproval && !answered.has(event.callId)) {
        answered.add(event.callId);
        await fetch(`${app.url}/api/session/${id}/approve/${event.callId}`, { method: 'POST', headers: JSON_AUTH, body: JSON.stringify({ decision: onApproval(event.callId) }) });
      }
    }
    await sleep(20);
  }
  return session;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bg-safety-'));
  commands.length = 0;
  hypervisorCalls.length = 0;
});
afterEach(async () => {
  await running?.close();
  running = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('approvals that used to be skipped', () => {
  it('asks before read_file outside the allowed folders, runs it after Run, and records the approval', async () => {
    const app = await start((_request, call) => (call === 1 ? toolCall('c1', 'read_file', { path: '/etc/shadow' }) : call === 2 ? toolCall('c2', 'read_file', { path: '/var/log/syslog' }) : finish));
    const session = await turn(app, 'look', () => 'run');
    expect(session.events.filter((event) => event.type === 'tool-approval-needed').map((event) => (event.type === 'tool-approval-needed' ? event.argv.at(-1) : ''))).toEqual(['/etc/shadow']);
    expect(commands.map((argv) => argv.at(-1))).toEqual(['/etc/shadow', '/var/log/syslog']);
    const trail = (await readFile(join(dir, 'trail.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; data: { argv?: string[]; decision?: string } });
    expect(trail.map((record) => record.kind)).toEqual(['approval', 'command']);
    expect(trail[0]?.data).toMatchObject({ decision: 'run', argv: ['head', '-c', '32768', '--', '/etc/shadow'] });
    expect((await verifyTrailFile(join(dir, 'trail.jsonl'))).ok).toBe(true);
  });

  it('asks before journalctl with an option prefix (--rot, --cursor-file=...)', async () => {
    const app = await start((_request, call) =>
      call === 1 ? toolCall('j1', 'run_command', { argv: ['journalctl', '--rot'] }) : call === 2 ? toolCall('j2', 'run_command', { argv: ['journalctl', '--cursor-file=/etc/cron.d/x'] }) : finish,
    );
    const session = await turn(app, 'look', () => 'skip');
    expect(session.events.filter((event) => event.type === 'tool-approval-needed')).toHaveLength(2);
    expect(commands).toEqual([]);
  });

  it('refuses a tool call whose id repeats an earlier one: nothing runs and the turn ends', async () => {
    const app = await start((_request, call) => (call === 1 ? toolCall('same', 'run_command', { argv: ['uptime'] }) : call === 2 ? toolCall('same', 'run_command', { argv: ['reboot'] }) : finish));
    const session = await turn(app, 'look', () => 'run');
    expect(commands).toEqual([['uptime']]);
    expect(session.events.some((event) => event.type === 'error' && /repeated tool call id/.test(event.message))).toBe(true);
    expect(session.events.at(-1)).toMatchObject({ type: 'done', reason: 'error' });
    expect(session.events.some((event) => event.type === 'tool-approval-needed')).toBe(false);
  });
});

describe('the agent sees the hypervisor', () => {
  it('reads the hypervisor view without approval when the VM does not answer', async () => {
    const app = await start((_request, call) => (call === 1 ? toolCall('h1', 'hypervisor', { view: 'agent-ping' }) : finish));
    const session = await turn(app, 'the VM is down');
    expect(hypervisorCalls).toEqual(['agent-ping']);
    expect(commands).toEqual([]);
    const result = session.events.find((event) => event.type === 'tool-result');
    expect(result).toMatchObject({ toolName: 'hypervisor', isError: false });
    expect(result?.type === 'tool-result' && result.output).toContain('qmpstatus: running (agent-ping)');
  });
});

describe('LLM spend caps', () => {
  it('stops a session at its cap and says so; the next session still works', async () => {
    const app = await start((_request, call) => (call <= 3 ? toolCall(`s${call}`, 'run_command', { argv: ['uptime'] }) : finish), { BREAKGLASS_SPEND_CAP_SESSION_EUR: '1' });
    const session = await turn(app, 'look');
    expect(session.events.at(-1)).toMatchObject({ type: 'done', reason: 'budget' });
    expect(session.events.some((event) => event.type === 'error' && /this session has used €1\.20 of its €1\.00/.test(event.message))).toBe(true);
    expect(commands).toHaveLength(3);
  });

  it('stops every session once the month is spent', async () => {
    const app = await start(() => finish, { BREAKGLASS_SPEND_CAP_MONTH_EUR: '0.3' });
    const first = await turn(app, 'one');
    expect(first.events.at(-1)).toMatchObject({ type: 'done', reason: 'stop' });
    const second = await turn(app, 'two');
    expect(second.events.at(-1)).toMatchObject({ type: 'done', reason: 'budget' });
    expect(second.events.some((event) => event.type === 'error' && /monthly cap/.test(event.message))).toBe(true);
  });
});

describe('logins', () => {
  const login = (app: RunningBreakglass, token: string, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: `token=${encodeURIComponent(token)}`, redirect: 'manual' });

  it('logout revokes the cookie on the server: replaying it is refused', async () => {
    const app = await start(() => finish);
    const response = await login(app, TEST_TOKEN);
    expect(response.status).toBe(303);
    const cookie = /breakglass_auth=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1];
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const headers = { cookie: `breakglass_auth=${cookie}` };
    expect((await fetch(`${app.url}/api/sessions`, { headers })).status).toBe(200);
    expect((await fetch(`${app.url}/logout`, { method: 'POST', headers, redirect: 'manual' })).status).toBe(303);
    expect((await fetch(`${app.url}/api/sessions`, { headers })).status).toBe(401);
    const kinds = (await readFile(join(dir, 'trail.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { kind: string }).kind);
    expect(kinds).toEqual(['login', 'logout']);
  });

  it('throttles login attempts per forwarded identity, not per proxy address', async () => {
    const app = await start(() => finish, PROXY_ENV);
    // Without the identity header, attempts from the proxy count against the address.
    let mallory = 0;
    for (let attempt = 0; attempt < 12; attempt++) if ((await login(app, 'wrong-token-0123456789abcdef', { 'x-user': 'mallory' })).status === 429) mallory += 1;
    expect(mallory).toBeGreaterThan(0);
    // Another user behind the same proxy is not locked out by mallory's guesses.
    expect((await login(app, TEST_TOKEN, { 'x-user': 'alice' })).status).toBe(303);
  }, 20_000);
});

describe('the trail', () => {
  it('detects an edited, a removed and a reordered record', async () => {
    const app = await start(() => finish);
    for (const verb of ['reset', 'stop', 'start']) {
      expect((await fetch(`${app.url}/api/vm/${verb}`, { method: 'POST', headers: JSON_AUTH, body: '{"confirm": true}' })).status).toBe(200);
    }
    const file = join(dir, 'trail.jsonl');
    const text = await readFile(file, 'utf8');
    expect(verifyTrailText(text)).toMatchObject({ ok: true, records: 3 });
    const lines = text.trim().split('\n');
    expect(verifyTrailText(text.replace('"verb":"stop"', '"verb":"start"'))).toMatchObject({ ok: false, problem: { line: 2, reason: expect.stringMatching(/edited/) } });
    expect(verifyTrailText(`${[lines[0], lines[2]].join('\n')}\n`)).toMatchObject({ ok: false, problem: { line: 2 } });
    expect(verifyTrailText(`${[lines[1], lines[0], lines[2]].join('\n')}\n`)).toMatchObject({ ok: false, problem: { line: 1 } });
    await writeFile(file, text.replace('"verb":"reset"', '"verb":"cycle"'));
    expect((await verifyTrailFile(file)).problem?.line).toBe(1);
  });

  it('exports a session as Markdown with commands, approvals and cost', async () => {
    const app = await start((_request, call) => (call === 1 ? toolCall('m1', 'run_command', { argv: ['systemctl', 'restart', 'nginx'] }) : finish));
    const session = await turn(app, 'fix nginx', () => 'run');
    const response = await fetch(`${app.url}/api/session/${session.id}/transcript.md`, { headers: AUTH });
    expect(response.headers.get('content-type')).toMatch(/text\/markdown/);
    const markdown = await response.text();
    expect(markdown).toMatch(/^# breakglass session: /);
    expect(markdown).toContain('> fix nginx');
    expect(markdown).toContain('systemctl restart nginx');
    expect(markdown).toMatch(/\*Approved by token at /);
    expect(markdown).toContain('LLM cost of this session: €0.8000');
  });
});
