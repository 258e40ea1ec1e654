import { readFileSync } from 'node:fs';
import { FishError, type ExecutionRequest } from '@fish-sre/core';

/**
 * Every item an async iterable yields, in order. A stream that yields more than `limit` items
 * fails the test instead of running it into its timeout.
 */
export async function collectStream<T>(stream: AsyncIterable<T>, limit = 10_000): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) {
    items.push(item);
    if (items.length > limit) throw new Error(`the stream did not end after ${limit} items`);
  }
  return items;
}

/**
 * The FishError `promise` rejects with, to assert on its code and message. Throws when the
 * promise resolves, or rejects with something that is not a FishError: either is the failure.
 */
export async function fishErrorOf(promise: Promise<unknown>): Promise<FishError> {
  try {
    await promise;
  } catch (error) {
    if (FishError.isInstance(error)) return error;
    throw new Error(`expected a FishError, got ${String(error)}`);
  }
  throw new Error('expected a failure, the promise resolved');
}

/** Polls `predicate` every 50 ms for at most `ms` milliseconds; resolves with its last answer. */
export async function waitFor(predicate: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return predicate();
}

/** Whether process `pid` is running. A zombie (exited, not yet reaped) still answers kill(0): it counts as dead. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat is `pid (comm) state ...`; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** A `run` request for `script` of `patternId` on `host` with a 20 s timeout; `extra` overrides any field. */
export function executionRequest(host: string, patternId: string, script: string, extra: Partial<ExecutionRequest> = {}): ExecutionRequest {
  return { host, verb: 'run', patternId, script, timeoutMs: 20_000, ...extra };
}
