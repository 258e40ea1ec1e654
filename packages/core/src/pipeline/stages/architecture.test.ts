import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const coreSource = join(here, '..', '..');

/** The order an event passes through the stages; a stage imports only shared parts and earlier stages. */
const ORDER: Record<string, number> = {
  'context.ts': 0,
  'observer.ts': 0,
  'task-tracker.ts': 0,
  'event-shape.ts': 0,
  'messages.ts': 0,
  'cooldowns.ts': 0,
  'metric-signals.ts': 0,
  'source-pumps.ts': 0,
  'detection.ts': 1,
  'outbox.ts': 1,
  'incident-claim.ts': 2,
  'notifications.ts': 2,
  'auto-exec-policy.ts': 2,
  'unknown-incidents.ts': 3,
  'routing.ts': 4,
  'decisions.ts': 5,
  'execution.ts': 6,
  'recovery.ts': 7,
};

async function sources(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')).map((entry) => join(entry.parentPath, entry.name));
}

const importsOf = (text: string) => [...text.matchAll(/^(?:import|export)[^;]*?from '([^']+)';/gms)].map((match) => match[1]!);

describe('engine architecture', () => {
  it('has a rank for every stage file', async () => {
    const files = (await sources(here)).map((file) => relative(here, file));
    expect(files.filter((file) => !(file in ORDER))).toEqual([]);
  });

  it('lets no stage import the facade or a later stage', async () => {
    const offences: string[] = [];
    for (const file of await sources(here)) {
      const name = relative(here, file);
      for (const target of importsOf(await readFile(file, 'utf8'))) {
        if (target.includes('engine')) offences.push(`${name} imports ${target}`);
        const local = target.startsWith('./') ? target.slice(2).replace(/\.js$/, '.ts') : undefined;
        if (local && (ORDER[local] ?? 0) > ORDER[name]!) offences.push(`${name} imports the later stage ${local}`);
      }
    }
    expect(offences).toEqual([]);
  });

  it('keeps core free of file writes (the app injects storage)', async () => {
    const writers = /\b(writeFile|appendFile|mkdir|createWriteStream|rename|rm|unlink|copyFile|writeFileSync|mkdirSync)\b/;
    const offences: string[] = [];
    for (const file of await sources(coreSource)) {
      const text = await readFile(file, 'utf8');
      for (const match of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'node:fs(?:\/promises)?'/g)) {
        if (writers.test(match[1]!)) offences.push(`${relative(coreSource, file)}: ${match[0]}`);
      }
    }
    expect(offences).toEqual([]);
  });

  it('keeps the engine and each stage small', async () => {
    const large: string[] = [];
    for (const file of [...(await sources(here)), join(here, '..', 'engine.ts'), join(here, '..', 'engine-options.ts')]) {
      const lines = (await readFile(file, 'utf8')).split('\n').length;
      if (lines > 300) large.push(`${relative(coreSource, file)}: ${lines} lines`);
    }
    expect(large).toEqual([]);
  });
});
