/**
 * Serialises fixes per target host. The engine takes it around every execution; the default is
 * the in-process HostMutex, and a deployment with several fish instances supplies one backed by
 * a shared store, so two instances never run fixes on the same host at once.
 */
export interface HostLock {
  /** Runs `task` while holding the host's lock; waits (FIFO) while another holder has it. */
  runExclusive<T>(host: string, task: () => Promise<T>): Promise<T>;
}

/**
 * One lock per target host: two fixes never run on the same host at once, fixes on different
 * hosts run in parallel. FIFO per host.
 */
export class HostMutex implements HostLock {
  private readonly tails = new Map<string, Promise<void>>();

  async runExclusive<T>(host: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(host) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => current);
    this.tails.set(host, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(host) === tail) this.tails.delete(host);
    }
  }

  isLocked(host: string): boolean {
    return this.tails.has(host);
  }
}
