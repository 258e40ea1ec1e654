import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, type Catalog, type CatalogSnapshot, type CatalogUpdate } from '@fish-sre/core';

/** The catalog under test, and how the suite changes the pattern files it reads. */
export interface CatalogUnderTest {
  catalog: Catalog;
  /**
   * Writes (or replaces) the pattern file of `id` (`<id>.yaml`) with `text`, in the place the
   * catalog reads its own patterns from (for a layered catalog: its highest layer).
   */
  writePattern(id: string, text: string): Promise<void>;
  /** The file `origins[id].file` must name (compared by suffix: relative paths are fine). */
  patternFile(id: string): string;
}

export interface TestCatalogOptions {
  /** Shown in the describe block. */
  name: string;
  /**
   * A catalog over a place the suite may write to; it may already hold other patterns (a seed
   * layer). Give it a short watch poll interval (≤ 100 ms): the watch tests wait for changes.
   */
  create: () => Promise<CatalogUnderTest>;
  /** How long to wait for `watch` to report a change. @default 5000 */
  watchTimeoutMs?: number;
  cleanup?: () => Promise<void> | void;
}

/** A valid pattern with two comment lines, so its `id:` is on line 3. */
export function conformancePattern(id: string, title = 'Disk full (conformance pattern)'): string {
  return [
    '# A pattern written by the Catalog conformance suite.',
    '# It only diagnoses: it names no script.',
    `id: ${id}`,
    `title: ${title}`,
    'target_host: penny',
    'required_signals:',
    '  - id: enospc',
    '    log:',
    '      message: "No space left on device"',
    'diagnosis: The disk is full; free some space.',
    'samples:',
    '  match: ["write /var/lib/app/db: No space left on device"]',
    '',
  ].join('\n');
}

async function nextUpdate(pending: Promise<IteratorResult<CatalogUpdate>>, timeoutMs: number): Promise<CatalogUpdate> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`watch reported nothing within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const result = await Promise.race([pending, timeout]);
    if (result.done) throw new Error('watch ended before the signal aborted');
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The Catalog contract as a suite: `load` validates and says where each pattern came from, the
 * digest tells a change from none, a broken file is refused with its file, line and field, and
 * `watch` (when implemented) reports a change, a failure and the recovery, then ends on abort.
 */
export function testCatalog(options: TestCatalogOptions): void {
  describe(`Catalog conformance: ${options.name}`, () => {
    let subject: CatalogUnderTest;
    const timeoutMs = options.watchTimeoutMs ?? 5000;

    beforeAll(async () => {
      subject = await options.create();
      await subject.writePattern('conformance-disk-full', conformancePattern('conformance-disk-full'));
    });
    afterAll(async () => {
      await options.cleanup?.();
    });

    it('has the v1 specification version and a name', () => {
      expect(subject.catalog.specificationVersion).toBe('v1');
      expect(subject.catalog.name.length).toBeGreaterThan(0);
    });

    it('loads validated patterns (defaults applied), a digest, and the origin of every pattern', async () => {
      const snapshot = await subject.catalog.load();
      const pattern = snapshot.patterns.find((candidate) => candidate.id === 'conformance-disk-full');
      expect(pattern, 'the pattern the suite wrote').toBeDefined();
      expect(pattern!.trigger).toEqual({ count: 1, window: 300_000 });
      expect(pattern!.severity).toBe('warning');
      expect(snapshot.digest).toMatch(/^\S{8,}$/);
      for (const each of snapshot.patterns) {
        const origin = snapshot.origins?.[each.id];
        expect(origin, `origin of ${each.id}`).toBeDefined();
        expect(origin!.layer.length).toBeGreaterThan(0);
        expect(origin!.line).toBeGreaterThanOrEqual(1);
      }
      const origin = snapshot.origins!['conformance-disk-full']!;
      expect(subject.patternFile('conformance-disk-full').endsWith(origin.file.replace(/^(\.\.\/)+/, ''))).toBe(true);
      expect(origin.line).toBe(3);
      expect(new Set(snapshot.patterns.map((each) => each.id)).size).toBe(snapshot.patterns.length);
    });

    it('gives the same digest for the same files and another one after a change', async () => {
      const first = await subject.catalog.load();
      const again = await subject.catalog.load();
      expect(again.digest).toBe(first.digest);
      expect(again.patterns.map((pattern) => pattern.id)).toEqual(first.patterns.map((pattern) => pattern.id));
      await subject.writePattern('conformance-disk-full', conformancePattern('conformance-disk-full', 'Disk full, retitled'));
      const changed = await subject.catalog.load();
      expect(changed.digest).not.toBe(first.digest);
      expect(changed.patterns.find((pattern) => pattern.id === 'conformance-disk-full')!.title).toBe('Disk full, retitled');
    });

    it('refuses a broken pattern with a CATALOG_INVALID error naming the file, the line and the field', async () => {
      const broken = conformancePattern('conformance-disk-full').replace('target_host: penny', 'target_host: penny\ncooldown: 30');
      await subject.writePattern('conformance-disk-full', broken);
      try {
        const error = await subject.catalog.load().then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(FishError.hasCode(error, FishErrorCode.CATALOG_INVALID)).toBe(true);
        const message = (error as FishError).message;
        expect(message).toContain('conformance-disk-full.yaml:6');
        expect(message).toContain('field cooldown');
        const problems = (error as FishError).details['problems'] as Array<{ file: string; line?: number; path?: string }>;
        expect(problems).toEqual(expect.arrayContaining([expect.objectContaining({ line: 6, path: 'cooldown' })]));
      } finally {
        await subject.writePattern('conformance-disk-full', conformancePattern('conformance-disk-full'));
      }
    });

    it('watch (when implemented) reports the current state, a change, a failed load, the recovery, and ends on abort', async () => {
      if (!subject.catalog.watch) return;
      const abort = new AbortController();
      const iterator = subject.catalog.watch(abort.signal)[Symbol.asyncIterator]();
      try {
        // First the current state, so that nothing changed since the last load is lost.
        const current = await nextUpdate(iterator.next(), timeoutMs);
        expect(current.ok).toBe(true);
        expect((current as { snapshot: CatalogSnapshot }).snapshot.patterns.some((pattern) => pattern.id === 'conformance-disk-full')).toBe(true);
        await subject.writePattern('conformance-disk-full', conformancePattern('conformance-disk-full', 'Disk full, seen by watch'));
        const changed = await nextUpdate(iterator.next(), timeoutMs);
        expect(changed.ok).toBe(true);
        const snapshot = (changed as { snapshot: CatalogSnapshot }).snapshot;
        expect(snapshot.patterns.find((pattern) => pattern.id === 'conformance-disk-full')!.title).toBe('Disk full, seen by watch');

        await subject.writePattern('conformance-disk-full', conformancePattern('conformance-disk-full').replace('title: ', 'titel: '));
        const failed = await nextUpdate(iterator.next(), timeoutMs);
        expect(failed.ok).toBe(false);
        expect(FishError.hasCode((failed as { error: FishError }).error, FishErrorCode.CATALOG_INVALID)).toBe(true);
        expect((failed as { error: FishError }).error.message).toContain('conformance-disk-full.yaml');

        await subject.writePattern('conformance-disk-full', conformancePattern('conformance-disk-full', 'Disk full, repaired'));
        const recovered = await nextUpdate(iterator.next(), timeoutMs);
        expect(recovered.ok).toBe(true);
      } finally {
        abort.abort();
      }
      const end = await Promise.race([iterator.next(), new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), timeoutMs))]);
      expect(end).toEqual({ done: true, value: undefined });
    });
  });
}
