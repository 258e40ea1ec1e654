export { sleep } from '@fish-sre/core';
/** Resolves when `wake()` is called or the signal aborts. */
export class Waiter {
  private waiting: Array<() => void> = [];
  wake(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const resolve of waiting) resolve();
  }
  wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiting.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
