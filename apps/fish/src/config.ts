import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { DurationSchema, EventLevel, FishError, FishErrorCode, errorMessage, requireDurationUnits, unknownKeyErrorMap } from '@fish-sre/core';

const PluginRef = z
  .object({
    /**
     * Built-in name (`loki`, `ntfy`, `ssh`, `sqlite`, `claude` ...); with `package`, the
     * descriptor's `type` inside that package. Alone, an npm package name or a path
     * (`./my-plugin`) exporting one plugin of the kind is accepted too.
     */
    type: z.string().min(1),
    /**
     * The npm package (or a path, relative to the config file) that provides the plugin: looked
     * up next to the config file, then in the working directory, then in fish-sre's own install.
     */
    package: z.string().min(1).optional(),
    /** Instance name; defaults to the type. */
    name: z.string().min(1).optional(),
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** How often `catalogWatch: true` looks at the catalog folders. */
export const CATALOG_WATCH_EVERY_MS = 2000;

/** The fields of a fish config, before the checks across fields. */
const FishConfigFields = z
  .object({
    /**
     * Where the patterns come from: `bundled` (the seed catalog, `@fish-sre/catalog`), a folder
     * (patterns/ and scripts/, relative to the config file), or a list of these, lowest layer
     * first: a higher layer adds patterns, replaces one by id, or disables one with a stub
     * (`id: x` and `disabled: true`). Always a list once parsed.
     */
    catalog: z
      .union([z.string().min(1), z.array(z.string().min(1, 'a catalog layer is `bundled` or a folder path')).min(1, 'give at least one catalog layer (`bundled`, a folder)')])
      .transform((value) => (typeof value === 'string' ? [value] : value)),
    /**
     * Re-read the catalog when its files change, as well as on SIGHUP; an invalid change is
     * refused and the last good catalog stays. `true` looks at every layer's folder every 2 s;
     * `{ every: 10s }` sets how often (at least 100ms). Once parsed: `null` (off) or `{ every }` in ms.
     * @default false
     */
    catalogWatch: z.preprocess(
      // `true` is every 2s, `false` not at all: one object shape once parsed, with errors that name `every`.
      (value) => (value === true ? {} : value === false ? null : value),
      z
        .object(
          { every: DurationSchema.refine((milliseconds) => milliseconds >= 100, 'look at the catalog folders at most every 100ms').default(CATALOG_WATCH_EVERY_MS) },
          { error: 'expected true, false or { every: <duration> } (like { every: 10s })' },
        )
        .strict()
        .nullable()
        .default(null),
    ),
    /** Where fish keeps state: incident bundles, cursors. @default /var/lib/fish */
    dataDir: z.string().default('/var/lib/fish'),
    /** Go through everything but the remote call. @default false */
    dryRun: z.boolean().default(false),
    /** Let patterns that earned auto-exec run without a tap. @default false */
    autoExec: z.boolean().default(false),
    approval: z
      .object({
        listen: z
          .object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8080) })
          .strict()
          .default({ host: '127.0.0.1', port: 8080 }),
        /** Base URL the phone uses to reach the approval endpoint (tunnel / reverse proxy). */
        publicUrl: z.url({ protocol: /^https?$/, error: 'expected a URL with its scheme, like https://fish.example.net' }),
        /** HMAC secret for approval links, at least 32 characters. Use `${ENV_VAR}`. */
        secret: z.string().min(32, 'the approval secret must be at least 32 characters'),
        /** How long a proposal can be approved. @default 1h */
        proposalTtl: DurationSchema.default(3_600_000),
        /**
         * After a restart, an approved fix that never started runs only if it was approved at
         * most this long ago; an older one is escalated instead. @default 5m
         */
        resumeWindow: DurationSchema.default(300_000),
        /**
         * An auto-exec run is announced (with Deny) this long before it starts; a deny in the
         * window cancels it. 0s runs at once (only the outcome is sent). @default 2m
         */
        autoExecDenyWindow: DurationSchema.default(120_000),
        /** Browser origins allowed to POST decisions (the ntfy web app). @default ["https://ntfy.sh"] */
        corsOrigins: z.array(z.string()).default(['https://ntfy.sh']),
        /** Header carrying the user's identity from the edge proxy, trusted only from `trustedProxies`. */
        identityHeader: z.string().optional(),
        trustedProxies: z.array(z.string()).default([]),
      })
      .strict(),
    sources: z
      .array(PluginRef)
      .min(1, 'configure at least one source')
      .superRefine((sources, context) => {
        const seen = new Map<string, number>();
        for (const [index, source] of sources.entries()) {
          const name = source.name ?? source.type;
          const first = seen.get(name);
          if (first === undefined) seen.set(name, index);
          else
            context.addIssue({
              code: 'custom',
              path: [index, source.name === undefined ? 'type' : 'name'],
              message: `duplicate source name "${name}" (also sources[${first}]): give each source its own \`name\``,
            });
        }
      }),
    /** One notifier; or `notifiers`, several in fallback order (see `delivery`). */
    notifier: PluginRef.optional(),
    notifiers: z.array(PluginRef).min(1, 'list at least one notifier').optional(),
    /**
     * The delivery outbox: every notification is recorded before it is sent and retried until
     * sent or expired. With several `notifiers`, one that failed `failoverAfterAttempts` times, or
     * for `failoverAfter`, hands the notification to the next (after the last, the first again).
     */
    delivery: z
      .object({
        failoverAfterAttempts: z.number().int().positive().default(5),
        failoverAfter: DurationSchema.default(120_000),
        retryInitial: DurationSchema.default(2000),
        retryMax: DurationSchema.default(300_000),
        expireAfter: DurationSchema.default(86_400_000),
      })
      .strict()
      .default({ failoverAfterAttempts: 5, failoverAfter: 120_000, retryInitial: 2000, retryMax: 300_000, expireAfter: 86_400_000 }),
    executor: PluginRef,
    /**
     * Where incidents, proposals, decisions and executions are recorded. Required: `memory` keeps
     * nothing across a restart and chains nothing, so it is used only when asked for by name.
     */
    audit: z.preprocess((value, context) => {
      if (value === undefined) {
        context.addIssue({
          code: 'custom',
          message: 'no audit store configured: set `audit: { type: sqlite, options: { path: audit.sqlite } }` (or `type: memory` explicitly, which keeps nothing across a restart)',
        });
        return z.NEVER;
      }
      return value;
    }, PluginRef),
    /**
     * This fish among several on one shared audit store (PostgreSQL). `id` names it in the audit
     * trail (default: host name, pid and a random part); `lease` is how long its claim on a
     * running fix (and a host lock) holds unless renewed: a crashed instance's fix is escalated
     * by another instance that long after the crash. @default { lease: 30s }
     */
    instance: z
      .object({
        id: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'an instance id is 1-64 letters, digits, dots, dashes or underscores')
          .optional(),
        lease: DurationSchema.refine((milliseconds) => milliseconds >= 3000, 'the lease must be at least 3s (it is renewed every third of it)').default(30_000),
      })
      .strict()
      .default({ lease: 30_000 }),
    llm: PluginRef.extend({
      /** Model for the single retry after a malformed answer. */
      fallbackModel: z.string().optional(),
      /** Monthly cap in EUR. @default 20 */
      monthlyBudgetEur: z.number().positive().default(20),
      /** Ask the LLM about incidents no pattern matches (advisory). @default true */
      recogniseNovel: z.boolean().default(true),
      /** Save an LLM-drafted pattern YAML beside each UNKNOWN bundle, for review. @default false */
      draftUnknownPatterns: z.boolean().default(false),
    })
      .strict()
      .optional(),
    pipeline: z
      .object({
        busCapacity: z.number().int().positive().default(10_000),
        /** Older events are counted as stale and never open an incident; null: no limit. @default 15m */
        maxEvidenceAge: DurationSchema.nullable().default(900_000),
        dedupCapacity: z.number().int().positive().default(10_000),
        rateLimit: z.object({ burst: z.number().int().positive(), perMinute: z.number().positive() }).strict().default({ burst: 3, perMinute: 1 }),
        unknown: z
          .object({ minLevel: EventLevel.default('error'), count: z.number().int().positive().default(3), window: DurationSchema.default(300_000), cooldown: DurationSchema.default(3_600_000) })
          .strict()
          .default({ minLevel: 'error', count: 3, window: 300_000, cooldown: 3_600_000 }),
      })
      .strict()
      .default({
        busCapacity: 10_000,
        maxEvidenceAge: 900_000,
        dedupCapacity: 10_000,
        rateLimit: { burst: 3, perMinute: 1 },
        unknown: { minLevel: 'error', count: 3, window: 300_000, cooldown: 3_600_000 },
      }),
    /**
     * Sends the audit chain's head through the notifier this often, so it is kept off this machine
     * (`fish-sre audit verify --expect-head`). Off unless set: one more message a day. @default null
     */
    auditAnchor: z
      .object({ every: DurationSchema.refine((milliseconds) => milliseconds >= 1000, 'at least 1s') })
      .strict()
      .nullable()
      .default(null),
    /** The Prometheus endpoint (`/metrics`); null turns it off. @default 127.0.0.1:9464 */
    metrics: z
      .object({
        listen: z
          .object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(9464) })
          .strict()
          .default({ host: '127.0.0.1', port: 9464 }),
      })
      .strict()
      .nullable()
      .default({ listen: { host: '127.0.0.1', port: 9464 } }),
    /**
     * A dead-man's switch outside the box: a push URL pinged every `interval` while the loop is
     * healthy (healthchecks.io, Uptime Kuma push monitors). Use `${ENV_VAR}`: the URL is a secret.
     */
    heartbeat: z
      .object({
        url: z.url({ protocol: /^https?$/ }),
        /** Called instead while the loop is unhealthy (healthchecks.io: `<url>/fail`). */
        failUrl: z.url({ protocol: /^https?$/ }).optional(),
        method: z.enum(['GET', 'POST']).default('GET'),
        interval: DurationSchema.default(60_000),
        timeout: DurationSchema.default(10_000),
      })
      .strict()
      .optional(),
    log: z
      .object({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info'), format: z.enum(['pretty', 'json']).default('pretty') })
      .strict()
      .default({ level: 'info', format: 'pretty' }),
  })
  .strict();

const FishConfigChecked = FishConfigFields.superRefine((config, context) => {
  if ((config.notifier === undefined) === (config.notifiers === undefined)) {
    context.addIssue({ code: 'custom', path: ['notifiers'], message: 'configure either `notifier` (one) or `notifiers` (a list in fallback order), not both or neither' });
  }
  const names = (config.notifiers ?? []).map((notifier) => notifier.name ?? notifier.type);
  const twice = names.find((name, index) => names.indexOf(name) !== index);
  if (twice !== undefined) context.addIssue({ code: 'custom', path: ['notifiers'], message: `two notifiers are named "${twice}": give each a distinct \`name\`` });
})
  // `notifiers` is the list in fallback order; `notifier` its first.
  .transform((config) => {
    const notifiers = config.notifiers ?? [config.notifier!];
    return { ...config, notifier: notifiers[0]!, notifiers };
  });

/** A fish config file's schema; `shape` lists its top-level keys (as a plain object schema's does). */
export const FishConfigSchema = Object.assign(FishConfigChecked, { shape: FishConfigFields.shape });

export type FishConfig = z.output<typeof FishConfigSchema> & {
  configPath: string;
  secrets: string[];
  /**
   * `file:line` of a field in the config file (`fish.yaml:12`), for messages about a value found
   * wrong after loading (plugin options, a missing catalog folder). The line is the key's own.
   */
  locate?: (path: ReadonlyArray<PropertyKey>) => string;
};

/** A config path as written in messages: `sources[0].options.url`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((part, index) => (typeof part === 'number' || /^\d+$/.test(String(part)) ? `[${String(part)}]` : `${index === 0 ? '' : '.'}${String(part)}`)).join('') || '(root)';
}

/**
 * The line of the deepest node of \`path\` present in the document: the key's own line for a map
 * entry (an unknown key is reported where it is written, not at its parent), the item's line for a
 * list entry; the parent's line only when the key is missing altogether.
 */
function lineOf(document: Document, counter: LineCounter, path: ReadonlyArray<PropertyKey>): number | undefined {
  let node: unknown = document.contents;
  let line: number | undefined = node && (node as { range?: number[] }).range ? counter.linePos((node as { range: number[] }).range[0]!).line : undefined;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => String(isScalar(item.key) ? item.key.value : item.key) === String(part));
      if (!pair) break;
      const range = (pair.key as { range?: number[] } | null)?.range;
      if (range) line = counter.linePos(range[0]!).line;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(part)] as { range?: number[] } | undefined;
      if (!item) break;
      if (item.range) line = counter.linePos(item.range[0]!).line;
      node = item;
    } else break;
  }
  return line;
}

/** `${NAME}` and `${NAME:-default}` in string values come from the environment (secrets stay out of the file). */
function interpolate(value: unknown, path: PropertyKey[], env: NodeJS.ProcessEnv, problems: Problem[], secrets: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') {
        secrets.push(found);
        return found;
      }
      if (fallback !== undefined) return fallback;
      problems.push({
        path,
        message: `environment variable ${name} is not set: export it, or put it in the environment file the service reads (systemd EnvironmentFile=), or write \`\${${name}:-default}\``,
      });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, [...path, index], env, problems, secrets));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, [...path, key], env, problems, secrets)]));
  }
  return value;
}

interface Problem {
  path: PropertyKey[];
  message: string;
}

/**
 * Reads and validates a fish config file. Every mistake is reported with the file, the path of
 * the field and what was expected; nothing starts half-configured.
 * @throws FishError CONFIG_INVALID
 */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<FishConfig> {
  const configPath = resolve(path);
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (error) {
    throw new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('config', `cannot read ${configPath}: ${(error as Error).message}`), cause: error });
  }
  const counter = new LineCounter();
  const document = parseDocument(text, { uniqueKeys: true, lineCounter: counter, prettyErrors: false });
  if (document.errors.length > 0) {
    // A key indented deeper than the one above it (which already has a value) is reported by the
    // parser at the key above; the mistake is on the deeper line, where its range ends.
    const deeper = document.errors.find((error) => error.code === 'MULTILINE_IMPLICIT_KEY');
    if (deeper) {
      const line = counter.linePos(deeper.pos[1]).line;
      const above = counter.linePos(deeper.pos[0]).line;
      throw new FishError({
        code: FishErrorCode.CONFIG_INVALID,
        message: errorMessage(
          'config',
          `${path}:${line}: YAML syntax: this line is indented deeper than the key on line ${above}, which already has a value (check the indentation: a nested key needs more spaces than its parent, siblings the same number)`,
        ),
        details: { file: configPath, line },
      });
    }
    const first = document.errors[0]!;
    const line = first.linePos?.[0]?.line ?? counter.linePos(first.pos[0]).line;
    throw new FishError({
      code: FishErrorCode.CONFIG_INVALID,
      message: errorMessage(
        'config',
        `${path}:${line}: YAML syntax: ${first.message.split('\n')[0]}${/INDENT|BLOCK|MISSING_CHAR/.test(first.code) ? ' (check the indentation: a nested key needs more spaces than its parent, siblings the same number; list items start with "- ")' : ''}`,
      ),
      details: { file: configPath, line },
    });
  }
  const problems: Problem[] = [];
  const secrets: string[] = [];
  const raw = interpolate(document.toJS(), [], env, problems, secrets);
  // A misspelt key is refused with the key it was probably meant to be (`dryrun` -> `dryRun`).
  const parsed = requireDurationUnits(() => FishConfigSchema.safeParse(raw, { error: unknownKeyErrorMap }));
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // An unknown key is reported at the key itself, one problem per key.
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      if (keys.length > 1) for (const key of keys) problems.push({ path: [...issue.path, key], message: issue.message });
      else problems.push({ path: keys.length === 1 ? [...issue.path, keys[0]!] : [...issue.path], message: issue.message });
    }
  }
  const locate = (at: ReadonlyArray<PropertyKey>) => `${path}:${lineOf(document, counter, at) ?? 1}`;
  if (problems.length > 0) {
    const lines = problems.map((problem) => `${locate(problem.path)}: ${fieldPath(problem.path)}: ${problem.message}`);
    throw new FishError({
      code: FishErrorCode.CONFIG_INVALID,
      message: errorMessage('config', `${path} is not valid:\n  ${lines.join('\n  ')}`),
      details: { file: configPath, problems: problems.map((problem) => ({ path: fieldPath(problem.path), line: lineOf(document, counter, problem.path), message: problem.message })) },
    });
  }
  const config = parsed.data!;
  const base = dirname(configPath);
  const relativeTo = (value: string) => (isAbsolute(value) ? value : resolve(base, value));
  // `bundled` is resolved when the catalog is opened (beside the config file, then with the CLI).
  const catalog = config.catalog.map((entry) => (entry === 'bundled' ? entry : relativeTo(entry)));
  return { ...config, catalog, dataDir: relativeTo(config.dataDir), configPath, secrets: [...new Set([...secrets, config.approval.secret])], locate };
}
