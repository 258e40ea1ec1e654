import type { Logger, PluginStateStore } from '@fish-sre/core';
import { z } from 'zod';

/** What is kept across restarts: the newest timestamp emitted and the ids of the lines at it. */
const SavedPosition = z.object({ lastNs: z.string().regex(/^\d{1,25}$/), ids: z.array(z.string()).max(10_000) });

export interface LokiPosition {
  /** The saved position, or undefined (none yet, unreadable: reading then starts as configured). */
  load(): Promise<{ lastNs: bigint; ids: string[] } | undefined>;
  /** Records a processed line; the save that follows is coalesced with any in flight. */
  note(ts: bigint, id: string): void;
  /** Saves where a first start begins reading (nothing saved yet): a crash before any line was processed resumes there, not from the restart's now. */
  begin(ts: bigint): void;
  /** Resolves once everything noted so far is saved. */
  flush(): Promise<void>;
}

/**
 * Keeps the Loki source's position (last timestamp and the ids of the lines at it) in the app's
 * state store, so a restart back-fills from where it stopped instead of from now. One write at a
 * time; notes that arrive meanwhile are written by the next one.
 */
export function createLokiPosition(store: PluginStateStore | undefined, key: string, logger: Logger): LokiPosition {
  let lastNs: bigint | undefined;
  let ids: string[] = [];
  let dirty = false;
  // Set by begin(): the first processed line replaces it, even one older than the start (a late line, clock skew).
  let provisional = false;
  let writing: Promise<void> | undefined;

  const save = (): Promise<void> => {
    if (!store) return Promise.resolve();
    if (writing) return writing;
    writing = (async () => {
      while (dirty && lastNs !== undefined) {
        dirty = false;
        try {
          await store.write(key, JSON.stringify({ lastNs: lastNs.toString(), ids }));
        } catch (error) {
          logger.warn(`could not save the read position: ${(error as Error).message}`);
          break;
        }
      }
      writing = undefined;
    })();
    return writing;
  };

  return {
    async load() {
      if (!store) return undefined;
      let text: string | undefined;
      try {
        text = await store.read(key);
      } catch (error) {
        logger.warn(`could not read the saved read position: ${(error as Error).message}; starting as configured`);
        return undefined;
      }
      if (text === undefined) return undefined;
      let parsed: z.infer<typeof SavedPosition>;
      try {
        parsed = SavedPosition.parse(JSON.parse(text));
      } catch {
        logger.warn('the saved read position is not valid; starting as configured');
        return undefined;
      }
      lastNs = BigInt(parsed.lastNs);
      ids = parsed.ids;
      return { lastNs, ids: [...ids] };
    },
    note(ts, id) {
      if (lastNs === undefined || provisional || ts > lastNs) {
        provisional = false;
        lastNs = ts;
        ids = [id];
      } else if (ts === lastNs) {
        if (ids.length < 10_000) ids.push(id);
      } else return;
      dirty = true;
      void save();
    },
    begin(ts) {
      if (lastNs !== undefined) return;
      lastNs = ts;
      ids = [];
      provisional = true;
      dirty = true;
      void save();
    },
    async flush() {
      while (writing || dirty) {
        await (writing ?? save());
        if (!store) return;
      }
    },
  };
}
