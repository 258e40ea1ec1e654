import { describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from '../errors.js';
import { createMemoryLogger } from '../util/logger.js';
import { AuditOutageQueue, isAuditOutage } from './audit-outage.js';

const outage = () => new FishError({ code: FishErrorCode.AUDIT_UNREACHABLE, message: 'PostgreSQL at postgres://db:5432/fish cannot be reached (ECONNREFUSED)', isRetryable: true });

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
      notify: async (message) => notices.push(message.title),
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
    expect(notices).toEqual(['fish: audit store unreachable']);
    storeUp = true;
    for (let waited = 0; queue.size > 0 && waited < 2000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(routed).toEqual([1, 2]);
    expect(queue.size).toBe(0);
    expect(logger.lines.map((line) => line.message)).toContainEqual(expect.stringMatching(/^audit store reachable again: every held incident is recorded/));
    queue.stop();
  });

  it('keeps at most its capacity, dropping the oldest', () => {
    const queue = new AuditOutageQueue<number>({ capacity: 2, retryMs: 60_000, logger: createMemoryLogger(), notify: async () => undefined, retry: async () => undefined });
    for (const item of [1, 2, 3]) queue.hold(item, outage());
    expect(queue.size).toBe(2);
    queue.stop();
  });
});
