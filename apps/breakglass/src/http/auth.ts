import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';

/**
 * Fail-closed authentication. A request is let in when either:
 *  - it comes from a configured proxy address (the TCP peer, not a forwarded header) and carries
 *    the trusted identity header that proxy sets after its own login (Authentik, oauth2-proxy...);
 *  - or it presents the bearer token (Authorization header, or the login cookie, which holds an
 *    HMAC of the token rather than the token itself), compared in constant time.
 * Anything else is 401, on every route but the login page.
 */

export const COOKIE_NAME = 'breakglass_auth';

export interface AuthOptions {
  token?: string;
  trustedHeader?: string;
  trustedProxies: string[];
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

/** The cookie value: derived from the token, so a leaked cookie is not the API token itself. */
export function cookieValueFor(token: string): string {
  return createHmac('sha256', token).update('breakglass-cookie-v1').digest('base64url');
}

function normaliseIp(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = v4mapped?.[1] ?? address;
  return isIP(plain) ? plain.toLowerCase() : undefined;
}

export function authenticate(c: Context, options: AuthOptions, peer: PeerAddress): Identity | undefined {
  if (options.trustedHeader && options.trustedProxies.length > 0) {
    const address = normaliseIp(peer(c));
    if (address && options.trustedProxies.map((entry) => entry.toLowerCase()).includes(address)) {
      const user = c.req.header(options.trustedHeader)?.trim();
      if (user && user.length > 0 && user.length <= 200) return { actor: user.replace(/[^\w@.+-]/g, '_'), via: 'proxy-header' };
    }
  }
  if (options.token) {
    const header = c.req.header('authorization');
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (match?.[1] && sha256Equal(match[1], options.token)) return { actor: 'token', via: 'bearer' };
    const cookie = getCookie(c, COOKIE_NAME);
    if (cookie && sha256Equal(cookie, cookieValueFor(options.token))) return { actor: 'token', via: 'cookie' };
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
