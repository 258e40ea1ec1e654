import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { FishError, FishErrorCode, describeError } from '@fish-sre/core';
import { KeyedRateLimiter } from '@fish-sre/core/internal';
import { Hono } from 'hono';
import { setCookie, deleteCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { SessionManager } from '../agent/session.js';
import { POWER_VERBS, isMutatingVerb, isPowerVerb } from '../power/verbs.js';
import type { PowerService } from '../power/power-service.js';
import { COOKIE_NAME, type Identity, type LoginSessions, type PeerAddress, authenticate, requireAuth, sha256Equal, throttleKey } from './auth.js';
import { LOGIN_PAGE } from './login-page.js';
import { getCookie } from 'hono/cookie';
import type { Trail } from '../trail/trail.js';
import type { HostKeyGuard } from '../ssh/host-keys.js';
import type { SelftestReport } from '../selftest.js';
import { registerOperations } from './operations.js';

export interface AppOptions {
  sessions: SessionManager;
  power: PowerService;
  auth: { token?: string; trustedHeader?: string; trustedProxies: string[]; cookieSecure: boolean };
  /** Server-side login sessions behind the cookie (logout revokes). */
  logins: LoginSessions;
  /** The append-only trail (logins, power verbs, approvals, re-pins). */
  trail?: Trail;
  /** The VM host-key state and re-pin. */
  hostKeys?: HostKeyGuard;
  /** Runs the selftest (the UI button). */
  selftest?: () => Promise<SelftestReport>;
  peer: PeerAddress;
  /** Built UI folder (dist/web). */
  webRoot: string;
  keepAliveMs: number;
  /** Shown in the UI. */
  info: { vmName: string; target: string; powerBackend: string; approval: boolean; llm: string };
}

type AppEnv = { Variables: { identity: Identity } };

/** Asks EventSource to reconnect quickly after a drop (phones lose signal often). */
const RECONNECT_MS = 1500;

// The service worker and the offline page hold no state: public, so the shell can always be installed.
const PUBLIC_PATHS = new Set(['/login', '/healthz', '/sw.js', '/offline.html']);

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.webmanifest': 'application/manifest+json',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

const PromptBody = z.object({ text: z.string().trim().min(1).max(8000) });
const CreateBody = z.object({ title: z.string().trim().max(120).optional() });
const ApproveBody = z.object({ decision: z.enum(['run', 'skip']) });

export function statusFor(error: unknown): 400 | 401 | 409 | 429 | 500 | 502 {
  if (!FishError.isInstance(error)) return 500;
  switch (error.code) {
    case FishErrorCode.VERB_NOT_ALLOWED:
      return 400;
    case FishErrorCode.STATE_TRANSITION_ILLEGAL:
      return 409;
    case FishErrorCode.BUDGET_EXHAUSTED:
      return 429;
    case FishErrorCode.HYPERVISOR_FAILED:
    case FishErrorCode.EXECUTOR_CONNECTION:
      return 502;
    default:
      return 500;
  }
}

/**
 * The breakglass HTTP app. Everything but `/login` and `/healthz` (a constant `ok`) needs a
 * credential; mutating API calls need a JSON body, which a cross-site form cannot send.
 */
export function createApp(options: AppOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { sessions, power } = options;

  app.use('*', async (c, next) => {
    await next();
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('x-frame-options', 'DENY');
    if (!c.res.headers.has('cache-control')) c.header('cache-control', 'no-store');
  });
  const authOptions = { ...options.auth, logins: options.logins };
  const record = async (kind: 'login' | 'login-refused' | 'logout', actor: string, data: Record<string, unknown>) => {
    await options.trail?.append(kind, actor, data).catch(() => undefined);
  };
  app.use('*', requireAuth({ ...authOptions, peer: options.peer, publicPaths: PUBLIC_PATHS }));
  app.use('/api/*', async (c, next) => {
    if (c.req.method === 'POST' && !(c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json')) {
      return c.json({ error: 'send application/json' }, 415);
    }
    return next();
  });

  app.get('/healthz', (c) => c.text('ok'));

  app.get('/login', (c) => {
    if (authenticate(c, authOptions, options.peer)) return c.redirect('/', 302);
    return c.html(LOGIN_PAGE(!options.auth.token ? 'Sign in through your identity proxy.' : undefined));
  });
  // Login attempts per identity: the one a trusted proxy forwards (everyone behind the proxy shares
  // its address), else the client address. 10 at once, then 5 a minute. The token is 128 bits, so
  // this is defence in depth against a guessing script, and it keeps the 500 ms delay from piling up.
  const loginAttempts = new KeyedRateLimiter({ burst: 10, perMinute: 5, maxKeys: 1_000 });
  app.post('/login', async (c) => {
    const key = throttleKey(c, authOptions, options.peer);
    if (!loginAttempts.tryTake(key, Date.now())) {
      c.header('retry-after', '60');
      await record('login-refused', key, { reason: 'throttled' });
      return c.html(LOGIN_PAGE('Too many attempts; wait a minute.'), 429);
    }
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form['token'] === 'string' ? form['token'] : '';
    if (!options.auth.token) return c.html(LOGIN_PAGE('Token login is not enabled here.'), 401);
    if (token.length === 0 || !sha256Equal(token, options.auth.token)) {
      await record('login-refused', key, { reason: 'wrong token' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      return c.html(LOGIN_PAGE('Wrong token.'), 401);
    }
    const actor = key.startsWith('user:') ? key.slice(5) : 'token';
    setCookie(c, COOKIE_NAME, options.logins.create(actor), { httpOnly: true, secure: options.auth.cookieSecure, sameSite: 'Strict', path: '/', maxAge: 60 * 60 * 24 * 30 });
    await record('login', actor, { via: 'token', from: key });
    return c.redirect('/', 303);
  });
  app.post('/logout', async (c) => {
    const cookie = getCookie(c, COOKIE_NAME);
    if (cookie) options.logins.revoke(cookie);
    deleteCookie(c, COOKIE_NAME, { path: '/' });
    await record('logout', c.get('identity').actor, {});
    return c.redirect('/login', 303);
  });

  app.get('/api/info', (c) => c.json({ ...options.info, actor: c.get('identity').actor, verbs: POWER_VERBS, mutating: POWER_VERBS.filter((verb) => isMutatingVerb(verb)) }));

  app.get('/api/sessions', (c) => c.json({ sessions: sessions.list() }));
  app.post('/api/sessions', async (c) => {
    const body = CreateBody.safeParse(await c.req.json().catch(() => ({})));
    if (!body.success) return c.json({ error: 'invalid body' }, 400);
    const session = await sessions.create(body.data.title ?? `${new Date().toISOString().slice(5, 16).replace('T', ' ')} UTC`);
    return c.json(session.summary(), 201);
  });

  app.get('/api/session/:id/stream', (c) => {
    const session = sessions.get(c.req.param('id'));
    if (!session) return c.json({ error: 'no such session' }, 404);
    const header = c.req.header('last-event-id') ?? c.req.query('after') ?? '0';
    const after = /^\d{1,12}$/.test(header) ? Number(header) : 0;
    c.header('cache-control', 'no-store');
    c.header('x-accel-buffering', 'no');
    return streamSSE(c, async (stream) => {
      const closed = new AbortController();
      stream.onAbort(() => closed.abort());
      let cursor = after;
      let caughtUp = false;
      while (!closed.signal.aborted) {
        const pending = session.eventsAfter(cursor);
        for (const event of pending) {
          await stream.writeSSE({ id: String(event.seq), event: event.type, data: JSON.stringify(event) });
          cursor = event.seq;
        }
        if (!caughtUp) {
          caughtUp = true;
          // No `id:` so it never moves the client's Last-Event-ID.
          await stream.writeSSE({ event: 'caught-up', retry: RECONNECT_MS, data: JSON.stringify({ lastSeq: cursor, running: session.running !== undefined }) });
        }
        if (pending.length === 0) {
          const before = cursor;
          await session.waitForEvent(cursor, options.keepAliveMs, closed.signal);
          if (!closed.signal.aborted && session.lastSeq === before) await stream.write(': keep-alive\n\n');
        }
      }
    });
  });

  app.post('/api/session/:id/prompt', async (c) => {
    const session = sessions.get(c.req.param('id'));
    if (!session) return c.json({ error: 'no such session' }, 404);
    const body = PromptBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: 'send {"text": "..."}' }, 400);
    try {
      const { turn } = sessions.startTurn(session, body.data.text, c.get('identity').actor);
      return c.json({ turn }, 202);
    } catch (error) {
      return c.json({ error: describeError(error) }, statusFor(error));
    }
  });

  app.post('/api/session/:id/cancel', (c) => {
    const session = sessions.get(c.req.param('id'));
    if (!session) return c.json({ error: 'no such session' }, 404);
    return c.json({ cancelled: sessions.cancel(session) });
  });

  app.post('/api/session/:id/approve/:callId', async (c) => {
    const session = sessions.get(c.req.param('id'));
    if (!session) return c.json({ error: 'no such session' }, 404);
    const body = ApproveBody.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ error: 'send {"decision": "run" | "skip"}' }, 400);
    const ok = sessions.decide(session, c.req.param('callId'), body.data.decision, c.get('identity').actor);
    return ok ? c.json({ decision: body.data.decision }) : c.json({ error: 'no command is waiting for that id' }, 409);
  });

  app.get('/api/vm/status', async (c) => {
    try {
      return c.json(await power.run('status', { actor: c.get('identity').actor }));
    } catch (error) {
      return c.json({ error: describeError(error) }, statusFor(error));
    }
  });

  app.post('/api/vm/:verb', async (c) => {
    const verb = c.req.param('verb');
    // The allow-list is checked before the body is even read.
    if (!isPowerVerb(verb)) return c.json({ error: `unknown verb; allowed: ${POWER_VERBS.join(', ')}` }, 400);
    const body = (await c.req.json().catch(() => ({}))) as { confirm?: unknown };
    try {
      const result = await power.run(verb, { confirm: body?.confirm, actor: c.get('identity').actor });
      return c.json(result, result.ok ? 200 : 502);
    } catch (error) {
      return c.json({ error: describeError(error) }, statusFor(error));
    }
  });

  registerOperations(app, {
    sessions,
    ...(options.hostKeys ? { hostKeys: options.hostKeys } : {}),
    ...(options.selftest ? { selftest: options.selftest } : {}),
    ...(options.trail ? { trail: options.trail } : {}),
    statusFor,
  });

  const serveFile = async (relative: string, cacheable: boolean) => {
    const root = normalize(options.webRoot);
    const full = normalize(join(root, relative));
    if (!full.startsWith(root + sep)) return undefined;
    try {
      const body = await readFile(full);
      return new Response(body, {
        headers: {
          'content-type': CONTENT_TYPES[extname(full)] ?? 'application/octet-stream',
          'cache-control': cacheable ? 'private, max-age=31536000, immutable' : 'no-cache',
          ...(extname(full) === '.html'
            ? {
                'content-security-policy':
                  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
              }
            : {}),
        },
      });
    } catch {
      return undefined;
    }
  };
  app.get('/', async (c) => (await serveFile('index.html', false)) ?? c.text('UI not built: run npm run build -w @fish-sre/breakglass', 503));
  app.get('/assets/:file', async (c) => (await serveFile(`assets/${c.req.param('file')}`, true)) ?? c.notFound());
  app.get('/icons/:file', async (c) => (await serveFile(`icons/${c.req.param('file')}`, false)) ?? c.notFound());
  app.get('/manifest.webmanifest', async (c) => (await serveFile('manifest.webmanifest', false)) ?? c.notFound());
  // The service worker must be served from the root to control the whole app; never cached by HTTP.
  app.get('/sw.js', async (c) => (await serveFile('sw.js', false)) ?? c.notFound());
  app.get('/offline.html', async (c) => (await serveFile('offline.html', false)) ?? c.notFound());

  app.onError((error, c) => c.json({ error: describeError(error) }, statusFor(error)));
  return app;
}
