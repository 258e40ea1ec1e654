import { z } from 'zod';
import { EventLevel } from '../contracts/observed-event.js';
import { PATTERN_ID_PATTERN, SCRIPT_NAME_PATTERN } from '../contracts/executor.js';
import { DurationSchema, durationJsonSchema } from '../util/duration.js';
import { regexProblem } from '../pipeline/linear-regex.js';

/**
 * A regular expression, compiled at load time so a bad one names its file and field. It must be
 * valid JavaScript (`u` flag) and run on the linear-time engine (RE2: no look-around, no
 * back-references), so no crafted line can make matching it slow.
 */
export const RegexSchema = z
  .string()
  .min(1)
  .superRefine((value, context) => {
    const problem = regexProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

const FollowedBy = z
  .object({
    /** Regex the later line's message must match. */
    message: RegexSchema,
    /** Case-insensitive matching of this regex. @default false */
    ignore_case: z.boolean().default(false),
    /** The later line must come at most this long after the first, on the same host and service. */
    within: DurationSchema,
  })
  .strict();

const LogSignal = z
  .object({
    /** Regex tested against the log message. */
    message: RegexSchema,
    /** Case-insensitive matching. @default false */
    ignore_case: z.boolean().default(false),
    /** Regexes tested against labels (all must match). */
    labels: z.record(z.string(), RegexSchema).default({}),
    /** Only events at these levels. */
    level: z.array(EventLevel).optional(),
    /** Regex on the event's service, matched anywhere in the name and without regard to case. */
    service: RegexSchema.optional(),
    /** Regex on the event's host, without regard to case (host names ignore it). */
    host: RegexSchema.optional(),
    /**
     * A multi-line signal: it matches on a later line of the same stream (host and service) that
     * matches this, within the given time after a line matching everything above.
     */
    followed_by: FollowedBy.optional(),
  })
  .strict();

const MetricSignal = z
  .object({
    /** PromQL instant query, polled by source-prom. */
    query: z.string().min(1),
    op: z.enum(['>', '>=', '<', '<=', '==', '!=']),
    threshold: z.number(),
    /** The condition must hold this long (like a Prometheus rule's `for:`). @default 0 */
    for: DurationSchema.default(0),
  })
  .strict();

/**
 * A sign of life that stops: a stream (host and service) that has logged a matching line goes
 * silent for `for`. For what announces itself only by not happening: a backup job that did not
 * log its success, a service that stopped and logs nothing.
 */
const AbsentSignal = z
  .object({
    /** Regex on the event's service (anywhere in the name, any case): the streams expected to keep logging. */
    service: RegexSchema,
    /** Regex on the event's host, without regard to case (host names ignore it). */
    host: RegexSchema.optional(),
    /** Only lines matching this regex count as a sign of life (the job's success line); absent: any line. */
    message: RegexSchema.optional(),
    /** Case-insensitive matching of `message`. @default false */
    ignore_case: z.boolean().default(false),
    /** A stream that has shown a sign of life and then none for this long fires the signal, once until it logs again. */
    for: DurationSchema,
  })
  .strict()
  .superRefine((absent, context) => {
    if (absent.for <= 0) context.addIssue({ code: 'custom', path: ['for'], message: 'must be longer than 0' });
  });

const AlertSignal = z
  .object({
    /** Alertmanager alert name (exact). */
    alertname: z.string().min(1),
    labels: z.record(z.string(), RegexSchema).default({}),
  })
  .strict();

export const SignalSchema = z
  .object({
    /** Signal id, unique within the pattern. */
    id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lowercase letters, digits, - and _'),
    description: z.string().optional(),
    log: LogSignal.optional(),
    metric: MetricSignal.optional(),
    alert: AlertSignal.optional(),
    absent: AbsentSignal.optional(),
  })
  .strict()
  .superRefine((signal, context) => {
    const kinds = [signal.log, signal.metric, signal.alert, signal.absent].filter((kind) => kind !== undefined).length;
    if (kinds !== 1) context.addIssue({ code: 'custom', message: 'a signal needs exactly one of log, metric, alert or absent' });
  });
export type Signal = z.output<typeof SignalSchema>;

const ScriptName = z.string().regex(SCRIPT_NAME_PATTERN, 'a script file name like "restart-stack.sh" (lowercase, no path)');

const ScriptStep = z
  .object({
    script: ScriptName,
    /** @default 60s */
    timeout: DurationSchema.default(60_000),
  })
  .strict();

const SampleSchema = z.union([
  z.string(),
  z
    .object({
      message: z.string(),
      host: z.string().optional(),
      service: z.string().optional(),
      level: EventLevel.optional(),
      labels: z.record(z.string(), z.string()).optional(),
      kind: z.enum(['log', 'metric', 'alert']).optional(),
      /** A metric observation; `heldForMs` absent: the condition held as long as the signal's `for:` asks. */
      metric: z.object({ name: z.string(), value: z.number(), heldForMs: z.number().nonnegative().optional() }).optional(),
      /** For a `followed_by` signal: the later line(s) of the same stream, in order. */
      followed_by: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
    })
    .strict(),
]);
export type CatalogSample = z.output<typeof SampleSchema>;

export const PatternSchema = z
  .object({
    id: z.string().regex(PATTERN_ID_PATTERN, 'lowercase letters, digits and dashes, 2 to 64 characters'),
    title: z.string().min(1).max(120),
    description: z.string().default(''),
    severity: z.enum(['info', 'warning', 'critical']).default('warning'),
    /** Every signal the incident is expected to show; confidence = matched / required. */
    required_signals: z.array(SignalSchema).min(1),
    /** Minimum confidence before a proposal is made. @default 1 (all signals) */
    min_confidence: z.number().gt(0).max(1).default(1),
    /** N matching events within the window open an incident. */
    trigger: z
      .object({ count: z.number().int().min(1).default(1), window: DurationSchema.default(300_000) })
      .strict()
      .default({ count: 1, window: 300_000 }),
    /**
     * Where the fix runs: a configured target name, or `$event_host` to use the host the event
     * came from (which must itself be a configured target: it is looked up, never trusted).
     */
    target_host: z.string().min(1),
    /** The fix. Absent: the pattern only diagnoses and escalates (no safe automatic fix). */
    fix: ScriptStep.optional(),
    verify: ScriptStep.optional(),
    on_failure: z.enum(['rollback', 'escalate']).default('escalate'),
    rollback: ScriptStep.optional(),
    /** The diagnosis sent with an escalation, and what a human should do. */
    diagnosis: z.string().optional(),
    /** After this many verified successes, the operator may enable auto-exec. null: never. */
    promote_to_autoexec_after: z.number().int().min(1).nullable().default(null),
    /** After a proposal, the same fingerprint is quiet for this long. @default 30m */
    cooldown: DurationSchema.default(1_800_000),
    samples: z.object({ match: z.array(SampleSchema).min(1), no_match: z.array(SampleSchema).default([]) }).strict(),
  })
  .strict()
  .superRefine((pattern, context) => {
    const ids = new Set<string>();
    pattern.required_signals.forEach((signal, index) => {
      if (ids.has(signal.id)) context.addIssue({ code: 'custom', path: ['required_signals', index, 'id'], message: `duplicate signal id "${signal.id}"` });
      ids.add(signal.id);
    });
    if (pattern.on_failure === 'rollback' && !pattern.rollback) {
      context.addIssue({ code: 'custom', path: ['rollback'], message: 'on_failure is "rollback" but no rollback script is declared' });
    }
    if (!pattern.fix && !pattern.diagnosis) {
      context.addIssue({ code: 'custom', path: ['diagnosis'], message: 'a pattern without a fix must explain itself with a diagnosis' });
    }
    if (pattern.fix && !pattern.verify) {
      context.addIssue({ code: 'custom', path: ['verify'], message: 'a pattern with a fix must declare a verify script' });
    }
  });

/**
 * A pattern file that disables the pattern of the same id from a lower catalog layer instead of
 * defining one: `id: <id>`, `disabled: true` and an optional `reason:`.
 */
export const DisableStubSchema = z
  .object({
    id: z.string().regex(PATTERN_ID_PATTERN, 'lowercase letters, digits and dashes, 2 to 64 characters'),
    disabled: z.literal(true),
    /** Why it is disabled, shown by `fish-sre catalog validate`. */
    reason: z.string().optional(),
  })
  .strict();

export type Pattern = z.output<typeof PatternSchema>;
export type PatternInput = z.input<typeof PatternSchema>;

/**
 * Where one pattern came from: the layer, the file and the line of its `id:`. When a higher layer
 * replaced a pattern of the same id, `overrides` is the origin of the pattern it replaced.
 */
export interface PatternOrigin {
  /** The layer's name as the user gave it (`bundled`, `./my-patterns`). */
  layer: string;
  /** The pattern file, relative to the working directory when it is below it. */
  file: string;
  /** 1-based line of the pattern's `id:` key. */
  line: number;
  /** The pattern this one replaced, whole: a higher layer never merges fields into a lower one. */
  overrides?: PatternOrigin;
}

/**
 * A disable stub (`id: <id>` and `disabled: true` in a pattern file): the pattern of that id from a
 * lower layer is left out. In a layered snapshot, `removed` is where the disabled pattern was.
 */
export interface PatternDisable {
  id: string;
  /** Where the stub is. */
  origin: PatternOrigin;
  /** Why, as the stub's `reason:` says. */
  reason?: string;
  /** The pattern it left out (set once the layers are combined). */
  removed?: PatternOrigin;
}

/** A loaded, validated catalog: what a `Catalog` gives the engine. */
export interface CatalogSnapshot {
  patterns: readonly Pattern[];
  /** Folder holding the scripts named by the patterns (the highest layer's, when layered). */
  scriptsDir: string;
  /** Every layer's scripts folder, highest layer first: a script is looked up in that order. */
  scriptDirs?: readonly string[];
  /** Where it was loaded from, and when. */
  loadedFrom: string;
  loadedAt: number;
  /** sha256 of the files (patterns and scripts), to tell whether a reload changed anything. */
  digest: string;
  /** Where each pattern came from, by pattern id. Every `Catalog` implementation fills it. */
  origins?: Readonly<Record<string, PatternOrigin>>;
  /** Disable stubs: those this snapshot asks to apply (a folder), or those applied (layered). */
  disabled?: readonly PatternDisable[];
  /** sha256 (hex) of each script file's content by script name, as loaded: proposals pin them. */
  scriptDigests?: Readonly<Record<string, string>>;
}

/** The special pattern id for an incident no catalog pattern explains. */
export const UNKNOWN_PATTERN_ID = 'UNKNOWN';

/** JSON Schema of one catalog file, for editors (yaml-language-server). */
export function catalogJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PatternSchema, {
    io: 'input',
    unrepresentable: 'any',
    // A catalog file is read inside requireDurationUnits: a duration there needs its unit, which
    // the zod union (string | number) cannot say by itself.
    override: (context) => {
      if (context.zodSchema !== DurationSchema) return;
      for (const key of Object.keys(context.jsonSchema)) delete context.jsonSchema[key];
      Object.assign(context.jsonSchema, durationJsonSchema());
    },
  }) as Record<string, unknown>;
}
