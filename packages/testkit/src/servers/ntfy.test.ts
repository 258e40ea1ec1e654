import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeRfc2047, startNtfyServer, type NtfyTestServer } from './ntfy.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./__fixtures__/ntfy/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const keysOf = (value: Record<string, unknown>) => Object.keys(value).sort();

let server: NtfyTestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server!.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('testkit ntfy server', () => {
  it('publishes JSON to the root and answers the message object ntfy returns', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    const { status, json } = await post('/', {
      topic: 'fish-alerts',
      title: 'Redémarrage 🐟',
      message: '**homepage** down',
      priority: 4,
      tags: ['warning'],
      markdown: true,
      actions: [
        { action: 'http', label: 'Approve', url: 'https://fish/approve', clear: true },
        { action: 'http', label: 'Deny', url: 'https://fish/deny', method: 'put', clear: true },
        { action: 'view', label: 'Details', url: 'https://fish/p' },
      ],
    });
    expect(status).toBe(200);
    const recorded = fixture('publish-response.json');
    expect(keysOf(json)).toEqual(keysOf(recorded));
    expect(json.id).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(json.event).toBe('message');
    expect(json.title).toBe('Redémarrage 🐟');
    expect(json.content_type).toBe('text/markdown');
    const actions = json.actions as Array<Record<string, unknown>>;
    expect(actions.map((action) => action.method)).toEqual(['POST', 'PUT', undefined]);
    expect(actions.every((action) => typeof action.id === 'string')).toBe(true);
    expect(keysOf(actions[0]!)).toEqual(keysOf((recorded.actions as Array<Record<string, unknown>>)[0]!));
    expect(server.messagesFor('fish-alerts')).toHaveLength(1);
  });

  it('publishes with headers, decoding RFC 2047 titles and the X-Actions simple format', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    const title = `=?UTF-8?B?${Buffer.from('Réparé ✅', 'utf8').toString('base64')}?=`;
    const response = await fetch(`${server.url}/fish-alerts`, {
      method: 'PUT',
      headers: {
        Title: title,
        Priority: 'urgent',
        Tags: 'fish,wrench',
        Actions: 'view, Open, https://grafana/d/x, clear=true; http, Restart, https://hook/restart, method=POST, headers.Authorization=Bearer abc, body={"vm":101}',
      },
      body: 'Disk low',
    });
    expect(response.status).toBe(200);
    const json = (await response.json()) as Record<string, unknown>;
    expect(json.title).toBe('Réparé ✅');
    expect(json.priority).toBe(5);
    expect(json.tags).toEqual(['fish', 'wrench']);
    expect(json.actions).toMatchObject([
      { action: 'view', label: 'Open', url: 'https://grafana/d/x', clear: true },
      { action: 'http', label: 'Restart', url: 'https://hook/restart', method: 'POST', headers: { Authorization: 'Bearer abc' }, body: '{"vm":101}' },
    ]);
    expect(decodeRfc2047('=?UTF-8?Q?caf=C3=A9_noir?=')).toBe('café noir');
  });

  it('validates topics, priorities, JSON and actions with ntfy error codes', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    expect((await post('/', { topic: 'bad topic!', message: 'x' })).json).toMatchObject({ code: 40009, http: 400 });
    expect((await post('/', { topic: 'a'.repeat(65), message: 'x' })).json.code).toBe(40009);
    expect((await post('/', { topic: 't', priority: 9 })).json).toMatchObject({ code: 40007, http: 400 });
    expect((await post('/', { topic: 't', priority: 'high' })).json.code).toBe(40017);
    expect((await post('/', '{not json')).json.code).toBe(40017);
    const four = Array.from({ length: 4 }, (_, index) => ({ action: 'view', label: `v${index}`, url: 'https://x' }));
    const tooMany = await post('/', { topic: 't', actions: four });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json).toEqual(fixture('error-actions-invalid.json'));
    expect((await post('/', { topic: 't', actions: [{ action: 'copy', label: 'c', value: 'x' }] })).json.code).toBe(40018);
    expect((await post('/', { topic: 't', actions: [{ action: 'http', label: 'x' }] })).json.code).toBe(40018);
    expect((await post('/', { topic: 't', actions: [{ action: 'view', url: 'https://x' }] })).json.code).toBe(40018);
    expect((await post('/', { topic: 't', actions: [{ action: 'http', label: 'x', url: 'https://x', method: 'GET', body: 'b' }] })).json.code).toBe(40018);
    expect(server.messages).toHaveLength(0);
    expect((await post('/', { topic: 't' })).json.message).toBe('triggered');
  });

  it('turns a message over 4096 bytes into an attachment, or refuses it without attachments', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    const long = 'é'.repeat(2049); // 4098 bytes
    const refused = await post('/', { topic: 't', message: long });
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual(fixture('error-attachments-not-allowed.json'));
    expect((await post('/', { topic: 't', message: 'é'.repeat(2048) })).status).toBe(200);
    expect((await post('/', { topic: 't', message: 'x'.repeat(9000) })).json).toMatchObject({ code: 41303, http: 413 });
    await server.stop();
    server = await startNtfyServer({ version: '2.13.0', attachments: true });
    const attached = await post('/', { topic: 't', message: long });
    expect(attached.status).toBe(200);
    expect(keysOf(attached.json)).toEqual(keysOf(fixture('attachment-message.json')));
    expect(attached.json.message).toBe('You received a file: attachment.txt');
    expect((attached.json.attachment as { size: number }).size).toBe(4098);
  });

  it('authenticates Bearer, Basic, Basic with an empty user and ?auth=, with ntfy error bodies', async () => {
    const token = 'tk_AbCdEfGhIjKlMnOpQrStUvWxYz123';
    server = await startNtfyServer({
      version: '2.13.0',
      auth: {
        users: [
          { username: 'fish', password: 's3cret' },
          { username: 'reader', password: 'r', access: 'read-only' },
        ],
        tokens: [{ token, username: 'fish' }],
      },
    });
    const anonymous = await post('/', { topic: 't', message: 'x' });
    expect(anonymous.status).toBe(403);
    expect(anonymous.json).toEqual(fixture('error-forbidden.json'));
    const wrong = await post('/', { topic: 't', message: 'x' }, { Authorization: 'Bearer tk_wrong' });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual(fixture('error-unauthorized.json'));
    expect((await post('/', { topic: 't', message: 'x' }, { Authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await post('/', { topic: 't', message: 'x' }, { Authorization: `Basic ${Buffer.from('fish:s3cret').toString('base64')}` })).status).toBe(200);
    expect((await post('/', { topic: 't', message: 'x' }, { Authorization: `Basic ${Buffer.from(`:${token}`).toString('base64')}` })).status).toBe(200);
    expect((await post('/', { topic: 't', message: 'x' }, { Authorization: `Basic ${Buffer.from('fish:nope').toString('base64')}` })).status).toBe(401);
    expect((await post('/', { topic: 't', message: 'x' }, { Authorization: `Basic ${Buffer.from('reader:r').toString('base64')}` })).status).toBe(403);
    const raw = Buffer.from(`Bearer ${token}`).toString('base64').replace(/=+$/, '');
    expect((await post(`/?auth=${raw}`, { topic: 't', message: 'x' })).status).toBe(200);
    const poll = await fetch(`${server.url}/t/json?poll=1`, { headers: { Authorization: `Basic ${Buffer.from('reader:r').toString('base64')}` } });
    expect(poll.status).toBe(200);
    expect((await poll.text()).trim().split('\n')).toHaveLength(4);
  });

  it('reads messages back with /<topic>/json?poll=1 and since=<id>', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    const first = await post('/', { topic: 'a', message: 'one' });
    await post('/', { topic: 'b', message: 'other topic' });
    await post('/', { topic: 'a', message: 'two' });
    const all = await (await fetch(`${server.url}/a/json?poll=1`)).text();
    expect(
      all
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { message: string }).message),
    ).toEqual(['one', 'two']);
    const since = await (await fetch(`${server.url}/a/json?poll=1&since=${first.json.id as string}`)).text();
    expect(
      since
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { message: string }).message),
    ).toEqual(['two']);
    const recorded = readFileSync(new URL('./__fixtures__/ntfy/poll.ndjson', import.meta.url), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const [line] = all
      .trim()
      .split('\n')
      .map((text) => JSON.parse(text) as Record<string, unknown>);
    expect(keysOf(line!)).toEqual(keysOf(recorded[1]!));
  });

  it('ignores sequence ids on 2.13 and answers 404 to the update paths', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    const published = await post('/', { topic: 't', message: 'x', sequence_id: 'fish-1' });
    expect(published.status).toBe(200);
    expect(published.json.sequence_id).toBeUndefined();
    expect((await fetch(`${server.url}/t/fish-1/clear`, { method: 'PUT' })).status).toBe(404);
    expect((await fetch(`${server.url}/t/fish-1`, { method: 'DELETE' })).status).toBe(404);
    expect((await fetch(`${server.url}/v1/version`)).status).toBe(404);
  });

  it('updates, clears and deletes by sequence id on 2.16', async () => {
    server = await startNtfyServer({ version: '2.16.0' });
    const published = await post('/', { topic: 't', message: 'first', sequence_id: 'fish-1' });
    expect(published.json.sequence_id).toBe('fish-1');
    const updated = await fetch(`${server.url}/t/fish-1`, { method: 'POST', body: 'second' });
    expect(((await updated.json()) as { sequence_id: string }).sequence_id).toBe('fish-1');
    const viaHeader = await fetch(`${server.url}/t`, { method: 'POST', headers: { 'X-Sequence-ID': 'fish-1' }, body: 'third' });
    expect(((await viaHeader.json()) as { sequence_id: string }).sequence_id).toBe('fish-1');
    const cleared = await fetch(`${server.url}/t/fish-1/clear`, { method: 'PUT' });
    expect(((await cleared.json()) as { event: string }).event).toBe('message_clear');
    const deleted = await fetch(`${server.url}/t/fish-1`, { method: 'DELETE' });
    expect(((await deleted.json()) as { event: string }).event).toBe('message_delete');
    expect(server.messagesFor('t').map((message) => message.event)).toEqual(['message', 'message', 'message', 'message_clear', 'message_delete']);
    expect((await post('/', { topic: 't', sequence_id: 'bad id!' })).status).toBe(400);
    expect((await fetch(`${server.url}/v1/version`)).status).toBe(404);
  });

  it('serves /v1/health, and /v1/version to admins only on 2.17', async () => {
    // notify-ntfy's test starts this same server to check the notifier's version detection.
    server = await startNtfyServer({
      version: '2.17.0',
      auth: {
        users: [
          { username: 'admin', password: 'a', role: 'admin' },
          { username: 'u', password: 'u' },
        ],
        defaultAccess: 'read-write',
      },
    });
    expect(await (await fetch(`${server.url}/v1/health`)).json()).toEqual({ healthy: true });
    expect((await fetch(`${server.url}/v1/version`)).status).toBe(401);
    expect((await fetch(`${server.url}/v1/version`, { headers: { Authorization: `Basic ${Buffer.from('u:u').toString('base64')}` } })).status).toBe(403);
    const admin = await fetch(`${server.url}/v1/version`, { headers: { Authorization: `Basic ${Buffer.from('admin:a').toString('base64')}` } });
    expect(((await admin.json()) as { version: string }).version).toBe('2.17.0');
  });

  it('injects failures, dropped connections and delays for retry tests', async () => {
    server = await startNtfyServer({ version: '2.13.0' });
    server.failNext(503);
    expect((await post('/', { topic: 't', message: 'x' })).status).toBe(503);
    server.dropNext();
    await expect(fetch(`${server.url}/v1/health`)).rejects.toThrow();
    expect((await post('/', { topic: 't', message: 'x' })).status).toBe(200);
    expect(server.requests.map((request) => request.status)).toEqual([503, 0, 200]);
  });
});
