import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LLMStreamPart } from '@fish-sre/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../src/agent/events.js';
import { eventsToMessages } from '../src/agent/events.js';
import type { CommandRunner } from '../src/agent/session.js';
import { startBreakglass, type RunningBreakglass } from '../src/server.js';
import type { PowerBackend } from '../src/power/verbs.js';
import { TEST_TOKEN, type ScriptStep, readSse, scriptedProvider, sleep, slowText, testConfig } from './helpers.js';

const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };
const JSON_AUTH = { ...AUTH, 'content-type': 'application/json' };

const idleBackend: PowerBackend = {
  kind: 'ssh',
  capturesForensics: true,
  inspect: async (verb) => ({ verb, ok: true, output: `hypervisor says ${verb}`, durationMs: 0 }),
  run: async (verb) => ({ verb, ok: true, output: 'status: running', state: 'running', durationMs: 0 }),
};

let dir: string;
let running: RunningBreakglass | undefined;
const commands: string[][] = [];
const runCommand: CommandRunner = async (argv) => {
  commands.push(argv);
  return { exitCode: 0, signal: null, stdout: `ran ${argv.join(' ')}`, stderr: '', timedOut: false };
};

async function start(script: ScriptStep, env: Record<string, string> = {}) {
  running = await startBreakglass({
    config: testConfig({ BREAKGLASS_DATA_DIR: dir, BREAKGLASS_SSE_KEEPALIVE_SECONDS: '0.2', ...env }),
    provider: scriptedProvider(script),
    runCommand,
    powerBackend: idleBackend,
    webRoot: dir,
  });
  return running;
}

async function createSession(app: RunningBreakglass): Promise<string> {
  const response = await fetch(`${app.url}/api/sessions`, { method: 'POST', headers: JSON_AUTH, body: '{}' });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function prompt(app: RunningBreakglass, id: string, text: string): Promise<Response> {
  return fetch(`${app.url}/api/session/${id}/prompt`, { method: 'POST', headers: JSON_AUTH, body: JSON.stringify({ text }) });
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const parsed = (events: { data: string }[]) => events.map((event) => JSON.parse(event.data) as SessionEvent & { lastSeq?: number });
const textOf = (events: SessionEvent[]) =>
  events
    .filter((event) => event.type === 'text')
    .map((event) => (event.type === 'text' ? event.text : ''))
    .join('');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bg-sessions-'));
  commands.length = 0;
});
afterEach(async () => {
  await running?.close();
  running = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('sessions and SSE', () => {
  const ANSWER = 'The disk is full: /var/log is 98% used by journald. Vacuum the journal to 500M.';

  it('replays the transcript then tails live; every event carries an id', async () => {
    const app = await start((request) => slowText(ANSWER, 6, 5, request.signal));
    const id = await createSession(app);
    expect((await prompt(app, id, 'triage')).status).toBe(202);
    const response = await fetch(`${app.url}/api/session/${id}/stream`, { headers: AUTH });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = await readSse(response, (seen) => seen.some((event) => event.event === 'done'));
    const withIds = events.filter((event) => event.event !== 'caught-up');
    expect(withIds.every((event, index) => Number(event.id) === index + 1)).toBe(true);
    expect(textOf(parsed(withIds))).toBe(ANSWER);
    expect(parsed(withIds).map((event) => event.type)).toEqual(expect.arrayContaining(['session', 'prompt', 'text', 'usage', 'done']));
  });

  it('resumes from Last-Event-ID with no gap and no duplicate, while the turn is still streaming', async () => {
    const app = await start((request) => slowText(ANSWER, 3, 15, request.signal));
    const id = await createSession(app);
    await prompt(app, id, 'triage');
    const first = new AbortController();
    const firstEvents = await readSse(
      await fetch(`${app.url}/api/session/${id}/stream`, { headers: AUTH, signal: first.signal }),
      (seen) => seen.filter((event) => event.event === 'text').length >= 4,
      { abort: first },
    );
    const lastId = firstEvents.filter((event) => event.id).at(-1)!.id!;
    // The phone loses signal for a moment; the turn goes on on the server.
    await sleep(100);
    const second = await readSse(await fetch(`${app.url}/api/session/${id}/stream`, { headers: { ...AUTH, 'last-event-id': lastId } }), (seen) => seen.some((event) => event.event === 'done'));
    const secondWithIds = second.filter((event) => event.id);
    expect(Number(secondWithIds[0]!.id)).toBe(Number(lastId) + 1);
    const all = [...firstEvents.filter((event) => event.id), ...secondWithIds];
    const ids = all.map((event) => Number(event.id));
    expect(ids).toEqual(ids.map((_, index) => index + 1));
    expect(textOf(parsed(all))).toBe(ANSWER);
  });

  it('keeps a turn running when the client disconnects (detached turns)', async () => {
    const app = await start((request) => slowText(ANSWER, 8, 20, request.signal));
    const id = await createSession(app);
    const controller = new AbortController();
    const stream = await fetch(`${app.url}/api/session/${id}/stream`, { headers: AUTH, signal: controller.signal });
    await prompt(app, id, 'triage');
    await readSse(stream, (seen) => seen.some((event) => event.event === 'text'), { abort: controller });
    const session = app.sessions.get(id)!;
    await waitFor(() => session.events.some((event) => event.type === 'done'), 'the detached turn to finish');
    expect(textOf(session.events)).toBe(ANSWER);
    expect(session.events.at(-1)).toMatchObject({ type: 'done', reason: 'stop' });
  });

  it('sends keep-alive comments on an idle stream', async () => {
    const app = await start(() => []);
    const id = await createSession(app);
    const comments: string[] = [];
    const started = Date.now();
    const controller = new AbortController();
    const response = await fetch(`${app.url}/api/session/${id}/stream`, { headers: AUTH, signal: controller.signal });
    const reading = readSse(response, () => false, { comments, abort: controller });
    await waitFor(() => comments.length >= 2, 'two keep-alive comments', 5000);
    controller.abort();
    await reading.catch(() => undefined);
    expect(comments[0]).toBe(': keep-alive');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('stops a running turn on cancel', async () => {
    const app = await start((request) => slowText('x'.repeat(400), 1, 20, request.signal));
    const id = await createSession(app);
    await prompt(app, id, 'go');
    const session = app.sessions.get(id)!;
    await waitFor(() => session.events.some((event) => event.type === 'text'), 'first text');
    const response = await fetch(`${app.url}/api/session/${id}/cancel`, { method: 'POST', headers: JSON_AUTH, body: '{}' });
    expect(await response.json()).toEqual({ cancelled: true });
    await waitFor(() => session.events.some((event) => event.type === 'done'), 'done');
    expect(session.events.at(-1)).toMatchObject({ type: 'done', reason: 'cancelled' });
    const length = textOf(session.events).length;
    expect(length).toBeLessThan(400);
    await sleep(100);
    expect(textOf(session.events).length).toBe(length);
    expect(session.running).toBeUndefined();
  });

  it('ends a turn at the turn timeout', async () => {
    const app = await start((request) => slowText('y'.repeat(500), 1, 20, request.signal), { BREAKGLASS_TURN_TIMEOUT_SECONDS: '0.3' });
    const id = await createSession(app);
    await prompt(app, id, 'go');
    const session = app.sessions.get(id)!;
    await waitFor(() => session.events.some((event) => event.type === 'done'), 'done');
    expect(session.events.at(-1)).toMatchObject({ type: 'done', reason: 'timeout' });
    expect(session.events.some((event) => event.type === 'error' && /timed out/.test(event.message))).toBe(true);
  });

  it('caps concurrent turns and refuses a second turn in the same session', async () => {
    const app = await start((request) => slowText('z'.repeat(200), 1, 20, request.signal), { BREAKGLASS_MAX_CONCURRENT_TURNS: '2' });
    const [a, b, c] = [await createSession(app), await createSession(app), await createSession(app)];
    expect((await prompt(app, a, 'one')).status).toBe(202);
    expect((await prompt(app, a, 'again')).status).toBe(409);
    expect((await prompt(app, b, 'two')).status).toBe(202);
    const third = await prompt(app, c, 'three');
    expect(third.status).toBe(429);
    expect(((await third.json()) as { error: string }).error).toMatch(/too many turns running \(limit 2\)/);
    expect(app.sessions.activeTurns).toBe(2);
    await fetch(`${app.url}/api/session/${a}/cancel`, { method: 'POST', headers: JSON_AUTH, body: '{}' });
    await waitFor(() => app.sessions.activeTurns === 1, 'a slot to free up');
    expect((await prompt(app, c, 'three')).status).toBe(202);
  });

  it('runs read-only commands at once, waits for Run/Skip on others, and feeds output back as untrusted data', async () => {
    const calls: LLMStreamPart[][] = [
      [
        { type: 'text-delta', text: 'Checking.' },
        { type: 'tool-call', toolCallId: 'toolu_1', toolName: 'run_command', input: { argv: ['df', '-h'] } },
        { type: 'tool-call', toolCallId: 'toolu_2', toolName: 'run_command', input: { argv: ['journalctl', '--vacuum-size=500M'] } },
        { type: 'tool-call', toolCallId: 'toolu_3', toolName: 'run_command', input: { argv: ['systemctl', 'restart', 'nginx'] } },
        { type: 'finish', finishReason: 'tool-calls', model: 'x' },
      ],
      [
        { type: 'text-delta', text: 'Done.' },
        { type: 'finish', finishReason: 'stop', model: 'x' },
      ],
    ];
    const provider: ScriptStep = (_request, call) => calls[call - 1] ?? [];
    const app = await start(provider);
    const id = await createSession(app);
    await prompt(app, id, 'disk');
    const session = app.sessions.get(id)!;
    await waitFor(() => session.events.some((event) => event.type === 'tool-approval-needed'), 'an approval request');
    expect(commands).toEqual([['df', '-h']]);
    const pending = session.events.find((event) => event.type === 'tool-approval-needed');
    expect(pending).toMatchObject({ callId: 'toolu_2', argv: ['journalctl', '--vacuum-size=500M'] });
    expect((await fetch(`${app.url}/api/session/${id}/approve/toolu_9`, { method: 'POST', headers: JSON_AUTH, body: '{"decision":"run"}' })).status).toBe(409);
    expect((await fetch(`${app.url}/api/session/${id}/approve/toolu_2`, { method: 'POST', headers: JSON_AUTH, body: '{"decision":"run"}' })).status).toBe(200);
    await waitFor(() => session.events.filter((event) => event.type === 'tool-approval-needed').length === 2, 'the second approval request');
    expect(commands).toEqual([
      ['df', '-h'],
      ['journalctl', '--vacuum-size=500M'],
    ]);
    expect((await fetch(`${app.url}/api/session/${id}/approve/toolu_3`, { method: 'POST', headers: JSON_AUTH, body: '{"decision":"skip"}' })).status).toBe(200);
    await waitFor(() => session.events.some((event) => event.type === 'done'), 'done');
    expect(commands).toHaveLength(2);
    const results = session.events.filter((event) => event.type === 'tool-result');
    expect(results.map((event) => (event.type === 'tool-result' ? [event.callId, event.skipped ?? false] : []))).toEqual([
      ['toolu_1', false],
      ['toolu_2', false],
      ['toolu_3', true],
    ]);
    expect(session.events.filter((event) => event.type === 'approval').map((event) => (event.type === 'approval' ? event.decision : ''))).toEqual(['run', 'skip']);
    // The second model call saw the outputs, wrapped as untrusted data.
    const second = (running as RunningBreakglass).sessions.get(id)!;
    const messages = eventsToMessages(second.events);
    const toolResults = messages.flatMap((message) => (typeof message.content === 'string' ? [] : message.content)).filter((part) => part.type === 'tool-result');
    expect(toolResults).toHaveLength(3);
    expect(toolResults[0]).toMatchObject({ toolCallId: 'toolu_1' });
    expect((toolResults[0] as { output: string }).output).toMatch(/^<command-output note="untrusted data/);
    expect((toolResults[2] as { output: string }).output).toMatch(/operator chose Skip/);
  });

  it('rejects malformed tool calls back to the model without running anything', async () => {
    const calls: LLMStreamPart[][] = [
      [
        { type: 'tool-call', toolCallId: 'toolu_a', toolName: 'run_command', input: { command: 'rm -rf /' } },
        { type: 'tool-call', toolCallId: 'toolu_b', toolName: 'fetch_url', input: { url: 'http://x' } },
        { type: 'tool-call', toolCallId: 'toolu_c', toolName: 'read_file', input: { path: 'relative/path' } },
        { type: 'finish', finishReason: 'tool-calls', model: 'x' },
      ],
      [
        { type: 'text-delta', text: 'ok' },
        { type: 'finish', finishReason: 'stop', model: 'x' },
      ],
    ];
    const app = await start((_request, call) => calls[call - 1] ?? []);
    const id = await createSession(app);
    await prompt(app, id, 'x');
    const session = app.sessions.get(id)!;
    await waitFor(() => session.events.some((event) => event.type === 'done'), 'done');
    expect(commands).toEqual([]);
    const outputs = session.events.flatMap((event) => (event.type === 'tool-result' ? [event.output] : []));
    expect(outputs[0]).toMatch(/argv/);
    expect(outputs[1]).toMatch(/unknown tool/);
    expect(outputs[2]).toMatch(/absolute/);
  });

  it('persists transcripts and closes a turn interrupted by a restart', async () => {
    const app = await start((request) => slowText('w'.repeat(300), 1, 20, request.signal));
    const id = await createSession(app);
    await prompt(app, id, 'persist me');
    const session = app.sessions.get(id)!;
    await waitFor(() => session.events.filter((event) => event.type === 'text').length >= 3, 'some text');
    await session.flush();
    // Simulate a crash: copy the file as it is now, then restart on that copy.
    const file = join(dir, 'sessions', `${id}.jsonl`);
    const crashed = await readFile(file, 'utf8');
    await app.close();
    running = undefined;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, crashed);
    const again = await start(() => [
      { type: 'text-delta', text: 'back' },
      { type: 'finish', finishReason: 'stop', model: 'x' },
    ]);
    const restored = again.sessions.get(id)!;
    expect(restored.events.find((event) => event.type === 'prompt')).toMatchObject({ text: 'persist me' });
    expect(restored.events.at(-1)).toMatchObject({ type: 'done', reason: 'interrupted' });
    const list = (await (await fetch(`${again.url}/api/sessions`, { headers: AUTH })).json()) as { sessions: Array<{ id: string }> };
    expect(list.sessions.map((entry) => entry.id)).toContain(id);
    // The restored session still works, and its ids go on from where they were.
    const lastSeq = restored.lastSeq;
    expect((await prompt(again, id, 'next')).status).toBe(202);
    await waitFor(() => restored.events.at(-1)?.type === 'done' && restored.lastSeq > lastSeq + 1, 'the next turn');
    expect(restored.events.map((event) => event.seq)).toEqual(restored.events.map((_, index) => index + 1));
  });
});
