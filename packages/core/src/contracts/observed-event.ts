import { z } from 'zod';

/** Severity levels, normalised from whatever a source reports (`detected_level`, syslog, alert severity). */
export const EventLevel = z.enum(['debug', 'info', 'warn', 'error', 'critical', 'unknown']);
export type EventLevel = z.infer<typeof EventLevel>;

/**
 * The ways logs spell a level, folded to lowercase. A Map, not an object: a level spelled
 * `constructor` or `__proto__` must not find Object.prototype's members.
 */
const LEVEL_NAMES = new Map<string, EventLevel>(
  Object.entries({
    trace: 'debug',
    debug: 'debug',
    dbg: 'debug',
    info: 'info',
    information: 'info',
    informational: 'info',
    notice: 'info',
    inf: 'info',
    warn: 'warn',
    warning: 'warn',
    wrn: 'warn',
    err: 'error',
    error: 'error',
    eror: 'error',
    erro: 'error',
    crit: 'critical',
    critical: 'critical',
    fatal: 'critical',
    panic: 'critical',
    emerg: 'critical',
    emergency: 'critical',
    alert: 'critical',
    // zap's DPanicLevel (go.uber.org/zap/zapcore/level.go: "dpanic").
    dpanic: 'critical',
    // java.util.logging.Level: SEVERE, WARNING, INFO, CONFIG, FINE, FINER, FINEST.
    severe: 'error',
    config: 'debug',
    fine: 'debug',
    finer: 'debug',
    finest: 'debug',
    // PostgreSQL's LOG (src/backend/utils/error/elog.c error_severity): server messages, not errors.
    log: 'info',
  } satisfies Record<string, EventLevel>),
);

/** Longer than any level name: not looked up (a hostile line's `level` can be 256 KiB). */
const LEVEL_NAME_LIMIT = 16;
/** Go's log/slog between named levels: the name, then the offset (`ERROR+2`, `WARN-1`; Level.String's `%s%+d`). */
const LEVEL_OFFSET = /[+-]\d{1,3}$/;

/**
 * The fish level of a level as a log spells it (`err`, `WARNING`, ` crit`, `panic`, logrus's
 * `erro`, syslog's `emerg`, slog's `ERROR+2`, Java's `SEVERE`, PostgreSQL's `LOG` ...);
 * `unknown` for anything else, and for no level. For sources: one
 * table, so the same line gets the same level whichever source read it.
 */
export function normaliseLevel(value: string | undefined): EventLevel {
  // The fish spellings first: most lines say one of them, and a switch compares without hashing.
  switch (value) {
    case undefined:
      return 'unknown';
    case 'info':
      return 'info';
    case 'error':
      return 'error';
    case 'warn':
      return 'warn';
    case 'debug':
      return 'debug';
    default: {
      const exact = LEVEL_NAMES.get(value);
      if (exact !== undefined) return exact;
      if (value.length > 4 * LEVEL_NAME_LIMIT) return 'unknown';
      const folded = value.trim().toLowerCase();
      if (folded.length > LEVEL_NAME_LIMIT) return 'unknown';
      return LEVEL_NAMES.get(folded) ?? LEVEL_NAMES.get(folded.replace(LEVEL_OFFSET, '')) ?? 'unknown';
    }
  }
}

/**
 * One observation, normalised. Sources produce these; the pipeline never sees a
 * source-specific shape. Everything in it is untrusted data: it is matched against the
 * catalog and may be shown (redacted) to an LLM or a human, but never reaches a shell.
 */
export const ObservedEventSchema = z.object({
  /** Stable id used by dedup: the same observation seen twice carries the same id. */
  id: z.string().min(1).max(512),
  /** What kind of observation: a log line, a metric sample, or an alert from Alertmanager. */
  kind: z.enum(['log', 'metric', 'alert']).default('log'),
  /** Name of the source instance that produced it (from the config), e.g. `loki`. */
  source: z.string().min(1),
  /** Milliseconds since the epoch. */
  time: z.number().finite(),
  /** Exact nanosecond timestamp as a decimal string when the source has one (Loki). */
  timeNs: z
    .string()
    .regex(/^\d{1,25}$/)
    .optional(),
  /** Host the observation is about; `unknown` when the source could not tell. */
  host: z.string().default('unknown'),
  /** Service (container, unit, job) the observation is about. */
  service: z.string().default('unknown'),
  level: EventLevel.default('unknown'),
  /** The log line, or a one-line rendering of the metric/alert. */
  message: z.string(),
  /**
   * The labels of the stream the observation came from, as strings: set by the collector (the
   * shipper, the scrape, the alert rule), never by the text of a line. A pattern's `labels:`
   * matcher and the auto-exec scoping read these only.
   */
  labels: z.record(z.string(), z.string()).default({}),
  /**
   * Labels taken out of the line itself (Loki structured metadata, `| json` / `| logfmt` parsed
   * labels): evidence only. They never choose the host or service and never satisfy a `labels:`
   * matcher, since a visitor's text can put any key in a line.
   */
  lineLabels: z.record(z.string(), z.string()).optional(),
  /** For metric observations: the metric query or name and its value (finite: a source maps +/-Inf to +/-Number.MAX_VALUE and keeps the exact text in a label; NaN never satisfies a threshold and is not emitted). */
  metric: z
    .object({
      name: z.string(),
      value: z.number(),
      /**
       * How long the source has seen the condition it reports hold (ms): a metric signal with
       * `for:` matches when this reaches it. The source measures it, the matcher only compares:
       * `for:` is decided in one place.
       */
      heldForMs: z.number().nonnegative().optional(),
    })
    .optional(),
  /** For alerts: `firing` or `resolved`. */
  alertStatus: z.enum(['firing', 'resolved']).optional(),
});

export type ObservedEvent = z.output<typeof ObservedEventSchema>;
export type ObservedEventInput = z.input<typeof ObservedEventSchema>;
