import { describe, expect, it } from 'vitest';
import type { ObservedEvent } from '../contracts/observed-event.js';
import { EventBus } from './event-bus.js';

const event = (id: string): ObservedEvent => ({ id, kind: 'log', source: 'test', time: 0, host: 'h', service: 's', level: 'info', message: id, labels: {} });
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('EventBus', () => {
  it('delivers in FIFO order', async () => {
    const bus = new EventBus(10);
    for (const id of ['a', 'b', 'c']) expect(bus.offer(event(id))).toBe(true);
    bus.close();
    const seen: string[] = [];
    for await (const item of bus) seen.push(item.id);
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('keeps FIFO order across the ring wrapping around', () => {
    const bus = new EventBus(3);
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      bus.offer(event(`e${i}`));
      if (i % 2 === 1) {
        seen.push(bus.poll()!.id);
        seen.push(bus.poll()!.id);
      }
    }
    expect(seen).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9']);
  });

  it('offer drops and counts when full', () => {
    const bus = new EventBus(2);
    expect(bus.offer(event('a'))).toBe(true);
    expect(bus.offer(event('b'))).toBe(true);
    expect(bus.offer(event('c'))).toBe(false);
    expect(bus.stats()).toEqual({ capacity: 2, depth: 2, published: 2, dropped: 1, consumed: 0 });
    expect(bus.poll()!.id).toBe('a');
    expect(bus.offer(event('d'))).toBe(true);
    expect([bus.poll()!.id, bus.poll()!.id, bus.poll()]).toEqual(['b', 'd', undefined]);
  });

  it('put waits for room (back-pressure) and resumes when an event is consumed', async () => {
    const bus = new EventBus(1);
    await bus.put(event('a'));
    let resolved = false;
    const pending = bus.put(event('b')).then((ok) => {
      resolved = true;
      return ok;
    });
    await tick();
    expect(resolved).toBe(false);
    expect(bus.stats().depth).toBe(1);
    expect(bus.poll()!.id).toBe('a');
    expect(await pending).toBe(true);
    expect(bus.poll()!.id).toBe('b');
  });

  it('wakes waiting putters in order and keeps their order', async () => {
    const bus = new EventBus(1);
    await bus.put(event('0'));
    const puts = ['1', '2', '3'].map((id) => bus.put(event(id)));
    const seen: string[] = [];
    const consumer = (async () => {
      for await (const item of bus) {
        seen.push(item.id);
        if (seen.length === 4) break;
      }
    })();
    await Promise.all(puts);
    await consumer;
    expect(seen).toEqual(['0', '1', '2', '3']);
  });

  it('hands an event straight to a waiting consumer', async () => {
    const bus = new EventBus(2);
    const iterator = bus[Symbol.asyncIterator]();
    const next = iterator.next();
    bus.offer(event('x'));
    expect((await next).value?.id).toBe('x');
    expect(bus.stats()).toMatchObject({ published: 1, consumed: 1, depth: 0 });
  });

  it('close drains what is queued, then ends; later offers and puts are refused', async () => {
    const bus = new EventBus(4);
    bus.offer(event('a'));
    bus.offer(event('b'));
    bus.close();
    expect(bus.offer(event('c'))).toBe(false);
    expect(await bus.put(event('d'))).toBe(false);
    const seen: string[] = [];
    for await (const item of bus) seen.push(item.id);
    expect(seen).toEqual(['a', 'b']);
    expect(bus.stats()).toEqual({ capacity: 4, depth: 0, published: 2, dropped: 2, consumed: 2 });
  });

  it('close ends a consumer waiting on an empty bus and releases waiting putters', async () => {
    const bus = new EventBus(1);
    const iterator = bus[Symbol.asyncIterator]();
    const waiting = iterator.next();
    bus.close();
    expect((await waiting).done).toBe(true);
    const full = new EventBus(1);
    full.offer(event('a'));
    const blocked = full.put(event('b'));
    full.close();
    expect(await blocked).toBe(false);
    expect(full.stats().dropped).toBe(1);
  });

  it('refuses an invalid capacity', () => {
    expect(() => new EventBus(0)).toThrow(RangeError);
    expect(() => new EventBus(2.5)).toThrow(RangeError);
  });
});
