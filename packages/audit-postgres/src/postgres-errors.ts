import { FishError, FishErrorCode, errorMessage, redactSecrets } from '@fish-sre/core';

export const SCOPE = 'audit-postgres';

/** SQLSTATE codes (PostgreSQL manual, appendix A "PostgreSQL Error Codes"). */
const SQLSTATE = {
  uniqueViolation: '23505',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  invalidPassword: '28P01',
  invalidAuthorization: '28000',
  insufficientPrivilege: '42501',
  invalidCatalogName: '3D000',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
} as const;

/** Socket-level failures: the server is down, restarting, or not reachable from here. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

export function isUniqueViolation(error: unknown): boolean {
  return codeOf(error) === SQLSTATE.uniqueViolation;
}

export function isTransactionRetryable(error: unknown): boolean {
  const code = codeOf(error);
  return code === SQLSTATE.serializationFailure || code === SQLSTATE.deadlockDetected;
}

/** True when the database could not be reached at all (as opposed to refusing what was asked). */
export function isUnreachable(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined && (NETWORK_CODES.has(code) || code.startsWith('08') || code === SQLSTATE.adminShutdown || code === SQLSTATE.crashShutdown || code === SQLSTATE.cannotConnectNow)) return true;
  const message = (error as Error | null)?.message ?? '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly/i.test(message);
}

/**
 * A pg error as a FishError whose code and message say which problem it is: a login refused, a
 * right missing, the server unreachable, or anything else. Messages name the role and the
 * database (never the password).
 */
export function toFishError(what: string, error: unknown, where: { user: string; location: string }): FishError {
  if (FishError.isInstance(error)) return error;
  const code = codeOf(error);
  const detail = redactSecrets((error as Error | null)?.message ?? String(error));
  const make = (fishCode: FishErrorCode, text: string, isRetryable = false) =>
    new FishError({ code: fishCode, message: errorMessage(SCOPE, `${what}: ${text}`), cause: error, isRetryable, details: { sqlstate: code ?? null, location: where.location } });
  if (code === SQLSTATE.invalidPassword || code === SQLSTATE.invalidAuthorization) {
    return make(FishErrorCode.AUDIT_AUTH_FAILED, `PostgreSQL refused the login of role "${where.user}" on ${where.location} (${detail}): check the user and password in the database URL`);
  }
  if (code === SQLSTATE.insufficientPrivilege) {
    return make(FishErrorCode.AUDIT_PERMISSION_DENIED, `role "${where.user}" lacks a right it needs on ${where.location} (${detail}): see "Database rights" in the audit-postgres README`);
  }
  if (code === SQLSTATE.invalidCatalogName) {
    return make(FishErrorCode.AUDIT_FAILED, `${detail} on ${where.location.replace(/\/[^/]*$/, '')}: create it (createdb) or fix the database name in the URL`);
  }
  if (isUnreachable(error)) {
    return make(FishErrorCode.AUDIT_UNREACHABLE, `PostgreSQL at ${where.location} cannot be reached (${code ?? 'no answer'}: ${detail})`, true);
  }
  if (code === SQLSTATE.queryCanceled) {
    return make(FishErrorCode.AUDIT_FAILED, `the statement ran past statement_timeout (${detail})`, true);
  }
  return make(FishErrorCode.AUDIT_FAILED, `${detail}${code ? ` (SQLSTATE ${code})` : ''}`, isTransactionRetryable(error));
}
