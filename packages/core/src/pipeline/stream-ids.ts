/**
 * A number per host+service stream, so per-event state (windows, evidence, fingerprints) can be
 * keyed by number: building a `host\0service` key string for every event, then hashing it in
 * every map it keys, was a visible share of the hot path. Two map lookups of strings the event
 * already holds, nothing allocated once a stream is known.
 *
 * Numbers are never reused: past `limit` streams the table starts afresh and a stream seen again
 * gets a new number (its old state is left to the caps of the maps that hold it), so one number
 * never names two streams.
 */
export class StreamIds {
  private readonly byHost = new Map<string, Map<string, number>>();
  private size = 0;
  private next = 0;

  /** @param limit streams remembered before the table starts afresh. @default 100_000 */
  constructor(private readonly limit = 100_000) {}

  /** The number of the stream `host`+`service`. */
  id(host: string, service: string): number {
    let byService = this.byHost.get(host);
    if (byService === undefined) {
      if (this.size >= this.limit) this.clear();
      byService = new Map();
      this.byHost.set(host, byService);
    }
    let id = byService.get(service);
    if (id === undefined) {
      if (this.size >= this.limit) {
        this.clear();
        byService = new Map();
        this.byHost.set(host, byService);
      }
      id = this.next++;
      byService.set(service, id);
      this.size++;
    }
    return id;
  }

  /** Streams known now. */
  get streams(): number {
    return this.size;
  }

  private clear(): void {
    this.byHost.clear();
    this.size = 0;
  }
}
