import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import type { Pattern } from '@fish-sre/core';
import { sampleToEvent } from '@fish-sre/core/internal';
import { describe, expect, it } from 'vitest';
import { catalogDir, loadPatterns } from './load-catalog.js';

/**
 * Every pattern is grounded in what the program really prints: enough real lines, each citing
 * where it comes from, in the forms a homelab's log pipeline delivers, and near misses.
 */

/** The comment written above each `samples.match` entry, as the YAML file has it. */
function matchSampleComments(file: string): string[] {
  const document = parseDocument(readFileSync(join(catalogDir, 'patterns', file), 'utf8'));
  const match = document.getIn(['samples', 'match'], true);
  if (!isSeq(match)) throw new Error(`${file}: samples.match is not a list`);
  return match.items.map((item, index) => {
    const own = (isMap(item) ? item.commentBefore : undefined) ?? '';
    // The comment above the first entry belongs to the list itself in the YAML model.
    const inherited = index === 0 ? (match.commentBefore ?? '') : '';
    return `${inherited}\n${own}`.trim();
  });
}

/** The shape a log line arrives in; a pattern's samples must cover more than one. */
export function lineForm(message: string): string {
  if (/^\{"log":".*","stream":"std(?:out|err)"/s.test(message)) return 'json-file';
  if (/^[\w.@-]+\s+\| /.test(message)) return 'compose';
  if (/^[A-Za-z]{3} +\d{1,2} \d{2}:\d{2}:\d{2} \S+ [\w.@-]+\[\d+\]: /.test(message) || /^[A-Za-z]{3} +\d{1,2} \d{2}:\d{2}:\d{2} [\w.@-]+\[\d+\]: /.test(message)) return 'journald';
  if (/^\{".*\}$/s.test(message)) return 'json';
  if (/(?:^|\s)(?:level|lvl|logger|ts|t|time)=\S/.test(message)) return 'logfmt';
  return 'plain';
}

const ORIGIN = /https?:\/\/\S+|\b[\w.-]+\/[\w./@-]+\.(?:c|go|rs|ts|js|py|pm|sh|json)\b|\b[\w-]+\/[\w.-]+ issue|\b(?:src|lib|packages|pkg|caddyconfig|runtime)\/[\w./-]+/;

describe('patterns are grounded in the real text', () => {
  const patterns = loadPatterns();
  const logPatterns = patterns.filter((pattern) => pattern.required_signals.some((signal) => signal.log ?? signal.absent));

  it.each(patterns.map((pattern) => [pattern.id, pattern] as const))('%s has at least 4 real samples and 2 near misses', (_id, pattern: Pattern) => {
    expect(pattern.samples.match.length).toBeGreaterThanOrEqual(4);
    expect(pattern.samples.no_match.length).toBeGreaterThanOrEqual(2);
  });

  it.each(patterns.map((pattern) => [pattern.id] as const))('%s: every sample line says where it comes from, and the pattern cites upstream', (id) => {
    const comments = matchSampleComments(`${id}.yaml`);
    expect(
      comments.filter((comment) => comment === ''),
      'samples without an origin comment',
    ).toEqual([]);
    expect(
      comments.some((comment) => ORIGIN.test(comment)),
      'no comment cites an upstream source file or issue',
    ).toBe(true);
  });

  it.each(logPatterns.map((pattern) => [pattern.id, pattern] as const))('%s: samples cover several real forms (plain, logfmt, JSON, compose, json-file, journald)', (_id, pattern: Pattern) => {
    const forms = new Set(pattern.samples.match.map((sample) => lineForm(sampleToEvent(sample).message)));
    expect(forms.size, [...forms].join(', ')).toBeGreaterThanOrEqual(2);
  });

  it('recognises each line form it counts (checked on known lines)', () => {
    expect(lineForm('{"log":"mkdir /loki/rules: permission denied\\n","stream":"stderr","time":"2025-11-18T06:40:53Z"}')).toBe('json-file');
    expect(lineForm('loki  | mkdir /loki/rules: permission denied')).toBe('compose');
    expect(lineForm('Apr 20 07:01:02 lancelot pve-ha-lrm[1523]: unable to write lrm status file')).toBe('journald');
    expect(lineForm('{"level":"error","msg":"request error"}')).toBe('json');
    expect(lineForm('level=error ts=2025-11-18T06:40:53Z msg="error running loki"')).toBe('logfmt');
    expect(lineForm('Bad directive or wrong number of arguments')).toBe('plain');
  });

  it('signals that may start a fix are scoped, and only scoped patterns may be promoted to unattended runs', () => {
    for (const pattern of patterns) {
      const unscoped = pattern.required_signals.filter((signal) => signal.log && !signal.log.service && !signal.log.host && Object.keys(signal.log.labels).length === 0);
      if (pattern.fix)
        expect(
          unscoped.map((signal) => signal.id),
          `${pattern.id} has a fix`,
        ).toEqual([]);
      if (pattern.promote_to_autoexec_after !== null)
        expect(
          unscoped.map((signal) => signal.id),
          `${pattern.id} may be promoted`,
        ).toEqual([]);
    }
  });
});
