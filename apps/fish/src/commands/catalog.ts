import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { EventLevel, catalogJsonSchema, formatPatternOrigin, lintCatalog, type Catalog, type ObservedEvent } from '@fish-sre/core';
import { Matcher, checkCatalogSamples } from '@fish-sre/core/internal';

type Write = (text: string) => void;

/**
 * `fish-sre catalog validate`: loads the catalog, every layer of it (schema, regexes, scripts,
 * overrides and disables), then lints it, and says where each pattern came from. An unscoped log
 * signal is a warning; one on a pattern that asks for auto-exec is an error (exit 1).
 */
export async function catalogValidate(source: Catalog, write: Write): Promise<number> {
  const catalog = await source.load();
  const findings = lintCatalog(catalog);
  const errors = findings.filter((finding) => finding.severity === 'error');
  const overrides = Object.values(catalog.origins ?? {}).filter((origin) => origin.overrides).length;
  const disabled = catalog.disabled ?? [];
  const counts = overrides + disabled.length > 0 ? ` (${overrides} overridden, ${disabled.length} disabled)` : '';
  write(`catalog ${errors.length === 0 ? 'OK' : 'REFUSED'}: ${catalog.patterns.length} patterns in ${source.name}${counts}\n`);
  for (const pattern of catalog.patterns) {
    const origin = catalog.origins?.[pattern.id];
    write(`  ${pattern.id.padEnd(42)} ${(pattern.fix ? `fix ${pattern.fix.script}` : 'escalates (no automatic fix)').padEnd(30)}${origin ? ` from ${formatPatternOrigin(origin)}` : ''}\n`);
  }
  for (const stub of disabled) {
    const removed = stub.removed ? `, was ${formatPatternOrigin(stub.removed)}` : '';
    write(`  ${stub.id.padEnd(42)} ${'disabled'.padEnd(30)} by ${formatPatternOrigin(stub.origin)}${removed}${stub.reason ? `: ${stub.reason}` : ''}\n`);
  }
  for (const finding of findings) {
    const origin = catalog.origins?.[finding.patternId];
    write(`${finding.severity.toUpperCase()} pattern "${finding.patternId}", field ${finding.path}: ${finding.message}${origin ? ` (${origin.file}:${origin.line})` : ''}\n`);
  }
  return errors.length === 0 ? 0 : 1;
}

export async function catalogTest(source: Catalog, write: Write): Promise<number> {
  const catalog = await source.load();
  const { checked, failures } = checkCatalogSamples(catalog);
  for (const failure of failures) {
    write(`FAIL ${failure.patternId}: expected ${failure.expected}, ${failure.got}\n     ${failure.sample}\n`);
  }
  write(`${checked - failures.length} of ${checked} samples behave as declared (${catalog.patterns.length} patterns)\n`);
  return failures.length === 0 ? 0 : 1;
}

const InputLine = z.object({
  message: z.string(),
  host: z.string().optional(),
  service: z.string().optional(),
  level: EventLevel.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  timestamp: z.union([z.string(), z.number()]).optional(),
});

/**
 * `fish-sre catalog match`: one JSON event per stdin line -> one JSON line with the patterns it
 * matches and their confidence. The tool for "why did my pattern not fire?".
 */
export async function catalogMatch(source: Catalog, input: NodeJS.ReadableStream, write: Write): Promise<number> {
  const catalog = await source.load();
  const matcher = new Matcher(catalog);
  let lineNumber = 0;
  let invalid = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    lineNumber++;
    if (text.trim() === '') continue;
    let parsed: z.infer<typeof InputLine>;
    try {
      const result = InputLine.safeParse(JSON.parse(text));
      if (!result.success) throw new Error(result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '));
      parsed = result.data;
    } catch (error) {
      invalid++;
      write(`${JSON.stringify({ line: lineNumber, error: `not a valid event: ${(error as Error).message}` })}\n`);
      continue;
    }
    const event: ObservedEvent = {
      id: `stdin-${lineNumber}`,
      kind: 'log',
      source: 'stdin',
      time: Date.now(),
      host: parsed.host ?? 'unknown',
      service: parsed.service ?? 'unknown',
      level: parsed.level ?? 'unknown',
      message: parsed.message,
      labels: parsed.labels ?? {},
    };
    const matches = matcher.match(event).map((hit) => ({
      pattern: hit.pattern.id,
      confidence: Math.round(Matcher.confidence(hit.pattern, hit.signalIds) * 1000) / 1000,
      signals: hit.signalIds,
      trigger: `${hit.pattern.trigger.count} event(s) within ${hit.pattern.trigger.window / 1000}s`,
    }));
    write(`${JSON.stringify({ line: lineNumber, matches })}\n`);
  }
  return invalid === 0 ? 0 : 2;
}

export async function catalogSchema(write: Write, outFile?: string): Promise<number> {
  const text = `${JSON.stringify(catalogJsonSchema(), null, 2)}\n`;
  if (outFile) {
    await mkdir(dirname(outFile), { recursive: true });
    await writeFile(outFile, text);
    write(`wrote ${outFile}\n`);
  } else {
    write(text);
  }
  return 0;
}
