import { describe, expect, it } from 'vitest';
import { HostMutex } from './host-mutex.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('HostMutex', () => {
  it('serialises tasks on the same host in FIFO order', async () => {
    const mutex = new HostMutex();
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const runs = gates.map((gate, index) =>
      mutex.runExclusive('penny', async () => {
        log.push(`start ${index}`);
        await gate.promise;
        log.push(`end ${index}`);
        return index;
      }),
    );
    await tick();
    expect(log).toEqual(['start 0']);
    expect(mutex.isLocked('penny')).toBe(true);
    gates[2]!.resolve(); // finishing out of order changes nothing: 2 has not started
    gates[1]!.resolve();
    await tick();
    expect(log).toEqual(['start 0']);
    gates[0]!.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(mutex.isLocked('penny')).toBe(false);
  });

  it('runs tasks on different hosts in parallel', async () => {
    const mutex = new HostMutex();
    const gate = deferred();
    const started: string[] = [];
    const a = mutex.runExclusive('penny', async () => {
      started.push('penny');
      await gate.promise;
    });
    const b = mutex.runExclusive('leonard', async () => {
      started.push('leonard');
      await gate.promise;
    });
    await tick();
    expect(started.sort()).toEqual(['leonard', 'penny']);
    gate.resolve();
    await Promise.all([a, b]);
  });

  it('releases the lock when the task throws', async () => {
    const mutex = new HostMutex();
    await expect(
      mutex.runExclusive('penny', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(mutex.isLocked('penny')).toBe(false);
    const queued = mutex.runExclusive('penny', async () => {
      throw new Error('again');
    });
    const after = mutex.runExclusive('penny', async () => 'ran');
    await expect(queued).rejects.toThrow('again');
    expect(await after).toBe('ran');
  });
});
