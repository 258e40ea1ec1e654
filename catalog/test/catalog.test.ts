import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PATTERN_ID_PATTERN, SCRIPT_NAME_PATTERN, catalogJsonSchema, loadCatalog, type CatalogSample, type ObservedEvent, type Pattern } from '@fish-sre/core';
import { Matcher, checkCatalogSamples, sampleSilences, sampleToEvent } from '@fish-sre/core/internal';
import { describe, expect, it } from 'vitest';
import { catalogDir, loadPatternFiles, loadPatterns, samplesDir, scriptsDir } from './load-catalog.js';
import { readSampleLines, replay, toObservedEvent } from './replay.js';

/** The patterns the core's deterministic matcher says this event is evidence for. */
function matchedIds(matcher: Matcher, event: ObservedEvent): string[] {
  return matcher.match(event).map((hit) => hit.pattern.id);
}

const REQUIRED_IDS = [
  // seed 000: the five patterns of the original fish
  'beszel-oidc-reset',
  'docker-compose-stopped-post-reboot',
  'pmxcfs-ro-post-recovery',
  'dockerd-sigbus-loop',
  'apt-security-updates-pending',
  // seed 004: the homelab's production pitfalls
  'loki-empty-ring',
  'grafana-postgres-datasource-no-user',
  'qdrant-snapshot-permission-denied',
  'redis-rename-command-crash',
  'postgres-round-double-precision',
  'litellm-health-unauthorized',
  'n8n-code-node-require-blocked',
  'caddy-rate-limit-plugin-missing',
  'openclaw-invalid-config-key',
  'postgres18-volume-mount-path',
];

const SCHEMA_COMMENT = '# yaml-language-server: $schema=../schema/pattern.schema.json';

function scriptsOf(pattern: Pattern): string[] {
  return [pattern.fix?.script, pattern.verify?.script, pattern.rollback?.script].filter((name): name is string => name !== undefined);
}

describe('seed catalog files', () => {
  const files = loadPatternFiles();

  it('loads with the core catalog loader (schema, ids, scripts present and executable)', async () => {
    const catalog = await loadCatalog(catalogDir);
    expect(catalog.patterns.map((pattern) => pattern.id).sort()).toEqual(files.map((loaded) => loaded.file.replace(/\.yaml$/, '')));
  });

  it('has at least the 15 required patterns', () => {
    const ids = files.map((loaded) => loaded.file.replace(/\.ya?ml$/, ''));
    expect(REQUIRED_IDS.filter((id) => !ids.includes(id))).toEqual([]);
    expect(files.length).toBeGreaterThanOrEqual(15);
  });

  it.each(files.map((loaded) => [loaded.file, loaded] as const))('%s is valid against PatternSchema', (_file, loaded) => {
    expect(loaded.errors).toEqual([]);
    expect(loaded.pattern).toBeDefined();
  });

  it.each(files.map((loaded) => [loaded.file, loaded] as const))('%s: id matches the file name, schema comment on line 1', (file, loaded) => {
    expect(loaded.text.split('\n')[0]).toBe(SCHEMA_COMMENT);
    expect(loaded.pattern?.id).toBe(file.replace(/\.yaml$/, ''));
    expect(PATTERN_ID_PATTERN.test(loaded.pattern!.id)).toBe(true);
  });

  it('targets a configured host name or $event_host', () => {
    for (const pattern of loadPatterns()) expect(pattern.target_host, pattern.id).toMatch(/^(\$event_host|[a-z0-9][a-z0-9-]*)$/);
  });

  it('gives every pattern without a fix a diagnosis, and every pattern a diagnosis for escalations', () => {
    for (const pattern of loadPatterns()) {
      expect(pattern.diagnosis?.trim().length ?? 0, pattern.id).toBeGreaterThan(40);
      expect(pattern.description.trim().length, pattern.id).toBeGreaterThan(40);
    }
  });
});

describe('seed catalog scripts', () => {
  const patterns = loadPatterns();
  const scriptFiles = readdirSync(scriptsDir)
    .filter((name) => name.endsWith('.sh'))
    .sort();

  it('every referenced script exists, is executable and has a valid name', () => {
    for (const pattern of patterns) {
      for (const script of scriptsOf(pattern)) {
        expect(SCRIPT_NAME_PATTERN.test(script), `${pattern.id}: ${script}`).toBe(true);
        const path = join(scriptsDir, script);
        expect(statSync(path).isFile(), `${pattern.id}: ${script} missing`).toBe(true);
        expect(() => accessSync(path, constants.X_OK), `${pattern.id}: ${script} not executable`).not.toThrow();
      }
    }
  });

  it('has no script that no pattern uses', () => {
    const used = new Set(patterns.flatMap(scriptsOf));
    expect(scriptFiles.filter((name) => !used.has(name))).toEqual([]);
  });

  it.each(scriptFiles)('%s is POSIX sh with set -eu and a documented verb switch', (name) => {
    const text = readFileSync(join(scriptsDir, name), 'utf8');
    expect(text.startsWith('#!/bin/sh\n')).toBe(true);
    expect(text).toMatch(/^set -eu$/m);
    expect(text).toMatch(/^case \$\{1:-\} in$/m);
    // Tools come from PATH so that a sandbox can put fakes first.
    expect(text).not.toMatch(/\/usr\/s?bin\/(docker|systemctl|curl|apt-get|pvecm|jq)\b/);
  });

  it('passes shellcheck -s sh', () => {
    const result = spawnSync('shellcheck', ['-s', 'sh', ...scriptFiles], { cwd: scriptsDir, encoding: 'utf8' });
    if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('shellcheck is not installed: `apt-get install -y shellcheck` (the catalog tests need it)');
    }
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('seed catalog samples (core matcher)', () => {
  const patterns = loadPatterns();
  const matcher = new Matcher({ patterns });

  it('every sample matches its pattern and every near miss does not (checkCatalogSamples)', () => {
    const { checked, failures } = checkCatalogSamples({ patterns });
    expect(failures).toEqual([]);
    expect(checked).toBe(patterns.reduce((total, pattern) => total + pattern.samples.match.length + pattern.samples.no_match.length, 0));
  });

  it.each(patterns.map((pattern) => [pattern.id, pattern] as const))('%s: samples reach min_confidence, near misses match no signal', (_id, pattern) => {
    // All match samples together (one incident window) must reach the pattern's min_confidence;
    // an `absent` signal's sample is a sign of life that, followed by silence, fires it.
    const seen = pattern.samples.match.flatMap((sample, index) => [
      ...matcher
        .match(sampleToEvent(sample, index))
        .filter((hit) => hit.pattern.id === pattern.id)
        .flatMap((hit) => hit.signalIds),
      ...sampleSilences(pattern, sample, index).map((silence) => silence.signalId),
    ]);
    expect(Matcher.confidence(pattern, seen)).toBeGreaterThanOrEqual(pattern.min_confidence);
    expect(pattern.samples.no_match.length, 'each pattern documents near misses').toBeGreaterThanOrEqual(2);
    for (const sample of pattern.samples.no_match) {
      expect(matchedIds(matcher, sampleToEvent(sample)), JSON.stringify(sample)).not.toContain(pattern.id);
      expect(sampleSilences(pattern, sample), JSON.stringify(sample)).toEqual([]);
    }
  });

  it('no sample of one pattern is evidence for another pattern', () => {
    const crossings: string[] = [];
    for (const owner of patterns) {
      owner.samples.match.forEach((sample: CatalogSample, index) => {
        for (const id of matchedIds(matcher, sampleToEvent(sample, index))) if (id !== owner.id) crossings.push(`${owner.id} sample ${index} is evidence for ${id}`);
      });
    }
    expect(crossings).toEqual([]);
  });
});

describe('demo log (samples/demo.jsonl)', () => {
  const patterns = loadPatterns();
  const lines = readSampleLines(join(samplesDir, 'demo.jsonl'));

  it('is ~60 well-formed events in time order', () => {
    expect(lines.length).toBeGreaterThanOrEqual(50);
    let previous = 0;
    lines.forEach((line, index) => {
      const event = toObservedEvent(line, index);
      expect(event.time, `line ${index + 1} out of order`).toBeGreaterThanOrEqual(previous);
      previous = event.time;
    });
  });

  it('holds exactly one incident: docker-compose-stopped-post-reboot on penny, firing under its trigger rule', () => {
    const fired = replay(patterns, lines.map(toObservedEvent));
    expect([...fired]).toEqual([['docker-compose-stopped-post-reboot@penny/uptime-kuma', 1]]);
  });
});

describe('incident excerpts (samples/incidents/<pattern>.jsonl)', () => {
  const patterns = loadPatterns();
  const files = readdirSync(join(samplesDir, 'incidents'))
    .filter((name) => name.endsWith('.jsonl'))
    .sort();

  it('exist for several patterns, each named after one', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files)
      expect(
        patterns.map((pattern) => pattern.id),
        file,
      ).toContain(file.replace(/\.jsonl$/, ''));
  });

  it.each(files)('%s fires its pattern (full confidence, trigger rule) and no other', (file) => {
    const id = file.replace(/\.jsonl$/, '');
    const fired = replay(patterns, readSampleLines(join(samplesDir, 'incidents', file)).map(toObservedEvent));
    expect([...new Set([...fired.keys()].map((key) => key.split('@')[0]))]).toEqual([id]);
    expect(Math.min(...fired.values())).toBe(1);
  });
});

describe('editor schema (schema/pattern.schema.json)', () => {
  it('is the current JSON Schema of PatternSchema (regenerate: fish-sre catalog schema --out catalog/schema/pattern.schema.json)', () => {
    const committed = readFileSync(join(catalogDir, 'schema', 'pattern.schema.json'), 'utf8');
    expect(committed).toBe(`${JSON.stringify(catalogJsonSchema(), null, 2)}\n`);
  });
});
