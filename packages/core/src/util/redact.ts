import { describeError } from '../errors.js';

/**
 * Secret redaction applied to everything that leaves the process as text: logs, audit evidence,
 * notifications, LLM prompts. It errs on the side of hiding too much.
 */
const RULES: Array<[RegExp, string | ((...groups: string[]) => string)]> = [
  // PEM private keys, whole block.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[REDACTED PRIVATE KEY]'],
  // Authorization headers: Bearer / Basic / Token.
  [/\b(authorization|proxy-authorization)(\s*[:=]\s*)("?)(bearer|basic|token|digest)\s+[^\s"',;]+/gi, (_m, name, sep, quote, scheme) => `${name}${sep}${quote}${scheme} [REDACTED]`],
  [/\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi, (_m, scheme) => `${scheme} [REDACTED]`],
  // Credentials inside URLs / connection strings: scheme://user:password@host
  [/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]+):([^\s@/]+)@/gi, (_m, scheme, user) => `${scheme}${user}:[REDACTED]@`],
  // Connection-string style key=value; password=..., pwd=...
  // Also as the end of a longer name: DB_PASSWORD=, POSTGRES_PASSWORD:, x-api-key: (`_` is a word character, so no \b before it).
  [
    /(?:\b|(?<=[_-]))(password|passwd|pwd|secret|client_secret|api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|auth[_-]?token|token|private[_-]?key|session[_-]?key)(["']?\s*[:=]\s*["']?)([^\s"',;&}]+)/gi,
    (_m, key, sep) => `${key}${sep}[REDACTED]`,
  ],
  // Well-known token shapes.
  [/\bsk-ant-[A-Za-z0-9_-]{10,}/g, '[REDACTED]'],
  [/\bsk-[A-Za-z0-9]{20,}/g, '[REDACTED]'],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, '[REDACTED]'],
  [/\bglpat-[A-Za-z0-9_-]{20,}/g, '[REDACTED]'],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/g, '[REDACTED]'],
  [/\bAKIA[0-9A-Z]{16}\b/g, '[REDACTED]'],
  [/\btk_[A-Za-z0-9]{20,}/g, '[REDACTED]'],
  // PVE API tokens: PVEAPIToken=user@realm!id=uuid
  [/(PVEAPIToken=[^=\s]+=)[0-9a-f-]{8,}/gi, (_m, prefix) => `${prefix}[REDACTED]`],
  // JSON Web Tokens.
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, '[REDACTED JWT]'],
];

export function redactSecrets(text: string): string {
  let result = text;
  for (const [pattern, replacement] of RULES) {
    result = result.replace(pattern, replacement as (substring: string, ...args: string[]) => string);
  }
  return result;
}

/** Redacts a list of literal secret values (from the config) wherever they appear. */
export function createSecretRedactor(secrets: Iterable<string>): (text: string) => string {
  const literals = [...secrets].filter((secret) => secret.length >= 4).sort((a, b) => b.length - a.length);
  return (text: string) => {
    let result = redactSecrets(text);
    for (const secret of literals) result = result.split(secret).join('[REDACTED]');
    return result;
  };
}

/**
 * A copy of `error` safe to keep as a FishError's `cause` (causes end up in logs): its message and
 * stack passed through `redact`, its name kept, and nothing else of it (an SDK error carries the
 * response body and headers, where a proxy may echo a key back).
 */
export function redactError(error: unknown, redact: (text: string) => string): Error {
  const redacted = new Error(redact(describeError(error)));
  redacted.name = error instanceof Error ? error.name : 'Error';
  if (error instanceof Error && error.stack) redacted.stack = redact(error.stack);
  return redacted;
}
