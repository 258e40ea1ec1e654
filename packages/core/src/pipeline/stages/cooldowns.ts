/**
 * Per-fingerprint cooldowns in memory: an incident already opened is not opened again until its
 * cooldown ends. Rebuilt from the audit trail on start (see recovery).
 */
export class Cooldowns {
  private readonly ends = new Map<string, number>();

  /** Whether the fingerprint is still cooling down at `time`. */
  active(fingerprint: string, time: number): boolean {
    return (this.ends.get(fingerprint) ?? Number.NEGATIVE_INFINITY) > time;
  }

  /** When the fingerprint's cooldown ends (ms); -Infinity when it has none. */
  until(fingerprint: string): number {
    return this.ends.get(fingerprint) ?? Number.NEGATIVE_INFINITY;
  }

  /** Starts a cooldown; an old one is replaced. */
  start(fingerprint: string, until: number, now: number): void {
    this.ends.set(fingerprint, until);
    if (this.ends.size > 50_000) this.sweep(now);
  }

  /** Extends a cooldown to `until` if that is later than the one known (recovery). */
  extend(fingerprint: string, until: number): void {
    if (until > (this.ends.get(fingerprint) ?? Number.NEGATIVE_INFINITY)) this.ends.set(fingerprint, until);
  }

  private sweep(now: number): void {
    for (const [fingerprint, until] of this.ends) if (until <= now) this.ends.delete(fingerprint);
  }
}
