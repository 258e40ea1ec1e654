import { z } from 'zod';

/**
 * Credentials for an HTTP API behind a reverse proxy (Loki, Prometheus): `basic` with a user and
 * password, or a `bearer` token. Strict: a misspelt key is refused with the config path.
 */
export const HttpAuthSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('basic'), username: z.string().min(1), password: z.string() }).strict(),
  z.object({ type: z.literal('bearer'), token: z.string().min(1) }).strict(),
]);
export type HttpAuth = z.infer<typeof HttpAuthSchema>;

/**
 * The `Authorization` header for `auth` (none without it), and the secret it carries, for the
 * caller's redaction of error texts (a secret under 4 characters is not listed: redacting it would
 * blank ordinary words).
 */
export function httpAuthorization(auth: HttpAuth | undefined): { headers: Record<string, string>; secrets: string[] } {
  if (!auth) return { headers: {}, secrets: [] };
  const secret = auth.type === 'basic' ? auth.password : auth.token;
  const value = auth.type === 'basic' ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` : `Bearer ${auth.token}`;
  return { headers: { Authorization: value }, secrets: secret.length >= 4 ? [secret] : [] };
}
