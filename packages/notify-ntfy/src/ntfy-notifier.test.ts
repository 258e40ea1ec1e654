import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, createMemoryLogger, silentLogger, systemClock } from '@fish-sre/core';
import { sampleActions, sampleNotice, startNtfyServer, testNotifier, type DeliveredNotification, type NtfyMessage, type NtfyTestServer } from '@fish-sre/testkit';
import { createNtfyNotifier, ntfyNotifierPlugin, sequenceIdFor, truncateUtf8 } from './index.js';

const TOKEN = 'tk_AbCdEfGhIjKlMnOpQrStUvWxYz123';
const auth = { users: [{ username: 'fish', password: 'p4ssw0rd-fish' }], tokens: [{ token: TOKEN, username: 'fish' }] };

function toDelivered(message: NtfyMessage): DeliveredNotification {
  const urls = [...(message.actions ?? []).map((action) => action.url ?? ''), message.click ?? ''].filter((url) => url !== '');
  return { title: message.title ?? '', body: message.message ?? '', urls, raw: JSON.stringify(message) };
}

/** Reads the topic back the way a subscriber does (GET /<topic>/json?poll=1), with credentials. */
async function pollInbox(server: NtfyTestServer, topic: string): Promise<DeliveredNotification[]> {
  const response = await fetch(`${server.url}/${topic}/json?poll=1`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as NtfyMessage)
    .filter((message) => message.event === 'message')
    .map(toDelivered);
}

for (const version of ['2.13.0', '2.16.0'] as const) {
  let server: NtfyTestServer;
  const topic = `fish-conformance-${version.replace(/\./g, '')}`;
  beforeAll(async () => {
    server = await startNtfyServer({ version, auth });
  });
  testNotifier({
    name: `ntfy ${version} (token auth)`,
    createNotifier: () => createNtfyNotifier({ server: server.url, topic, token: TOKEN, retryDelayMs: 0 }),
    inbox: () => pollInbox(server, topic),
    createFailingNotifier: () => createNtfyNotifier({ server: server.url, topic, token: 'tk_wrongwrongwrongwrongwrong12', retries: 0 }),
    cleanup: () => server.stop(),
  });
}

describe('ntfy notifier', () => {
  let server: NtfyTestServer;
  afterEach(async () => {
    await server?.stop();
  });

  it('sends the title, emoji and accents as UTF-8 bytes in a JSON body to the root URL', async () => {
    server = await startNtfyServer({ version: '2.13.0', auth });
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish', token: TOKEN });
    const notice = sampleNotice({ title: 'Redémarrage 🐟 ⚠️' });
    await notifier.propose(notice, sampleActions(notice.proposalId));
    const request = server.requests.at(-1)!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request.body.includes(Buffer.from('Redémarrage 🐟 ⚠️', 'utf8'))).toBe(true);
    const body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
    expect(body).toMatchObject({ topic: 'fish', priority: 4, markdown: true });
    expect(body.actions).toEqual([
      { action: 'http', label: 'Approve', url: sampleActions(notice.proposalId).approveUrl, method: 'POST', clear: true },
      { action: 'http', label: 'Deny', url: sampleActions(notice.proposalId).denyUrl, method: 'POST', clear: true },
      { action: 'view', label: 'Details', url: sampleActions(notice.proposalId).viewUrl, clear: false },
    ]);
    expect(server.messages.at(-1)?.title).toBe('Fix proposed: Redémarrage 🐟 ⚠️ (penny)');
  });

  it('uses Basic auth with username and password', async () => {
    server = await startNtfyServer({ version: '2.13.0', auth });
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish', username: 'fish', password: 'p4ssw0rd-fish' });
    await notifier.notify({ kind: 'info', title: 'hello', body: 'world', priority: 'min' });
    expect(server.requests.at(-1)?.headers.authorization).toBe(`Basic ${Buffer.from('fish:p4ssw0rd-fish').toString('base64')}`);
    expect(server.messages.at(-1)).toMatchObject({ title: 'hello', message: 'world', priority: 1 });
  });

  it('keeps a long proposal under 4096 bytes so ntfy never makes it an attachment', async () => {
    server = await startNtfyServer({ version: '2.13.0', attachments: true });
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish' });
    const notice = sampleNotice({ summary: `START ${'ü🐟'.repeat(5000)}`, evidence: Array.from({ length: 50 }, (_, index) => `line ${index} ${'~~~'.repeat(100)}`) });
    await notifier.propose(notice, sampleActions(notice.proposalId));
    const message = server.messages.at(-1)!;
    expect(message.attachment).toBeUndefined();
    expect(Buffer.byteLength(message.message ?? '')).toBeLessThanOrEqual(4096);
    expect(message.message).toContain('START');
    expect(message.message).toContain('shortened');
    expect(message.message).not.toContain('\uFFFD');
  });

  it('shortens and republishes when the server has a smaller message limit (40014)', async () => {
    server = await startNtfyServer({ version: '2.13.0', messageSizeLimit: 1500 });
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish' });
    await notifier.notify({ kind: 'unknown-incident', title: 'UNKNOWN on penny', body: 'B'.repeat(2000), priority: 'low' });
    expect(server.requests.map((request) => request.status)).toEqual([400, 200]);
    expect(Buffer.byteLength(server.messages.at(-1)?.message ?? '')).toBeLessThanOrEqual(1500);
  });

  it('on 2.16 replaces the proposal notification by sequence id and clears it when denied', async () => {
    server = await startNtfyServer({ version: '2.16.0' });
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish' });
    const notice = sampleNotice();
    const receipt = await notifier.propose(notice, sampleActions(notice.proposalId));
    expect(receipt.id).toBe(sequenceIdFor(notice.proposalId));
    expect(await notifier.updateSupport()).toBe('sequence-id');
    const updated = await notifier.update!({ proposalId: notice.proposalId, status: 'approved', detail: 'approved from the phone', actor: 'link:owner', receipt });
    expect(updated).toEqual({ id: receipt.id, channel: 'ntfy' });
    await notifier.update!({ proposalId: notice.proposalId, status: 'denied', detail: 'denied', receipt });
    const events = server.messagesFor('fish');
    expect(events.map((event) => [event.event, event.sequence_id])).toEqual([
      ['message', receipt.id],
      ['message', receipt.id],
      ['message', receipt.id],
      ['message_clear', receipt.id],
    ]);
    expect(events[1]?.actions).toBeUndefined();
    expect(events[1]?.title).toBe(`Approved: proposal ${notice.proposalId}`);
  });

  it('on 2.13 sends a new confirmation message instead, and stops sending sequence ids', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish' });
    const notice = sampleNotice();
    const receipt = await notifier.propose(notice, sampleActions(notice.proposalId));
    expect(receipt.id).toBe(server.messages[0]?.id);
    expect(await notifier.updateSupport()).toBe('none');
    const update = await notifier.update!({ proposalId: notice.proposalId, status: 'denied', detail: 'denied by owner', receipt });
    expect(update?.id).toBe(server.messages[1]?.id);
    expect(server.messages).toHaveLength(2);
    expect(server.requests.some((request) => request.path.endsWith('/clear'))).toBe(false);
    expect(JSON.parse(server.requests.at(-1)!.body.toString('utf8'))).not.toHaveProperty('sequence_id');
  });

  it('after a restart on 2.16 (no propose seen) still updates in place', async () => {
    server = await startNtfyServer({ version: '2.16.0' });
    const before = createNtfyNotifier({ server: server.url, topic: 'fish' });
    const notice = sampleNotice();
    const receipt = await before.propose(notice, sampleActions(notice.proposalId));
    const after = createNtfyNotifier({ server: server.url, topic: 'fish' });
    expect(await after.updateSupport()).toBe('unknown');
    await after.update!({ proposalId: notice.proposalId, status: 'succeeded', detail: 'verify passed', receipt });
    expect(server.messages.at(-1)?.sequence_id).toBe(receipt.id);
    expect(await after.updateSupport()).toBe('sequence-id');
  });

  it('detects 2.17+ from the admin-only /v1/version endpoint', async () => {
    // The server the testkit's own test checks /v1/version on (an admin and a plain user, as ntfy's
    // auth-users sets them up): there the endpoint's answers, here what the notifier makes of them.
    server = await startNtfyServer({
      version: '2.17.0',
      auth: {
        users: [
          { username: 'admin', password: 'a', role: 'admin' },
          { username: 'u', password: 'u' },
        ],
      },
    });
    expect(await createNtfyNotifier({ server: server.url, topic: 'fish', username: 'admin', password: 'a' }).updateSupport()).toBe('sequence-id');
    expect(await createNtfyNotifier({ server: server.url, topic: 'fish', username: 'u', password: 'u' }).updateSupport()).toBe('sequence-id');
  });

  it('retries on 5xx and dropped connections, not on 4xx', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish', retries: 2, retryDelayMs: 1 });
    server.failNext(502);
    server.dropNext();
    await notifier.notify({ kind: 'budget', title: 'Budget 80%', body: '16 € of 20 €', priority: 'high' });
    expect(server.requests.map((request) => request.status)).toEqual([0, 502, 200]);
    server.failNext(503, 3);
    const error = await notifier.notify({ kind: 'info', title: 't', body: 'b', priority: 'low' }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(error, FishErrorCode.NOTIFIER_FAILED)).toBe(true);
    expect((error as FishError).isRetryable).toBe(true);
    const attempts = server.requests.length;
    server.failNext(400, 3);
    const refused = await notifier.notify({ kind: 'info', title: 't', body: 'b', priority: 'low' }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(refused, FishErrorCode.NOTIFIER_FAILED)).toBe(true);
    expect((refused as FishError).isRetryable).toBe(false);
    expect(server.requests.length).toBe(attempts + 1);
  });

  it('times out a server that does not answer', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish', timeoutMs: 100, retries: 0 });
    server.delayNext(1000);
    const error = await notifier.notify({ kind: 'info', title: 't', body: 'b', priority: 'low' }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(error, FishErrorCode.NOTIFIER_FAILED)).toBe(true);
    expect((error as Error).message).toMatch(/no answer within 100 ms/);
  });

  it('names the server in errors, never the topic (whoever knows it reads and posts), the token or the password', async () => {
    server = await startNtfyServer({ version: '2.13.0', auth });
    const badToken = 'tk_ZyXwVuTsRqPoNmLkJiHgFeDcBa987';
    const logger = createMemoryLogger();
    const notifier = createNtfyNotifier({ server: server.url, topic: 'fish-topic', token: badToken, logger });
    const error = (await notifier.notify({ kind: 'info', title: 't', body: 'b', priority: 'low' }).then(
      () => undefined,
      (caught: unknown) => caught,
    )) as FishError;
    expect(error.code).toBe(FishErrorCode.NOTIFIER_FAILED);
    expect(error.message).toContain(`${server.url}/<topic>`);
    expect(error.message).toContain('40101');
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain(badToken);
    expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('fish-topic');
    const basic = createNtfyNotifier({ server: server.url.replace('http://', 'http://fish:hunter2secret@'), topic: 'fish-topic', username: 'fish', password: 'hunter2secret', retries: 0 });
    const basicError = (await basic.notify({ kind: 'info', title: 't', body: 'b', priority: 'low' }).then(
      () => undefined,
      (caught: unknown) => caught,
    )) as FishError;
    expect(FishError.isInstance(basicError)).toBe(true);
    expect(`${basicError.message} ${JSON.stringify(basicError.details)}`).not.toContain('hunter2secret');
    expect(JSON.stringify(logger.lines)).not.toContain(badToken);
    expect(JSON.stringify(logger.lines)).not.toContain('fish-topic');
  });

  it('refuses an invalid topic at creation', () => {
    expect(() => createNtfyNotifier({ topic: 'no spaces allowed' })).toThrow(/topic/);
  });

  it('reports health through check()', async () => {
    server = await startNtfyServer({ version: '2.16.0' });
    const result = await createNtfyNotifier({ server: server.url, topic: 'fish' }).check!();
    expect(result.ok).toBe(true);
    await server.stop();
    const down = await createNtfyNotifier({ server: server.url, topic: 'fish', retries: 0, timeoutMs: 500 }).check!();
    expect(down.ok).toBe(false);
    server = await startNtfyServer({ version: '2.13.0' });
  });

  it('is created by its plugin descriptor with the context fetch', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    expect(ntfyNotifierPlugin.kind).toBe('notifier');
    expect(ntfyNotifierPlugin.type).toBe('ntfy');
    const calls: string[] = [];
    const countingFetch: typeof fetch = (input, init) => {
      calls.push(String(input));
      return fetch(input, init);
    };
    const options = ntfyNotifierPlugin.optionsSchema.parse({ server: server.url, topic: 'fish' });
    const notifier = await ntfyNotifierPlugin.create(options, { name: 'phone', logger: silentLogger, clock: systemClock, catalog: () => ({}) as never, dataDir: '/tmp', fetch: countingFetch });
    expect(notifier.name).toBe('phone');
    await notifier.notify({ kind: 'info', title: 't', body: 'b', priority: 'low' });
    expect(calls).toEqual([`${server.url}/`]);
    expect(() => ntfyNotifierPlugin.optionsSchema.parse({ topic: 'x y' })).toThrow();
    expect(() => ntfyNotifierPlugin.optionsSchema.parse({ topic: 'x', token: 'tk_a', username: 'u' })).toThrow();
  });

  it('truncates UTF-8 without splitting characters', () => {
    expect(truncateUtf8('aé🐟', 4)).toBe('aé');
    expect(truncateUtf8('aé🐟', 7)).toBe('aé🐟');
    expect(sequenceIdFor('p-1')).toBe('fish-p-1');
    expect(sequenceIdFor('p.1/x')).toMatch(/^fish-[0-9a-f]{40}$/);
  });
});

afterAll(() => undefined);
