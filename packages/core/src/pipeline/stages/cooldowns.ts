/**
 * Per-fingerprint cooldowns in memory: an incident already opened is not opened again until its
 * cooldown ends. Rebuilt from the audit trail on start (see recovery).
 */
export class Cooldowns {
  private readonly until = new Map<string, number>();

  /** Whether the fingerprint is still cooling down at `time`. */
  active(fingerprint: string, time: number): boolean {
    return (this.until.get(fingerprint) ?? Number.NEGATIVE_INFINITY) > time;
  }

  /** Starts a cooldown; an old one is replaced. */
  start(fingerprint: string, until: number, now: number): void {
    this.until.set(fingerprint, until);
    if (this.until.size > 50_000) this.sweep(now);
  }

  /** Extends a cooldown to `until` if that is later than the one known (recovery). */
  extend(fingerprint: string, until: number): void {
    if (until > (this.until.get(fingerprint) ?? Number.NEGATIVE_INFINITY)) this.until.set(fingerprint, until);
  }

  private sweep(now: number): void {
    for (const [fingerprint, until] of this.until) if (until <= now) this.until.delete(fingerprint);
  }
}
