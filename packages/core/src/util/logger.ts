import { redactSecrets } from './redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

/** Minimal structured logger. Plugins receive one in their context; bring pino by adapting it. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface ConsoleLoggerOptions {
  /** @default 'info' */
  level?: LogLevel;
  /** `json`: one JSON object per line (for journald); `pretty`: for a terminal. @default 'pretty' */
  format?: 'json' | 'pretty';
  /** @default process.stderr */
  write?: (line: string) => void;
  bindings?: LogFields;
}

/** Every message and field passes through the secret redactor before it is written. */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const format = options.format ?? 'pretty';
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const bindings = options.bindings ?? {};
  const log = (at: LogLevel, message: string, fields?: LogFields) => {
    if (ORDER[at] < ORDER[level]) return;
    const merged = { ...bindings, ...fields };
    const safeMessage = redactSecrets(message);
    const safeFields = JSON.parse(redactSecrets(JSON.stringify(merged, errorReplacer)) || '{}') as LogFields;
    if (format === 'json') {
      write(JSON.stringify({ time: new Date().toISOString(), level: at, msg: safeMessage, ...safeFields }));
    } else {
      const extra = Object.keys(safeFields).length > 0 ? ` ${JSON.stringify(safeFields)}` : '';
      write(`${at.toUpperCase().padEnd(5)} ${safeMessage}${extra}`);
    }
  };
  return {
    debug: (message, fields) => log('debug', message, fields),
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
    child: (more) => createConsoleLogger({ ...options, bindings: { ...bindings, ...more } }),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** A logger that drops everything (tests, embedding). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/** A logger that keeps lines in memory, for tests that assert on what was logged. */
export function createMemoryLogger(): Logger & { lines: Array<{ level: LogLevel; message: string; fields: LogFields }> } {
  const lines: Array<{ level: LogLevel; message: string; fields: LogFields }> = [];
  const make = (bindings: LogFields): Logger => {
    const push = (level: LogLevel) => (message: string, fields?: LogFields) =>
      lines.push({ level, message: redactSecrets(message), fields: JSON.parse(redactSecrets(JSON.stringify({ ...bindings, ...fields }, errorReplacer)) || '{}') });
    return { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error'), child: (more) => make({ ...bindings, ...more }) };
  };
  return Object.assign(make({}), { lines });
}
