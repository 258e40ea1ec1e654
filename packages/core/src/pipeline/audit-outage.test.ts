import { describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from '../errors.js';
import { createMemoryLogger } from '../util/logger.js';
import type { Notifier } from '../contracts/notifier.js';
import { AuditOutageQueue, isAuditOutage, notifyInTurn } from './audit-outage.js';

const outage = () => new FishError({ code: FishErrorCode.AUDIT_UNREACHABLE, message: 'PostgreSQL at postgres://db:5432/fish cannot be reached (ECONNREFUSED)', isRetryable: true });

const notifier = (name: string, up: boolean, got: string[] = []): Notifier => ({
  specificationVersion: 'v1',
  name,
  propose: async () => ({ id: 'x', channel: name }),
  notify: async (message) => {
    if (!up) throw new Error(`${name} is down`);
    got.push(`${name}: ${message.title}`);
    return { id: 'x', channel: name };
  },
});
const recorder = (name: string, got: string[]) => notifier(name, true, got);

describe('the audit outage queue', () => {
  it('tells an outage from a refusal', () => {
    expect(isAuditOutage(outage())).toBe(true);
    expect(isAuditOutage(new FishError({ code: FishErrorCode.AUDIT_PERMISSION_DENIED, message: 'no' }))).toBe(false);
    expect(isAuditOutage(new Error('ECONNREFUSED'))).toBe(false);
  });

  it('holds items while the store is away, says so once, and routes them in order when it is back', async () => {
    let storeUp = false;
    const routed: number[] = [];
    const notices: string[] = [];
    const logger = createMemoryLogger();
    const queue = new AuditOutageQueue<number>({
      retryMs: 10,
      logger,
      notifiers: [recorder('ntfy', notices)],
      retry: async (item) => {
        if (!storeUp) throw outage();
        routed.push(item);
      },
    });
    queue.hold(1, outage());
    queue.hold(2, outage());
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(queue.size).toBe(2);
    expect(routed).toEqual([]);
    expect(notices).toEqual(['ntfy: fish: audit store unreachable']);
    storeUp = true;
    for (let waited = 0; queue.size > 0 && waited < 2000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(routed).toEqual([1, 2]);
    expect(queue.size).toBe(0);
    expect(logger.lines.map((line) => line.message)).toContainEqual(expect.stringMatching(/^audit store reachable again: every held incident is recorded/));
    queue.stop();
  });

  it('keeps at most its capacity, dropping the oldest and saying which', () => {
    const dropped: number[] = [];
    const queue = new AuditOutageQueue<number>({ capacity: 2, retryMs: 60_000, logger: createMemoryLogger(), notifiers: [], retry: async () => undefined, onDrop: (item) => dropped.push(item) });
    for (const item of [1, 2, 3]) queue.hold(item, outage());
    expect(queue.size).toBe(2);
    expect(dropped).toEqual([1]);
    queue.stop();
  });

  it('sends the notice to the first notifier that takes it, in the configured order', async () => {
    const got: string[] = [];
    const message = { kind: 'info' as const, title: 'fish: audit store unreachable', body: 'b', priority: 'high' as const };
    await notifyInTurn([notifier('ntfy', false), notifier('telegram', true, got), notifier('mail', true, got)], message);
    expect(got).toEqual(['telegram: fish: audit store unreachable']);
    await expect(notifyInTurn([notifier('ntfy', false), notifier('telegram', false)], message)).rejects.toThrow(/ntfy: .*ntfy is down.*; telegram: .*telegram is down/);
  });
});
