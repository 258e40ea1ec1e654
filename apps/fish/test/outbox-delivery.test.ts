/**
 * The delivery outbox end to end: the engine with a real SQLite audit file, the real ntfy and
 * Telegram notifier plugins talking to testkit's protocol servers on loopback. The ntfy server is
 * killed while an escalation is being sent, fish is restarted on the same file, the server comes
 * back on the same port: the escalation arrives exactly once. With a second notifier, the
 * fallback gets it while ntfy is down, and says so.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalSigner, FishEngine, PatternSchema, type Catalog, type Notifier, type ObservedEvent, type OutboxOptions } from '@fish-sre/core';
import { createSqliteAuditStore, type SqliteAuditStore } from '@fish-sre/audit-sqlite';
import { createNtfyNotifier } from '@fish-sre/notify-ntfy';
import { createTelegramNotifier } from '@fish-sre/notify-telegram';
import { freePort, startNtfyServer, startTelegramServer, type NtfyTestServer } from '@fish-sre/testkit';

const TOPIC = 'fish-outbox-test';
const BOT_TOKEN = '4839574812:AAFD39kkdpWt3ywyRZergyOLMaJhac60qc';
const OWNER = 7_001_002;

// A known incident with no safe fix: fish escalates it to a human.
const pattern = PatternSchema.parse({
  id: 'disk-full',
  title: 'Disk full',
  required_signals: [{ id: 'enospc', log: { message: 'No space left on device' } }],
  target_host: 'penny',
  diagnosis: 'The root filesystem is full: free space (old journals, docker images) before anything else fails.',
  samples: { match: ['write /var/lib/docker/tmp/x: No space left on device'] },
});
const catalog: Catalog = { patterns: [pattern], scriptsDir: '/nonexistent', loadedFrom: '/nonexistent', loadedAt: 0, digest: 'x' };
const signer = new ApprovalSigner(ApprovalSigner.generateSecret());
const executor = { specificationVersion: 'v1' as const, name: 'none', hosts: () => ['penny'], run: () => Promise.reject(new Error('nothing runs here')) };

let event = 0;
const diskFull = (): ObservedEvent => ({
  id: `e${++event}`,
  kind: 'log',
  source: 'test',
  time: Date.now(),
  host: 'penny',
  service: 'docker',
  level: 'error',
  message: `write /var/lib/docker/tmp/${event}: No space left on device`,
  labels: {},
});

const stopping: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stopping.splice(0).reverse()) await stop().catch(() => undefined);
});

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** One fish run on the SQLite file: started, and stopped (engine, then store) by afterEach or `stop`. */
async function startFish(file: string, notifiers: Notifier[], outbox: Omit<OutboxOptions, 'fallbacks'>) {
  const audit: SqliteAuditStore = createSqliteAuditStore({ path: file });
  await audit.init();
  const engine = new FishEngine({
    catalog: () => catalog,
    sources: [],
    audit,
    notifier: notifiers[0]!,
    outbox: { ...outbox, fallbacks: notifiers.slice(1) },
    executor,
    signer,
    publicUrl: 'https://fish.test',
  });
  await engine.start();
  const stop = async () => {
    await engine.stop({ graceMs: 1000 });
    await audit.close();
  };
  stopping.push(stop);
  return { engine, audit, stop };
}

const ntfyNotifier = (server: string) => createNtfyNotifier({ server, topic: TOPIC, retries: 0, timeoutMs: 2000 });
const escalations = (ntfy: NtfyTestServer) => ntfy.messagesFor(TOPIC).filter((message) => message.event === 'message' && /Disk full/.test(message.title ?? ''));

describe('delivery outbox (SQLite file, ntfy and Telegram test servers)', () => {
  it('delivers an escalation exactly once after its server was killed mid-send and fish restarted', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'fish-outbox-')), 'audit.sqlite');
    const port = await freePort();
    const first = await startNtfyServer({ version: '2.17.0', port });
    const server = `http://127.0.0.1:${port}`;
    const timing = { retryInitialMs: 200, retryMaxMs: 400, pollMs: 50 };
    const fish = await startFish(file, [ntfyNotifier(server)], timing);

    // The server dies while the escalation is being sent: the request hangs, then the socket is cut.
    first.delayNext(5000);
    await fish.engine.ingest(diskFull());
    await until('the escalation to reach the server', () => first.requests.some((request) => request.method === 'POST') || undefined);
    await first.stop();
    await fish.engine.idle();
    const [row] = await fish.audit.listOutbox({ status: 'pending' });
    expect(row).toMatchObject({ kind: 'escalation', title: expect.stringContaining('Disk full') });
    await until('a failed attempt', async () => ((await fish.audit.listOutbox({ status: 'pending' }))[0]?.attempts ?? 0) >= 2 || undefined);
    expect(escalations(first)).toEqual([]);
    await fish.stop();

    // fish restarts on the same file while the server is still down, then the server comes back.
    const again = await startFish(file, [ntfyNotifier(server)], timing);
    expect(await again.audit.outboxBacklog()).toMatchObject({ pending: 1 });
    const back = await startNtfyServer({ version: '2.17.0', port });
    stopping.push(() => back.stop());
    await until('the escalation to be delivered', () => escalations(back).length > 0 || undefined);
    await until('the delivery to be recorded', async () => (await again.audit.outboxBacklog()).pending === 0 || undefined);
    await new Promise((resolve) => setTimeout(resolve, 500)); // ten more polls: nothing is sent again
    expect(escalations(back)).toHaveLength(1);
    expect(escalations(back)[0]!.message).toContain('The root filesystem is full');
    const history = (await again.audit.history({ entityId: row!.id })).map((entry) => entry.action);
    expect(history[0]).toBe('queued');
    expect(history.at(-1)).toBe('sent');
    expect(history.filter((action) => action === 'sent')).toHaveLength(1);
    expect((await again.audit.history({ entityId: 'system' })).some((entry) => entry.action === 'resume-notification' && entry.data['outboxId'] === row!.id)).toBe(true);
  });

  it('hands the escalation to the fallback notifier while the first is down, and the message says so', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'fish-outbox-')), 'audit.sqlite');
    const telegram = await startTelegramServer({ token: BOT_TOKEN, chats: [{ id: OWNER }] });
    stopping.push(() => telegram.close());
    const down = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    const fallback = createTelegramNotifier({ botToken: BOT_TOKEN, chatId: OWNER, apiUrl: telegram.url, decisions: 'none', retries: 0 });
    const fish = await startFish(file, [ntfyNotifier(down), fallback], { retryInitialMs: 50, retryMaxMs: 100, pollMs: 25, failoverAfterAttempts: 3, failoverAfterMs: 60_000 });

    await fish.engine.ingest(diskFull());
    const [message] = await until('the fallback to get it', () => (telegram.messages(OWNER).length > 0 ? telegram.messages(OWNER) : undefined));
    expect(message!.text).toContain('Disk full');
    expect(message!.text).toContain('delivered via telegram after ntfy failed 3×');
    await until('the delivery to be recorded', async () => (await fish.audit.outboxBacklog()).pending === 0 || undefined);
    const [sent] = await fish.audit.listOutbox({ status: 'sent' });
    expect(sent).toMatchObject({ channel: 'telegram', attempts: 3, failures: { ntfy: 3 } });
    const notifications = await fish.audit.listNotifications({ limit: 10 });
    expect(notifications.filter((notification) => !notification.ok).map((notification) => notification.channel)).toEqual(['ntfy', 'ntfy', 'ntfy']);
    expect(notifications.filter((notification) => notification.ok).map((notification) => notification.channel)).toEqual(['telegram']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(telegram.messages(OWNER)).toHaveLength(1);
  });
});
