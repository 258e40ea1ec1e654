const MARKER = Symbol.for('fish-sre.error');

/**
 * Stable error codes. Each one is listed, with what to do about it, in docs/errors.md (shipped in
 * this package as dist/docs/errors.md).
 * Codes never change meaning once published; new ones are only added.
 */
export const FishErrorCode = {
  CONFIG_INVALID: 'FISH_ERR_CONFIG_INVALID',
  CATALOG_INVALID: 'FISH_ERR_CATALOG_INVALID',
  CATALOG_SCRIPT_MISSING: 'FISH_ERR_CATALOG_SCRIPT_MISSING',
  PLUGIN_UNKNOWN: 'FISH_ERR_PLUGIN_UNKNOWN',
  PLUGIN_INVALID: 'FISH_ERR_PLUGIN_INVALID',
  PLUGIN_OPTIONS_INVALID: 'FISH_ERR_PLUGIN_OPTIONS_INVALID',
  PLUGIN_DISPOSED: 'FISH_ERR_PLUGIN_DISPOSED',
  PLUGIN_VERSION_UNSUPPORTED: 'FISH_ERR_PLUGIN_VERSION_UNSUPPORTED',
  SOURCE_UNREACHABLE: 'FISH_ERR_SOURCE_UNREACHABLE',
  SOURCE_PROTOCOL: 'FISH_ERR_SOURCE_PROTOCOL',
  EVENT_INVALID: 'FISH_ERR_EVENT_INVALID',
  WEBHOOK_INVALID: 'FISH_ERR_WEBHOOK_INVALID',
  LLM_REQUEST_FAILED: 'FISH_ERR_LLM_REQUEST_FAILED',
  LLM_STREAM_ERROR: 'FISH_ERR_LLM_STREAM_ERROR',
  LLM_OUTPUT_INVALID: 'FISH_ERR_LLM_OUTPUT_INVALID',
  BUDGET_EXHAUSTED: 'FISH_ERR_BUDGET_EXHAUSTED',
  NOTIFIER_FAILED: 'FISH_ERR_NOTIFIER_FAILED',
  EXECUTOR_FAILED: 'FISH_ERR_EXECUTOR_FAILED',
  EXECUTOR_CONNECTION: 'FISH_ERR_EXECUTOR_CONNECTION',
  EXECUTOR_HOST_KEY: 'FISH_ERR_EXECUTOR_HOST_KEY',
  EXECUTOR_REFUSED: 'FISH_ERR_EXECUTOR_REFUSED',
  AUDIT_FAILED: 'FISH_ERR_AUDIT_FAILED',
  AUDIT_CHAIN_BROKEN: 'FISH_ERR_AUDIT_CHAIN_BROKEN',
  AUDIT_UNREACHABLE: 'FISH_ERR_AUDIT_UNREACHABLE',
  AUDIT_AUTH_FAILED: 'FISH_ERR_AUDIT_AUTH_FAILED',
  AUDIT_PERMISSION_DENIED: 'FISH_ERR_AUDIT_PERMISSION_DENIED',
  AUDIT_SCHEMA_NEWER: 'FISH_ERR_AUDIT_SCHEMA_NEWER',
  STATE_TRANSITION_ILLEGAL: 'FISH_ERR_STATE_TRANSITION_ILLEGAL',
  TOKEN_INVALID: 'FISH_ERR_TOKEN_INVALID',
  TOKEN_EXPIRED: 'FISH_ERR_TOKEN_EXPIRED',
  PROPOSAL_NOT_FOUND: 'FISH_ERR_PROPOSAL_NOT_FOUND',
  PROPOSAL_ALREADY_DECIDED: 'FISH_ERR_PROPOSAL_ALREADY_DECIDED',
  TARGET_NOT_ALLOWED: 'FISH_ERR_TARGET_NOT_ALLOWED',
  AUTH_REQUIRED: 'FISH_ERR_AUTH_REQUIRED',
  VERB_NOT_ALLOWED: 'FISH_ERR_VERB_NOT_ALLOWED',
  HYPERVISOR_FAILED: 'FISH_ERR_HYPERVISOR_FAILED',
} as const;

export type FishErrorCode = (typeof FishErrorCode)[keyof typeof FishErrorCode];

export interface FishErrorOptions {
  /** Stable code, e.g. `FISH_ERR_SOURCE_UNREACHABLE`. */
  code: FishErrorCode;
  /** Human-readable message. The plugin's name goes first, as `[fish-sre] [loki] ...`. */
  message: string;
  /** The lower-level error, kept for debugging; never printed into notifications. */
  cause?: unknown;
  /** Whether trying the same operation again later may succeed. @default false */
  isRetryable?: boolean;
  /** Structured context (file, path, host ...). Must never contain secrets. */
  details?: Record<string, unknown>;
}

/**
 * The one error base class of fish-sre. `FishError.isInstance(e)` works across two installed
 * copies of @fish-sre/core (it checks a global symbol marker, not the prototype chain).
 */
export class FishError extends Error {
  readonly [MARKER] = true;
  readonly code: FishErrorCode;
  readonly isRetryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(options: FishErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FishError';
    this.code = options.code;
    this.isRetryable = options.isRetryable ?? false;
    this.details = options.details ?? {};
  }

  static isInstance(error: unknown): error is FishError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
  }

  static hasCode(error: unknown, code: FishErrorCode): error is FishError {
    return FishError.isInstance(error) && error.code === code;
  }
}

/** Formats the `[fish-sre] [plugin] message` prefix used by every error message. */
export function errorMessage(scope: string, message: string): string {
  return `[fish-sre] [${scope}] ${message}`;
}

/** Turns a zod error into one line per issue: `path.to.field: what was expected`. */
export function formatZodIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues
    .map(
      (issue) =>
        `${
          issue.path.length === 0
            ? '(root)'
            : issue.path
                .map((part) => (typeof part === 'number' ? `[${part}]` : String(part)))
                .join('.')
                .replace(/\.\[/g, '[')
        }: ${issue.message}`,
    )
    .join('; ');
}

/** Extracts a message from anything thrown, without ever throwing itself. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    // Node's fetch says only "fetch failed": the reason (ECONNREFUSED, ENOTFOUND, a TLS error) is in `cause`.
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    if (error.message === 'fetch failed' && cause) {
      const code = typeof cause.code === 'string' ? cause.code : undefined;
      const detail = typeof cause.message === 'string' ? cause.message : undefined;
      const reason =
        code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' ? 'host name not found' : code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connection timed out' : undefined;
      return `cannot connect: ${reason ?? detail ?? code ?? 'network error'}${reason && detail ? ` (${detail})` : ''}`;
    }
    return error.message;
  }
  try {
    return String(error);
  } catch {
    return 'unknown error';
  }
}
