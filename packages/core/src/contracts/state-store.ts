/**
 * Small durable state a plugin keeps across restarts, such as a source's read position. Core and
 * the plugins never touch files for it: the app supplies the store (files in its data folder),
 * tests an in-memory one.
 */
export interface PluginStateStore {
  /** The value last written under `key`, or undefined. */
  read(key: string): Promise<string | undefined>;
  /** Replaces the value under `key`; once it resolves, a crash keeps it. */
  write(key: string, value: string): Promise<void>;
}

/** A store in memory: for tests, and for a run that need not survive a restart. */
export function createMemoryStateStore(): PluginStateStore & { readonly values: Map<string, string> } {
  const values = new Map<string, string>();
  return {
    values,
    read: async (key) => values.get(key),
    write: async (key, value) => {
      values.set(key, value);
    },
  };
}
