import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createApprovalApp, startApprovalServer, type RunningServer } from '../src/approval-server.js';
import { createMemoryLogger } from '@fish-sre/core';
import { createSqliteAuditStore, type SqliteAuditStore } from '@fish-sre/audit-sqlite';
import { createFixture } from './helpers.js';

async function proposedFixture() {
  const fixture = await createFixture();
  await fixture.engine.ingest(fixture.event(1));
  const { actions, notice } = fixture.notifier.proposals[0]!;
  const tokenOf = (url: string) => url.split('/').pop()!;
  const app = createApprovalApp({ engine: fixture.engine, audit: fixture.audit, signer: fixture.signer, corsOrigins: ['https://ntfy.sh'], clock: fixture.clock });
  return { ...fixture, app, notice, approveToken: tokenOf(actions.approveUrl), denyToken: tokenOf(actions.denyUrl) };
}

const runs = async (sandboxDir: string) => (await readFile(join(sandboxDir, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

describe('approval endpoint', () => {
  it('GET shows a confirmation page and changes nothing', async () => {
    const { app, approveToken, audit, notice } = await proposedFixture();
    const response = await app.request(`/approve/${approveToken}`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    const body = await response.text();
    expect(body).toContain('Approve web-down on penny?');
    expect(body).toContain('<form method="post">');
    expect((await audit.getProposal(notice.proposalId))!.status).toBe('proposed');
  });

  it('POST approves once, runs the fix once, and answers replays and a later deny clearly', async () => {
    const { app, approveToken, denyToken, engine, sandboxDir, notice } = await proposedFixture();
    const first = await app.request(`/approve/${approveToken}`, { method: 'POST', headers: { 'user-agent': 'ntfy/1.16 (Android)' } });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ ok: true, status: 'approved', proposalId: notice.proposalId });
    await engine.idle();
    const replay = await app.request(`/approve/${approveToken}`, { method: 'POST' });
    expect(replay.status).toBe(409);
    // The User-Agent is not an identity: anyone can send "ntfy" or "fish-sre-cli (root)".
    expect((await replay.json()).message).toMatch(/^already approved at 05:00 UTC by approval-link$/);
    const deny = await app.request(`/deny/${denyToken}`, { method: 'POST' });
    expect(deny.status).toBe(409);
    expect((await deny.json()).message).toContain('already approved');
    await engine.idle();
    expect(await runs(sandboxDir)).toBe(1);
  });

  it('refuses forged, truncated and cross-decision tokens with the right status, changing nothing', async () => {
    const { app, approveToken, denyToken, audit, notice, sandboxDir } = await proposedFixture();
    const [payload, signature] = approveToken.split('.') as [string, string];
    const forged = `${payload}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await app.request(`/approve/${forged}`, { method: 'POST' })).status).toBe(403);
    expect((await app.request(`/approve/${approveToken.slice(0, 30)}`, { method: 'POST' })).status).toBe(400);
    const crossed = await app.request(`/approve/${denyToken}`, { method: 'POST' });
    expect(crossed.status).toBe(400);
    expect((await crossed.json()).message).toContain('this link is for "deny"');
    expect((await audit.getProposal(notice.proposalId))!.status).toBe('proposed');
    expect(await runs(sandboxDir)).toBe(0);
  });

  it('answers an expired link with 410 and marks the proposal expired', async () => {
    const { app, approveToken, audit, notice, clock } = await proposedFixture();
    clock.advance(2 * 3_600_000);
    const response = await app.request(`/approve/${approveToken}`, { method: 'POST' });
    expect(response.status).toBe(410);
    expect((await response.json()).message).toContain('expired');
    expect((await audit.getProposal(notice.proposalId))!.status).toBe('expired');
  });

  it('allows the ntfy web app origin and refuses every other origin', async () => {
    const { app, approveToken, audit, notice } = await proposedFixture();
    const preflight = await app.request(`/approve/${approveToken}`, { method: 'OPTIONS', headers: { origin: 'https://ntfy.sh', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://ntfy.sh');
    const evil = await app.request(`/approve/${approveToken}`, { method: 'POST', headers: { origin: 'https://evil.example' } });
    expect(evil.status).toBe(403);
    expect((await audit.getProposal(notice.proposalId))!.status).toBe('proposed');
    const fromNtfy = await app.request(`/approve/${approveToken}`, { method: 'POST', headers: { origin: 'https://ntfy.sh' } });
    expect(fromNtfy.status).toBe(200);
    expect(fromNtfy.headers.get('access-control-allow-origin')).toBe('https://ntfy.sh');
  });

  it('shows a read-only proposal page with the execution steps, and 404 for unknown ids', async () => {
    const { app, approveToken, engine, notice } = await proposedFixture();
    await app.request(`/approve/${approveToken}`, { method: 'POST' });
    await engine.idle();
    const view = await app.request(`/proposals/${notice.proposalId}`, { headers: { accept: 'text/html' } });
    expect(view.status).toBe(200);
    const text = await view.text();
    expect(text).toContain('succeeded');
    expect(text).toContain('restarted');
    expect((await app.request('/proposals/prop_00000000000000000000')).status).toBe(404);
    expect((await app.request('/proposals/../../etc/passwd')).status).toBe(404);
  });

  describe('over real HTTP', () => {
    let server: RunningServer | undefined;
    afterEach(async () => server?.close());

    it('100 concurrent taps on the same Approve link produce exactly one execution', async () => {
      const fixture = await proposedFixture();
      server = await startApprovalServer({ engine: fixture.engine, audit: fixture.audit, signer: fixture.signer, corsOrigins: [], clock: fixture.clock, host: '127.0.0.1', port: 0 });
      const responses = await Promise.all(Array.from({ length: 100 }, () => fetch(`${server!.url}/approve/${fixture.approveToken}`, { method: 'POST' })));
      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.filter((status) => status === 409)).toHaveLength(99);
      await fixture.engine.idle();
      expect(await runs(fixture.sandboxDir)).toBe(1);
      expect(await fixture.audit.listExecutions()).toHaveLength(1);
    });

    it('takes the actor from the identity header only when the peer is a trusted proxy', async () => {
      const fixture = await proposedFixture();
      server = await startApprovalServer({
        engine: fixture.engine,
        audit: fixture.audit,
        signer: fixture.signer,
        corsOrigins: [],
        clock: fixture.clock,
        host: '127.0.0.1',
        port: 0,
        identityHeader: 'x-auth-user',
        trustedProxies: ['127.0.0.1'],
      });
      await fetch(`${server.url}/approve/${fixture.approveToken}`, { method: 'POST', headers: { 'x-auth-user': 'gabin' } });
      expect((await fixture.audit.getProposal(fixture.notice.proposalId))!.decidedBy).toBe('gabin');
    });

    it('ignores the identity header from an untrusted peer', async () => {
      const fixture = await proposedFixture();
      server = await startApprovalServer({
        engine: fixture.engine,
        audit: fixture.audit,
        signer: fixture.signer,
        corsOrigins: [],
        clock: fixture.clock,
        host: '127.0.0.1',
        port: 0,
        identityHeader: 'x-auth-user',
        trustedProxies: ['10.9.9.9'],
      });
      await fetch(`${server.url}/approve/${fixture.approveToken}`, { method: 'POST', headers: { 'x-auth-user': 'mallory' } });
      expect((await fixture.audit.getProposal(fixture.notice.proposalId))!.decidedBy).toBe('approval-link');
    });

    it("compares trusted proxies as addresses: a dual-stack socket's ::ffff:127.0.0.1 is 127.0.0.1", async () => {
      const fixture = await proposedFixture();
      server = await startApprovalServer({
        engine: fixture.engine,
        audit: fixture.audit,
        signer: fixture.signer,
        corsOrigins: [],
        clock: fixture.clock,
        host: '::',
        port: 0,
        identityHeader: 'x-auth-user',
        trustedProxies: ['127.0.0.1'],
      });
      await fetch(`http://127.0.0.1:${server.port}/approve/${fixture.approveToken}`, { method: 'POST', headers: { 'x-auth-user': 'gabin' } });
      expect((await fixture.audit.getProposal(fixture.notice.proposalId))!.decidedBy).toBe('gabin');
    });

    it('accepts CIDR ranges, and refuses a malformed entry with a configuration error', async () => {
      const fixture = await proposedFixture();
      server = await startApprovalServer({
        engine: fixture.engine,
        audit: fixture.audit,
        signer: fixture.signer,
        corsOrigins: [],
        clock: fixture.clock,
        host: '127.0.0.1',
        port: 0,
        identityHeader: 'x-auth-user',
        trustedProxies: ['10.0.0.0/8', '127.0.0.0/8'],
      });
      await fetch(`${server.url}/approve/${fixture.approveToken}`, { method: 'POST', headers: { 'x-auth-user': 'gabin' } });
      expect((await fixture.audit.getProposal(fixture.notice.proposalId))!.decidedBy).toBe('gabin');
      for (const bad of ['localhost', '127.0.0.1/33', '10.0.0.0/8/1', '']) {
        expect(() => createApprovalApp({ engine: fixture.engine, audit: fixture.audit, signer: fixture.signer, corsOrigins: [], trustedProxies: [bad] }), bad).toThrow(
          /FISH_ERR_CONFIG_INVALID|is not an IP address or CIDR range/,
        );
      }
    });

    it('never takes the User-Agent as an identity', async () => {
      const fixture = await proposedFixture();
      server = await startApprovalServer({ engine: fixture.engine, audit: fixture.audit, signer: fixture.signer, corsOrigins: [], clock: fixture.clock, host: '127.0.0.1', port: 0 });
      await fetch(`${server.url}/approve/${fixture.approveToken}`, { method: 'POST', headers: { 'user-agent': 'fish-sre-cli (root)' } });
      expect((await fixture.audit.getProposal(fixture.notice.proposalId))!.decidedBy).toBe('approval-link');
    });
  });

  it('answers an internal error with a reference only, and logs the message', async () => {
    const fixture = await proposedFixture();
    const logger = createMemoryLogger();
    const failing = {
      ...fixture.audit,
      getProposal: async () => {
        throw new Error('SQLITE_IOERR: disk I/O error at /var/lib/fish/audit.sqlite');
      },
    };
    const app = createApprovalApp({ engine: fixture.engine, audit: failing, signer: fixture.signer, corsOrigins: [], clock: fixture.clock, logger });
    const response = await app.request(`/approve/${fixture.approveToken}`);
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: string };
    expect(body.error).toMatch(/^internal error \(reference [0-9a-f]{12}\)$/);
    expect(JSON.stringify(body)).not.toContain('SQLITE');
    expect(logger.lines.find((line) => line.level === 'error')!.fields).toMatchObject({ error: expect.stringContaining('SQLITE_IOERR'), reference: body.error.slice(-13, -1) });
  });
});

describe('a decision on a real SQLite store whose worker thread dies', () => {
  /**
   * The SQLite store's worker thread is terminated at one statement of the decision: after it ran
   * and before its answer reaches the store (`commit`: the decision is durable, the answer lost),
   * or before it ran (`update`: the transaction dies with the thread, nothing recorded).
   */
  async function dyingWorkerFixture() {
    const trap: { when?: 'before' | 'after'; statement?: RegExp; id?: number; killed: number } = { killed: 0 };
    const kill = (worker: Worker) => {
      trap.when = undefined;
      trap.killed++;
      void worker.terminate();
    };
    const fixture = await createFixture({
      audit: (root) =>
        createSqliteAuditStore({
          path: join(root, 'audit.sqlite'),
          onWorker: (worker) => {
            const post = worker.postMessage.bind(worker);
            worker.postMessage = ((message: { id: number; sql?: string }) => {
              if (trap.when !== undefined && trap.statement!.test(message.sql ?? '')) {
                if (trap.when === 'before') return kill(worker);
                trap.id = message.id;
              }
              post(message);
            }) as typeof worker.postMessage;
            const emit = worker.emit.bind(worker) as (event: string | symbol, ...args: unknown[]) => boolean;
            worker.emit = ((event: string | symbol, ...args: unknown[]) => {
              // The statement ran in the thread; its answer never reaches the store.
              if (event === 'message' && trap.when === 'after' && (args[0] as { id?: number }).id === trap.id) {
                kill(worker);
                return true;
              }
              return emit(event, ...args);
            }) as typeof worker.emit;
          },
        }),
    });
    await fixture.engine.ingest(fixture.event(1));
    const { actions, notice } = fixture.notifier.proposals[0]!;
    const app = createApprovalApp({ engine: fixture.engine, audit: fixture.audit, signer: fixture.signer, corsOrigins: [], clock: fixture.clock });
    return { ...fixture, app, notice, approveToken: actions.approveUrl.split('/').pop()!, trap };
  }

  it('a decision committed but answered with an error (the worker killed after the commit) is answered as recorded, and runs once', async () => {
    const { app, approveToken, audit, engine, notice, sandboxDir, trap } = await dyingWorkerFixture();
    Object.assign(trap, { when: 'after', statement: /^commit$/i });
    const response = await app.request(`/approve/${approveToken}`, { method: 'POST' });
    expect(trap.killed).toBe(1);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true, status: 'approved', proposalId: notice.proposalId });
    await engine.idle();
    expect((await audit.getProposal(notice.proposalId))?.status).toBe('approved');
    expect((await audit.getExecutionByProposal(notice.proposalId))?.status).toBe('succeeded');
    expect(await runs(sandboxDir)).toBe(1);
    expect((audit as SqliteAuditStore).workerRestarts).toBe(1);
    expect(await (audit as SqliteAuditStore).verifyChain()).toMatchObject({ ok: true });
    await (audit as SqliteAuditStore).close();
  });

  it('a decision the dying worker did not commit is an error (503, tap again), never "approved", and nothing runs', async () => {
    const { app, approveToken, audit, engine, notice, sandboxDir, trap } = await dyingWorkerFixture();
    Object.assign(trap, { when: 'before', statement: /^update "proposals"/i });
    const response = await app.request(`/approve/${approveToken}`, { method: 'POST' });
    expect(trap.killed).toBe(1);
    expect(response.status).toBe(503);
    expect(JSON.stringify(await response.json())).toMatch(/nothing was decided or run/);
    await engine.idle();
    expect((await audit.getProposal(notice.proposalId))?.status).toBe('proposed');
    expect(await audit.getExecutionByProposal(notice.proposalId)).toBeUndefined();
    expect(await runs(sandboxDir)).toBe(0);
    // The next tap, on the restarted worker, is recorded.
    const again = await app.request(`/approve/${approveToken}`, { method: 'POST' });
    expect(again.status).toBe(200);
    await engine.idle();
    expect(await runs(sandboxDir)).toBe(1);
    await (audit as SqliteAuditStore).close();
  });
});

describe('decision outcomes as HTTP statuses', () => {
  it('maps a damaged link and the wrong button to 400, an unknown proposal to 404', async () => {
    const { app, approveToken, denyToken, engine, signer } = await proposedFixture();
    expect((await app.request(`/approve/${approveToken.slice(0, 20)}`, { method: 'POST' })).status).toBe(400);
    expect((await app.request(`/deny/${approveToken}`, { method: 'POST' })).status).toBe(400);
    expect((await app.request(`/approve/${denyToken}`, { method: 'POST' })).status).toBe(400);
    const unknown = signer.sign('prop_00000000000000000000', 'approve', Date.now() + 60_000);
    const response = await app.request(`/approve/${unknown}`, { method: 'POST' });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ ok: false, status: 'not-found' });
    await engine.idle();
  });
});
