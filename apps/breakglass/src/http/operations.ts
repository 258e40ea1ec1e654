import { describeError } from '@fish-sre/core';
import type { Hono } from 'hono';
import { z } from 'zod';
import type { SessionManager } from '../agent/session.js';
import { transcriptMarkdown } from '../agent/transcript-markdown.js';
import type { SelftestReport } from '../selftest.js';
import type { HostKeyGuard } from '../ssh/host-keys.js';
import type { Trail } from '../trail/trail.js';
import type { Identity } from './auth.js';

const RepinBody = z.object({ fingerprint: z.string().max(80), confirmation: z.string().max(80) });

/** Routes for the operator's housekeeping: host keys and re-pin, the selftest, transcript export. */
export function registerOperations(
  app: Hono<{ Variables: { identity: Identity } }>,
  options: { sessions: SessionManager; hostKeys?: HostKeyGuard; selftest?: () => Promise<SelftestReport>; trail?: Trail; statusFor: (error: unknown) => 400 | 401 | 409 | 429 | 500 | 502 },
): void {
  const { sessions, hostKeys } = options;

  app.get('/api/host-keys', (c) => (hostKeys ? c.json(hostKeys.current) : c.json({ error: 'not available' }, 404)));

  // Connects afresh; if the key changed, also asks the hypervisor for the guest's own key files.
  app.post('/api/host-keys/check', async (c) => {
    if (!hostKeys) return c.json({ error: 'not available' }, 404);
    return c.json(await hostKeys.inspect(AbortSignal.timeout(45_000)));
  });

  app.post('/api/host-keys/repin', async (c) => {
    if (!hostKeys) return c.json({ error: 'not available' }, 404);
    const body = RepinBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: 'send {"fingerprint": "SHA256:...", "confirmation": "<last six characters>"}' }, 400);
    try {
      return c.json(await hostKeys.repin(body.data.fingerprint, body.data.confirmation, c.get('identity').actor));
    } catch (error) {
      return c.json({ error: describeError(error) }, options.statusFor(error));
    }
  });

  app.post('/api/selftest', async (c) => {
    if (!options.selftest) return c.json({ error: 'not available' }, 404);
    const report = await options.selftest();
    await options.trail?.append('selftest', c.get('identity').actor, { ok: report.ok, failed: report.checks.filter((check) => !check.ok).map((check) => check.name) }).catch(() => undefined);
    return c.json(report);
  });

  app.get('/api/session/:id/transcript.md', (c) => {
    const session = sessions.get(c.req.param('id'));
    if (!session) return c.json({ error: 'no such session' }, 404);
    const name = `breakglass-${session.events[0]?.at.slice(0, 16).replace(/[:T]/g, '-') ?? 'session'}.md`;
    return c.body(transcriptMarkdown(session.title, session.events), 200, { 'content-type': 'text/markdown; charset=utf-8', 'content-disposition': `attachment; filename="${name}"` });
  });
}
