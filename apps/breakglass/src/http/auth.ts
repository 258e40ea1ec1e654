import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';

/**
 * Fail-closed authentication. A request is let in when either:
 *  - it comes from a configured proxy address (the TCP peer, not a forwarded header) and carries
 *    the trusted identity header that proxy sets after its own login (Authentik, oauth2-proxy...);
 *  - or it presents the bearer token (Authorization header), compared in constant time, or the
 *    login cookie: a random session id that exists only in this server's memory, so logging out
 *    (or a restart) revokes it for good.
 * Anything else is 401, on every route but the login page.
 */

export const COOKIE_NAME = 'breakglass_auth';

export interface AuthOptions {
  token?: string;
  trustedHeader?: string;
  trustedProxies: string[];
  /** Server-side login sessions behind the cookie. */
  logins: LoginSessions;
}

/**
 * Server-side login sessions. The cookie carries a random 256-bit id; only its SHA-256 is kept, so
 * the table never holds a usable cookie. Logout deletes the entry: the same cookie, replayed,
 * is refused.
 */
export class LoginSessions {
  private readonly sessions = new Map<string, { actor: string; createdAt: number; lastSeenAt: number }>();

  constructor(private readonly limits: { maxAgeMs: number; idleMs: number; maxSessions: number } = { maxAgeMs: 30 * 24 * 3600_000, idleMs: 7 * 24 * 3600_000, maxSessions: 1000 }) {}

  private static key(id: string): string {
    return createHash('sha256').update(id).digest('base64url');
  }

  create(actor: string, now = Date.now()): string {
    if (this.sessions.size >= this.limits.maxSessions) {
      const oldest = [...this.sessions.entries()].sort((a, b) => a[1].lastSeenAt - b[1].lastSeenAt)[0];
      if (oldest) this.sessions.delete(oldest[0]);
    }
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(LoginSessions.key(id), { actor, createdAt: now, lastSeenAt: now });
    return id;
  }

  /** The actor of a live session, or undefined (unknown, revoked, expired). */
  lookup(id: string, now = Date.now()): string | undefined {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const key = LoginSessions.key(id);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    if (now - session.createdAt > this.limits.maxAgeMs || now - session.lastSeenAt > this.limits.idleMs) {
      this.sessions.delete(key);
      return undefined;
    }
    session.lastSeenAt = now;
    return session.actor;
  }

  revoke(id: string): boolean {
    return this.sessions.delete(LoginSessions.key(id));
  }

  get size(): number {
    return this.sessions.size;
  }
}

export type PeerAddress = (c: Context) => string | undefined;

export interface Identity {
  actor: string;
  via: 'proxy-header' | 'bearer' | 'cookie';
}

export function sha256Equal(a: string, b: string): boolean {
  // HMAC both sides to a fixed length so timingSafeEqual never sees different lengths.
  const key = 'breakglass-compare';
  const left = createHmac('sha256', key).update(a).digest();
  const right = createHmac('sha256', key).update(b).digest();
  return timingSafeEqual(left, right);
}

function normaliseIp(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = v4mapped?.[1] ?? address;
  return isIP(plain) ? plain.toLowerCase() : undefined;
}

/** The identity a trusted proxy forwards for this request, or undefined (not from a trusted proxy, no header). */
export function forwardedIdentity(c: Context, options: Pick<AuthOptions, 'trustedHeader' | 'trustedProxies'>, peer: PeerAddress): string | undefined {
  if (!options.trustedHeader || options.trustedProxies.length === 0) return undefined;
  const address = normaliseIp(peer(c));
  if (!address || !options.trustedProxies.map((entry) => entry.toLowerCase()).includes(address)) return undefined;
  const user = c.req.header(options.trustedHeader)?.trim();
  return user && user.length > 0 && user.length <= 200 ? user.replace(/[^\w@.+-]/g, '_') : undefined;
}

/**
 * Who a login attempt counts against: the identity a trusted proxy forwards (every user behind
 * one proxy shares its address, so keying on it would let one user lock out all), else the peer.
 */
export function throttleKey(c: Context, options: Pick<AuthOptions, 'trustedHeader' | 'trustedProxies'>, peer: PeerAddress): string {
  const forwarded = forwardedIdentity(c, options, peer);
  return forwarded !== undefined ? `user:${forwarded}` : `peer:${normaliseIp(peer(c)) ?? 'unknown'}`;
}

export function authenticate(c: Context, options: AuthOptions, peer: PeerAddress): Identity | undefined {
  const forwarded = forwardedIdentity(c, options, peer);
  if (forwarded !== undefined) return { actor: forwarded, via: 'proxy-header' };
  if (options.token) {
    const header = c.req.header('authorization');
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (match?.[1] && sha256Equal(match[1], options.token)) return { actor: 'token', via: 'bearer' };
    const cookie = getCookie(c, COOKIE_NAME);
    const actor = cookie ? options.logins.lookup(cookie) : undefined;
    if (actor !== undefined) return { actor, via: 'cookie' };
  }
  return undefined;
}

export interface RequireAuthOptions extends AuthOptions {
  peer: PeerAddress;
  /** Exact paths reachable without credentials (the login page). */
  publicPaths: ReadonlySet<string>;
}

export function requireAuth(options: RequireAuthOptions): MiddlewareHandler<{ Variables: { identity: Identity } }> {
  return async (c, next) => {
    if (options.publicPaths.has(c.req.path)) return next();
    const identity = authenticate(c, options, options.peer);
    if (!identity) {
      const wantsHtml = c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html');
      if (wantsHtml && options.token) return c.redirect('/login', 302);
      return c.json({ error: 'authentication required' }, 401, { 'www-authenticate': 'Bearer realm="breakglass"', 'cache-control': 'no-store' });
    }
    c.set('identity', identity);
    return next();
  };
}
