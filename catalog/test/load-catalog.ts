import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PatternSchema, type Pattern } from '@fish-sre/core';
import { parse } from 'yaml';

export const catalogDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const patternsDir = join(catalogDir, 'patterns');
export const scriptsDir = join(catalogDir, 'scripts');
export const samplesDir = join(catalogDir, 'samples');
export const fakeBinDir = join(catalogDir, 'test', 'fakebin');

export interface LoadedPattern {
  file: string;
  text: string;
  /** Undefined when the file failed validation (see `errors`). */
  pattern?: Pattern;
  errors: string[];
}

/** Reads and validates every pattern file, keeping each file's errors instead of throwing. */
export function loadPatternFiles(): LoadedPattern[] {
  return readdirSync(patternsDir)
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .sort()
    .map((file) => {
      const text = readFileSync(join(patternsDir, file), 'utf8');
      let raw: unknown;
      try {
        raw = parse(text);
      } catch (error) {
        return { file, text, errors: [`YAML: ${(error as Error).message}`] };
      }
      const result = PatternSchema.safeParse(raw);
      if (!result.success) {
        return { file, text, errors: result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`) };
      }
      return { file, text, pattern: result.data, errors: [] };
    });
}

export function loadPatterns(): Pattern[] {
  return loadPatternFiles().flatMap((loaded) => (loaded.pattern ? [loaded.pattern] : []));
}
