/**
 * The parser stages of a LogQL log pipeline as Loki runs them (grafana/loki@65e30f84,
 * `pkg/logql/log/parser.go`, `labels.go`, `util.go`, `logfmt/decode.go`): `| json` and
 * `| logfmt` add *parsed* labels taken out of the line, and the response shows them either merged
 * into the stream labels or, with `categorize-labels`, apart (`pkg/iter/categorized_labels_iterator.go`,
 * `pkg/util/marshal/query.go` `encodeStream`).
 */

/** Labels of one entry after the pipeline, by category (Loki's `LabelsResult`). */
export interface CategorizedLabels {
  /** The stream's own labels, minus any a structured metadata or parsed label of the same name replaced. */
  stream: Record<string, string>;
  structuredMetadata: Record<string, string>;
  parsed: Record<string, string>;
}

/** The labels as Loki shows them without categorize-labels: everything merged (parsed > metadata > stream). */
export function mergedLabels(labels: CategorizedLabels): Record<string, string> {
  return { ...labels.stream, ...labels.structuredMetadata, ...labels.parsed };
}

/** `sanitizeLabelKey(key, true)`: trimmed, a leading digit prefixed with `_`, every other rune outside [A-Za-z0-9_] made `_`. */
export function sanitizeLabelKey(key: string): string {
  let text = key.trim();
  if (text === '') return text;
  if (text[0]! >= '0' && text[0]! <= '9') text = `_${text}`;
  return [...text].map((rune) => (/^[A-Za-z0-9_]$/.test(rune) ? rune : '_')).join('');
}

/** A nested member's label name (`buildSanitizedPrefixFromBuffer`): trimmed non-empty parts joined by `_`, each sanitized, a leading digit prefixed. */
function flatName(parts: readonly string[]): string {
  const kept = parts.map((part) => part.trim()).filter((part) => part !== '');
  return kept.map((part, index) => (index === 0 ? sanitizeLabelKey(part) : [...part].map((rune) => (/^[A-Za-z0-9_]$/.test(rune) ? rune : '_')).join(''))).join('_');
}

/** Builds an entry's labels the way `LabelsBuilder` does: a parsed name already taken by the stream or the metadata gets `_extracted`; the first value of a name wins. */
class LabelsBuilder {
  readonly parsed: Record<string, string> = {};
  constructor(
    private readonly base: Record<string, string>,
    private readonly structuredMetadata: Record<string, string>,
  ) {}

  /** The name a parsed label gets (`duplicateSuffix`). */
  nameFor(name: string): string {
    return Object.hasOwn(this.base, name) || Object.hasOwn(this.structuredMetadata, name) ? `${name}_extracted` : name;
  }

  /** `lbs.Set(ParsedLabel, ...)` after `parserHints.Extracted(key)`: the first value of a name wins. */
  setParsed(name: string, value: string): void {
    if (!Object.hasOwn(this.parsed, name)) this.parsed[name] = value;
  }

  result(): CategorizedLabels {
    const stream: Record<string, string> = {};
    for (const [name, value] of Object.entries(this.base)) {
      // Metadata and parsed labels take precedence: a stream label of the same name is gone.
      if (!Object.hasOwn(this.structuredMetadata, name) && !Object.hasOwn(this.parsed, name)) stream[name] = value;
    }
    return { stream, structuredMetadata: { ...this.structuredMetadata }, parsed: { ...this.parsed } };
  }
}

/**
 * `| json`: every string, number and boolean member of the line's object becomes a label (nested
 * objects flattened with `_`, arrays and nulls skipped); numbers keep their text as written. A line
 * that is not a JSON object gets `__error__="JSONParserErr"` and is kept.
 */
function parseJson(line: string, labels: LabelsBuilder): void {
  let value: unknown;
  const numberText = new Map<object, Map<string, string>>();
  try {
    value = JSON.parse(line, function reviver(this: object, key: string, item: unknown, context?: { source?: string }) {
      if (typeof item === 'number' && context?.source !== undefined) {
        let texts = numberText.get(this);
        if (!texts) numberText.set(this, (texts = new Map()));
        texts.set(key, context.source);
      }
      return item;
    });
  } catch (error) {
    labels.setParsed('__error__', 'JSONParserErr');
    labels.setParsed('__error_details__', (error as Error).message);
    return;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    labels.setParsed('__error__', 'JSONParserErr');
    labels.setParsed('__error_details__', "Value looks like object, but can't find closing '}' symbol");
    return;
  }
  const walk = (object: Record<string, unknown>, prefix: string[]) => {
    for (const [key, item] of Object.entries(object)) {
      if (item !== null && typeof item === 'object') {
        if (!Array.isArray(item)) walk(item as Record<string, unknown>, [...prefix, key]);
        continue;
      }
      if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') continue;
      const text = typeof item === 'number' ? (numberText.get(object)?.get(key) ?? String(item)) : String(item);
      const name = flatName([...prefix, key]);
      if (name === '') continue;
      labels.setParsed(labels.nameFor(name), text);
    }
  };
  walk(value as Record<string, unknown>, []);
}

/** `unquoteBytes` of a quoted logfmt value with escapes (`"..."`): JSON's escapes; literal control characters are kept. */
function unquote(quoted: string): string | undefined {
  let out = '';
  for (let index = 1; index < quoted.length - 1; index++) {
    const char = quoted[index]!;
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = quoted[++index];
    const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
    if (next !== undefined && next in simple) out += simple[next];
    else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(quoted.slice(index + 1, index + 5))) {
      out += String.fromCharCode(Number.parseInt(quoted.slice(index + 1, index + 5), 16));
      index += 4;
    } else return undefined;
  }
  return out;
}

/** One `ScanKeyval` of `logfmt.Decoder`: the pair at `position`, or the syntax error that made it skip. */
interface Scanned {
  ok: boolean;
  key?: string;
  value: string;
  end: number;
  error?: string;
}

function scanKeyval(line: string, from: number): Scanned | undefined {
  let position = from;
  while (position < line.length && line.charCodeAt(position) <= 32) position++;
  if (position >= line.length) return undefined;
  const fail = (message: string, at: number): Scanned => {
    // skip_value: up to the next space.
    let end = at;
    while (end < line.length && line.charCodeAt(end) > 32) end++;
    return { ok: false, value: '', end, error: `logfmt syntax error at pos ${at + 1} : ${message}` };
  };
  const start = position;
  while (position < line.length && line[position] !== '=' && line[position] !== '"' && line.charCodeAt(position) > 32) position++;
  if (position >= line.length || line.charCodeAt(position) <= 32) return { ok: true, key: line.slice(start, position), value: '', end: position };
  if (line[position] === '"' || position === start) return fail(`unexpected '${line[position]}'`, position);
  const key = line.slice(start, position);
  position++;
  if (position >= line.length || line.charCodeAt(position) <= 32) return { ok: true, key, value: '', end: position };
  if (line[position] === '"') {
    let escaped = false;
    for (let index = position + 1; index < line.length; index++) {
      const char = line[index];
      if (escaped) escaped = false;
      else if (char === '\\') escaped = true;
      else if (char === '"') {
        const value = unquote(line.slice(position, index + 1));
        if (value === undefined) return { ok: false, value: '', end: index + 1, error: `logfmt syntax error at pos ${index + 2} : invalid quoted value` };
        return { ok: true, key, value, end: index + 1 };
      }
    }
    return { ok: false, value: '', end: line.length, error: `logfmt syntax error at pos ${line.length + 1} : unterminated quoted value` };
  }
  const valueStart = position;
  while (position < line.length && line.charCodeAt(position) > 32) {
    if (line[position] === '=' || line[position] === '"') return fail(`unexpected '${line[position]}'`, position);
    position++;
  }
  return { ok: true, key, value: line.slice(valueStart, position), end: position };
}

/**
 * `| logfmt` (`LogfmtParser.Process`): `key=value`, `key="quoted value"`, a bare `key` (empty,
 * dropped unless `--keep-empty`). A malformed pair is skipped up to the next space; with
 * `--strict` the first one ends parsing and sets `__error__="LogfmtParserErr"`.
 */
function parseLogfmt(line: string, labels: LabelsBuilder, strict: boolean, keepEmpty: boolean): void {
  let position = 0;
  for (let scanned = scanKeyval(line, position); scanned; scanned = scanKeyval(line, position)) {
    position = scanned.end;
    if (!scanned.ok) {
      if (strict) {
        labels.setParsed('__error__', 'LogfmtParserErr');
        labels.setParsed('__error_details__', scanned.error!);
        return;
      }
      continue;
    }
    const name = sanitizeLabelKey(scanned.key ?? '');
    if (name === '') continue;
    if (!keepEmpty && scanned.value === '') continue;
    labels.setParsed(labels.nameFor(name), scanned.value);
  }
}

/** One parser stage of a query. */
export type ParserStage = { type: 'json' } | { type: 'logfmt'; strict: boolean; keepEmpty: boolean };

/** Runs the parser stages over one line. */
export function categorize(stages: readonly ParserStage[], line: string, streamLabels: Record<string, string>, structuredMetadata: Record<string, string> = {}): CategorizedLabels {
  const labels = new LabelsBuilder(streamLabels, structuredMetadata);
  for (const stage of stages) {
    if (stage.type === 'json') parseJson(line, labels);
    else parseLogfmt(line, labels, stage.strict, stage.keepEmpty);
  }
  return labels.result();
}
