import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditStore } from '../contracts/audit-store.js';
import type { ExecutionResult, ExecutionVerb, Executor } from '../contracts/executor.js';
import type { EventLevel, ObservedEvent } from '../contracts/observed-event.js';
import type { NotifierMessage, Notifier, ProposalUpdateStatus } from '../contracts/notifier.js';
import type { ExecutionRecord, ExecutionStatus, ExecutionStep, IncidentRecord, ProposalRecord } from '../contracts/records.js';
import type { Source } from '../contracts/source.js';
import type { LLMProvider } from '../contracts/llm-provider.js';
import type { BudgetGuard } from './budget-guard.js';
import { draftPattern } from './pattern-draft.js';
import type { Catalog, Pattern } from '../catalog/catalog-schema.js';
import { UNKNOWN_PATTERN_ID } from '../catalog/catalog-schema.js';
import { ApprovalSigner, type Decision } from '../approval/approval-token.js';
import { FishError, FishErrorCode, describeError, errorMessage } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { systemClock, toIso } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { redactSecrets } from '../util/redact.js';
import { Classifier, type Candidate, type Classification } from './classifier.js';
import { EventBus } from './event-bus.js';
import { incidentFingerprint } from './fingerprint.js';
import { HostMutex } from './host-mutex.js';
import { LruDedup } from './lru-dedup.js';
import { Matcher } from './matcher.js';
import { KeyedRateLimiter } from './rate-limiter.js';
import { SlidingWindowCounter, SustainedCondition } from './sliding-window.js';

const LEVEL_RANK: Record<EventLevel, number> = { debug: 0, unknown: 1, info: 1, warn: 2, error: 3, critical: 4 };
const METRIC_COMPARE: Record<string, (value: number, threshold: number) => boolean> = {
  '>': (a, b) => a > b, '>=': (a, b) => a >= b, '<': (a, b) => a < b, '<=': (a, b) => a <= b, '==': (a, b) => a === b, '!=': (a, b) => a !== b,
};
const EVIDENCE_LINES = 20;
/** Event-supplied target placeholder: the event's host, looked up among configured targets. */
export const EVENT_HOST_TARGET = '$event_host';

export interface FishEngineOptions {
  /** The current catalog; called for every event, so a reload takes effect at once. */
  catalog: () => Catalog;
  sources: Source[];
  audit: AuditStore;
  notifier: Notifier;
  executor: Executor;
  /** Signs the Approve/Deny links. */
  signer: ApprovalSigner;
  /** Base URL of the approval endpoint as the phone reaches it, e.g. `https://fish.example.ts.net`. */
  publicUrl: string;
  classifier?: Classifier;
  /** Host names fixes may run on (the executor's targets). @default executor.hosts() */
  targets?: string[];
  /** Everything but the remote call. @default false */
  dryRun?: boolean;
  /** Allow patterns that earned it to run without a human decision. @default false */
  autoExec?: boolean;
  /** How long a proposal can be approved. @default 1 hour */
  proposalTtlMs?: number;
  busCapacity?: number;
  dedupCapacity?: number;
  rateLimit?: { burst: number; perMinute: number };
  /** Novel incidents: severe events no pattern matches, `count` within `windowMs` per host+service. */
  unknown?: { minLevel?: EventLevel; count?: number; windowMs?: number; cooldownMs?: number; incidentsDir?: string };
  /** With an LLM: write an LLM-drafted pattern YAML beside each UNKNOWN bundle, for review. */
  draftPatterns?: { llm: LLMProvider; budget?: BudgetGuard };
  clock?: Clock;
  logger?: Logger;
  /**
   * Called at each durable step of the loop, right after its audit row is written. Used for
   * tracing and by the crash-test harness, which kills the process at each of them.
   */
  checkpoint?: (step: EngineCheckpoint) => void;
  /** On stop, how long a running fix may finish before it is cancelled. @default 60000 */
  stopGraceMs?: number;
  /**
   * Events older than this (by their own timestamp, against the clock) are counted as `stale`
   * and never open an incident: a replayed or late log line is not evidence of a problem now.
   * @default undefined (no limit: replays and tests drive their own time)
   */
  maxEvidenceAgeMs?: number;
}

/** The durable steps of the loop, in order. */
export type EngineCheckpoint =
  | 'proposal-written'
  | 'notification-sent'
  | 'decision-recorded'
  | 'execution-written'
  | 'remote-call-started'
  | 'remote-call-finished';

export type DecisionOutcome =
  | { ok: true; status: 'approved' | 'denied'; httpStatus: 200; message: string; proposal: ProposalRecord }
  | { ok: false; status: 'invalid' | 'expired' | 'not-found' | 'already-decided' | 'wrong-decision'; httpStatus: 400 | 403 | 404 | 409 | 410; message: string; proposal?: ProposalRecord };

export interface FishEngineStats {
  events: number;
  /** Events older than maxEvidenceAgeMs: counted, never acted on. */
  stale: number;
  duplicates: number;
  matched: number;
  incidents: number;
  unknownIncidents: number;
  suppressedByCooldown: number;
  rateLimited: number;
  proposals: number;
  executions: number;
  llmCalls: number;
  bus: ReturnType<EventBus['stats']>;
  errors: number;
}

interface WindowState {
  evidence: string[];
  signals: Map<string, number>;
}

/** Events emitted for UIs (terminal, approval page): each after its audit row is written. */
export interface FishEngineEvents {
  incident: [IncidentRecord];
  proposal: [ProposalRecord, { approveUrl: string; denyUrl: string; viewUrl: string }];
  decision: [ProposalRecord];
  execution: [ExecutionRecord];
  escalation: [NotifierMessage];
  error: [Error];
}

/**
 * fish's loop: sources -> bounded bus -> dedup -> trigger windows -> incident -> rate limit ->
 * classify -> proposal (audit) -> notification with signed links -> decision (audit, once) ->
 * per-host lock -> fix -> verify -> rollback or escalate (audit at every step).
 *
 * The synchronous part (`ingest`) is allocation-light and never awaits: it is the hot path. The
 * asynchronous part runs per incident and is tracked, so `stop()` waits for it.
 */
export class FishEngine extends EventEmitter<FishEngineEvents> {
  private currentBus: EventBus;
  /** Set by stop(): the bus is closed then, and the next start() needs a fresh one. */
  private busClosed = false;
  private readonly dedup: LruDedup;
  private readonly windows = new SlidingWindowCounter();
  private readonly windowState = new Map<string, WindowState>();
  private readonly sustained = new SustainedCondition();
  private readonly unknownWindows = new SlidingWindowCounter();
  private readonly unknownEvidence = new Map<string, string[]>();
  private readonly cooldowns = new Map<string, number>();
  private readonly limiter: KeyedRateLimiter;
  private readonly mutex = new HostMutex();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** The source pumps and the bus consumer: long-lived, so not counted as work by `idle()`. */
  private readonly loops = new Set<Promise<unknown>>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly classifier: Classifier;
  private matcher: Matcher;
  private matcherCatalog: Catalog;
  private metricIndex = new Map<string, Array<{ pattern: Pattern; signalId: string; op: string; threshold: number; forMs: number }>>();
  private abort = new AbortController();
  /** Cancels running fixes: only after the stop grace period, never with the sources. */
  private executionAbort = new AbortController();
  private expiryTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** Pending while start() recovers: decisions wait for it (see decideProposal). */
  private recovering: Promise<void> | undefined;
  private readonly counters = { stale: 0, events: 0, matched: 0, incidents: 0, unknownIncidents: 0, suppressedByCooldown: 0, proposals: 0, executions: 0, errors: 0 };

  constructor(private readonly options: FishEngineOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.currentBus = new EventBus(options.busCapacity ?? 10_000);
    this.dedup = new LruDedup(options.dedupCapacity ?? 10_000);
    this.limiter = new KeyedRateLimiter(options.rateLimit ?? { burst: 3, perMinute: 1 });
    this.classifier = options.classifier ?? new Classifier({ clock: this.clock, logger: this.logger });
    this.matcherCatalog = options.catalog();
    this.matcher = new Matcher(this.matcherCatalog);
    this.indexMetrics(this.matcherCatalog);
  }

  /** The bounded queue between the sources and the pipeline (a new one after each stop/start). */
  get bus(): EventBus {
    return this.currentBus;
  }

  /** Recovers state left by a previous run, then starts pumping sources and processing events. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.busClosed) {
      // stop() closed the bus for good (a closed bus refuses every event): start with a new one.
      this.currentBus = new EventBus(this.options.busCapacity ?? 10_000);
      this.busClosed = false;
    }
    this.abort = new AbortController();
    this.executionAbort = new AbortController();
    await this.options.audit.recordSystemEvent('started', { dryRun: this.options.dryRun ?? false, patterns: this.options.catalog().patterns.length }, this.now());
    this.recovering = this.recover();
    try {
      await this.recovering;
    } finally {
      this.recovering = undefined;
    }
    for (const source of this.options.sources) this.trackLoop(this.pump(source, this.abort.signal));
    this.trackLoop(this.consume());
    this.expiryTimer = setInterval(() => void this.expireProposals().catch((error) => this.fail(error)), 15_000);
    this.expiryTimer.unref();
  }

  /** Stops the sources, drains the bus, and waits for in-flight incidents and executions. */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.bus.close();
    this.busClosed = true;
    // A fix already running is let finish (an apt upgrade cut in the middle is worse than a slow
    // stop); after the grace period it is cancelled, recorded as such, and escalated.
    const grace = new Promise<void>((resolve) => setTimeout(resolve, options.graceMs ?? this.options.stopGraceMs ?? 60_000).unref());
    await Promise.race([Promise.allSettled([...this.inFlight, ...this.loops]), grace]);
    this.executionAbort.abort();
    while (this.inFlight.size > 0 || this.loops.size > 0) await Promise.allSettled([...this.inFlight, ...this.loops]);
    await this.options.audit.recordSystemEvent('stopped', {}, this.now());
  }

  /** Waits until every incident and execution started so far has finished (tests, the demo). */
  async idle(): Promise<void> {
    while (this.bus.stats().depth > 0 || this.inFlight.size > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  stats(): FishEngineStats {
    return { ...this.counters, duplicates: this.dedup.duplicates, rateLimited: this.limiter.limited, llmCalls: this.classifier.llmCallCount, bus: this.bus.stats() };
  }

  /**
   * The hot path for one event: dedup, trigger windows, matcher. Returns the incident work it
   * started, if any. Never throws for a bad event: it is counted and skipped.
   */
  ingest(event: ObservedEvent): Promise<void> | undefined {
    this.counters.events++;
    try {
      if (!isWellFormed(event)) throw new Error('not a well-formed ObservedEvent (id, time, host, service, level, message, labels)');
      if (!this.dedup.admit(event.id)) return undefined;
      if (this.options.maxEvidenceAgeMs !== undefined && this.clock.now() - event.time > this.options.maxEvidenceAgeMs) {
        this.counters.stale++;
        return undefined;
      }
      const catalog = this.options.catalog();
      if (catalog !== this.matcherCatalog) {
        this.matcherCatalog = catalog;
        this.matcher = new Matcher(catalog);
        this.indexMetrics(catalog);
      }
      const hits = event.kind === 'metric' ? this.metricHits(event) : this.matcher.match(event);
      if (hits.length === 0) return this.observeUnmatched(event);
      this.counters.matched++;
      let fired: Candidate[] | undefined;
      for (const hit of hits) {
        const key = `${hit.pattern.id}\0${event.host}\0${event.service}`;
        const windowMs = hit.pattern.trigger.window;
        const count = this.windows.add(key, event.time, windowMs);
        let state = this.windowState.get(key);
        if (!state) {
          state = { evidence: [], signals: new Map() };
          this.windowState.set(key, state);
        }
        pushBounded(state.evidence, this.evidenceLine(event));
        // Evidence is what is in the window now: lines of events that slid out are dropped.
        if (state.evidence.length > count) state.evidence.splice(0, state.evidence.length - count);
        for (const signalId of hit.signalIds) state.signals.set(signalId, event.time);
        if (count >= hit.pattern.trigger.count) {
          const signalIds = [...state.signals].filter(([, at]) => at > event.time - windowMs).map(([id]) => id);
          const confidence = signalIds.length / hit.pattern.required_signals.length;
          (fired ??= []).push({ pattern: hit.pattern, confidence, signalIds });
        }
      }
      if (!fired) return undefined;
      const fingerprint = incidentFingerprint(fired.map((candidate) => candidate.pattern.id), event.host, event.service);
      if ((this.cooldowns.get(fingerprint) ?? Number.NEGATIVE_INFINITY) > event.time) {
        this.counters.suppressedByCooldown++;
        return undefined;
      }
      if (!this.limiter.tryTake(`${event.host}\0${event.service}`, event.time)) return undefined;
      const cooldown = Math.max(...fired.map((candidate) => candidate.pattern.cooldown));
      this.cooldowns.set(fingerprint, event.time + cooldown);
      if (this.cooldowns.size > 50_000) this.sweepCooldowns(event.time);
      const evidence = fired.flatMap((candidate) => this.windowState.get(`${candidate.pattern.id}\0${event.host}\0${event.service}`)?.evidence ?? []);
      this.counters.incidents++;
      return this.track(this.handleIncident({ fingerprint, host: event.host, service: event.service, candidates: fired, evidence: [...new Set(evidence)].slice(-EVIDENCE_LINES), firstSeen: event.time }));
    } catch (error) {
      this.fail(new FishError({ code: FishErrorCode.EVENT_INVALID, message: errorMessage('pipeline', `event ${safeId(event)} could not be processed: ${describeError(error)}`), cause: error }));
      return undefined;
    }
  }

  /**
   * Records a human decision carried by a signed token. Checks the token before anything else;
   * answers replays, forgeries, expiry and decisions already taken clearly, changing nothing.
   */
  async decide(token: string, decision: Decision, actor: string): Promise<DecisionOutcome> {
    const check = this.options.signer.verify(token, decision, this.clock.now());
    if (!check.ok) {
      if (check.reason === 'expired' && check.claims) {
        const proposal = await this.options.audit.getProposal(check.claims.proposalId);
        if (proposal && proposal.status !== 'proposed') return this.alreadyDecided(proposal);
        // An old link expires only itself: the proposal expires on its own clock, not because a
        // stale (or short-lived terminal) token was presented.
        if (proposal && this.clock.now() >= Date.parse(proposal.expiresAt)) await this.expire(proposal);
        return { ok: false, status: 'expired', httpStatus: 410, message: check.message, ...(proposal ? { proposal } : {}) };
      }
      if (check.reason === 'wrong-decision') return { ok: false, status: 'wrong-decision', httpStatus: 400, message: check.message };
      return { ok: false, status: 'invalid', httpStatus: check.reason === 'bad-signature' ? 403 : 400, message: check.message };
    }
    return this.decideProposal(check.claims.proposalId, decision, actor, check.claims.jti);
  }

  /** A decision from a trusted local channel (the terminal: `fish-sre approve <id>`). */
  async decideProposal(proposalId: string, decision: Decision, actor: string, tokenId?: string): Promise<DecisionOutcome> {
    // The approval endpoint may already listen while start() recovers: an execution started now
    // would be found by recovery's scan and taken for one a crash interrupted.
    if (this.recovering) await this.recovering.catch(() => undefined);
    const proposal = await this.options.audit.getProposal(proposalId);
    if (!proposal) return { ok: false, status: 'not-found', httpStatus: 404, message: `no proposal ${proposalId}` };
    if (proposal.status !== 'proposed') return this.alreadyDecided(proposal);
    if (this.clock.now() >= Date.parse(proposal.expiresAt)) {
      await this.expire(proposal);
      return { ok: false, status: 'expired', httpStatus: 410, message: `proposal ${proposalId} expired at ${proposal.expiresAt}`, proposal };
    }
    const to = decision === 'approve' ? 'approved' : 'denied';
    const updated = await this.options.audit.transitionProposal({ id: proposalId, from: 'proposed', to, at: this.now(), actor, ...(tokenId ? { tokenId } : {}) });
    if (!updated) {
      const current = await this.options.audit.getProposal(proposalId);
      return this.alreadyDecided(current ?? proposal);
    }
    this.emit('decision', updated);
    this.track(this.sendUpdate(updated, to, to === 'approved' ? `Approved by ${actor}; running ${updated.patternId} on ${updated.targetHost}` : `Denied by ${actor}; nothing will run`, actor));
    this.options.checkpoint?.('decision-recorded');
    if (to === 'approved') this.track(this.execute(updated));
    return { ok: true, status: to, httpStatus: 200, message: to === 'approved' ? `approved: the fix runs on ${updated.targetHost} now` : 'denied: nothing will run', proposal: updated };
  }

  // ---------------------------------------------------------------- internals

  private alreadyDecided(proposal: ProposalRecord): DecisionOutcome {
    const at = proposal.decidedAt ? new Date(proposal.decidedAt).toISOString().slice(11, 16) : undefined;
    const message =
      proposal.status === 'expired'
        ? `this proposal expired at ${proposal.expiresAt}; nothing was run`
        : `already ${proposal.status}${at ? ` at ${at} UTC` : ''}${proposal.decidedBy ? ` by ${proposal.decidedBy}` : ''}`;
    return { ok: false, status: proposal.status === 'expired' ? 'expired' : 'already-decided', httpStatus: proposal.status === 'expired' ? 410 : 409, message, proposal };
  }

  private async pump(source: Source, signal: AbortSignal): Promise<void> {
    // A source that throws is restarted with backoff: one broken source never stops the loop.
    let delay = 1000;
    while (!signal.aborted) {
      try {
        for await (const event of source.events(signal)) {
          if (!(await this.bus.put(event))) return;
          delay = 1000;
        }
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.fail(new FishError({ code: FishErrorCode.SOURCE_UNREACHABLE, message: errorMessage(source.name, `source failed, restarting in ${delay} ms: ${describeError(error)}`), cause: error, isRetryable: true }));
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        delay = Math.min(delay * 2, 60_000);
      }
    }
  }

  private async consume(): Promise<void> {
    for await (const event of this.bus) this.ingest(event);
  }

  private trackLoop(promise: Promise<void>): void {
    const tracked = promise.catch((error) => this.fail(error));
    this.loops.add(tracked);
    void tracked.finally(() => this.loops.delete(tracked));
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    const tracked = promise.catch((error) => {
      this.fail(error);
      return undefined as T;
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    return tracked;
  }

  private fail(error: unknown): void {
    this.counters.errors++;
    this.logger.error(describeError(error));
    if (this.listenerCount('error') > 0) this.emit('error', error instanceof Error ? error : new Error(String(error)));
  }

  private now(): string {
    return toIso(this.clock.now());
  }

  private evidenceLine(event: ObservedEvent): string {
    const text = event.kind === 'metric' && event.metric ? `${event.metric.name} = ${event.metric.value}` : event.message;
    // Redact the whole line first: cutting first could leave part of a secret that the redactor no longer recognises.
    return redactSecrets(`${toIso(event.time)} ${event.host}/${event.service} [${event.level}] ${text.slice(0, 16_384)}`).slice(0, 1000);
  }

  private indexMetrics(catalog: Catalog): void {
    this.metricIndex = new Map();
    for (const pattern of catalog.patterns) {
      for (const signal of pattern.required_signals) {
        if (!signal.metric) continue;
        const list = this.metricIndex.get(signal.metric.query) ?? [];
        list.push({ pattern, signalId: signal.id, op: signal.metric.op, threshold: signal.metric.threshold, forMs: signal.metric.for });
        this.metricIndex.set(signal.metric.query, list);
      }
    }
  }

  /** Metric signals: threshold, held for `for` (a lower value resets it, like a Prometheus rule). */
  private metricHits(event: ObservedEvent) {
    const entries = event.metric ? this.metricIndex.get(event.metric.name) : undefined;
    if (!entries) return [];
    const series = Object.entries(event.labels).sort().map(([name, value]) => `${name}=${value}`).join(',');
    const hits = new Map<Pattern, string[]>();
    for (const entry of entries) {
      const holds = METRIC_COMPARE[entry.op]!(event.metric!.value, entry.threshold);
      if (this.sustained.observe(`${entry.pattern.id}\0${entry.signalId}\0${series}`, holds, event.time, entry.forMs)) {
        hits.set(entry.pattern, [...(hits.get(entry.pattern) ?? []), entry.signalId]);
      }
    }
    return [...hits].map(([pattern, signalIds]) => ({ pattern, signalIds }));
  }

  private observeUnmatched(event: ObservedEvent): Promise<void> | undefined {
    const unknown = this.options.unknown ?? {};
    if (LEVEL_RANK[event.level] < LEVEL_RANK[unknown.minLevel ?? 'error']) return undefined;
    const key = `${event.host}\0${event.service}`;
    const windowMs = unknown.windowMs ?? 300_000;
    const count = this.unknownWindows.add(key, event.time, windowMs);
    const evidence = this.unknownEvidence.get(key) ?? [];
    pushBounded(evidence, this.evidenceLine(event));
    if (evidence.length > count) evidence.splice(0, evidence.length - count);
    this.unknownEvidence.set(key, evidence);
    if (this.unknownEvidence.size > 10_000) this.unknownEvidence.delete(this.unknownEvidence.keys().next().value as string);
    if (count < (unknown.count ?? 3)) return undefined;
    const fingerprint = incidentFingerprint([UNKNOWN_PATTERN_ID], event.host, event.service);
    if ((this.cooldowns.get(fingerprint) ?? Number.NEGATIVE_INFINITY) > event.time) {
      this.counters.suppressedByCooldown++;
      return undefined;
    }
    if (!this.limiter.tryTake(key, event.time)) return undefined;
    this.cooldowns.set(fingerprint, event.time + (unknown.cooldownMs ?? 3_600_000));
    this.counters.incidents++;
    this.unknownEvidence.delete(key);
    return this.track(this.handleIncident({ fingerprint, host: event.host, service: event.service, candidates: [], evidence: [...evidence], firstSeen: event.time }));
  }

  private sweepCooldowns(now: number): void {
    for (const [fingerprint, until] of this.cooldowns) if (until <= now) this.cooldowns.delete(fingerprint);
  }

  private async handleIncident(context: { fingerprint: string; host: string; service: string; candidates: Candidate[]; evidence: string[]; firstSeen: number }): Promise<void> {
    const catalog = this.options.catalog();
    const classification: Classification = await this.classifier.classify(
      { fingerprint: context.fingerprint, host: context.host, service: context.service, candidates: context.candidates, evidence: context.evidence, catalog: catalog.patterns },
      this.abort.signal,
    );
    const incident: IncidentRecord = {
      id: `inc_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      fingerprint: context.fingerprint,
      host: context.host,
      service: context.service,
      patternId: classification.patternId,
      candidates: context.candidates.map((candidate) => candidate.pattern.id),
      confidence: classification.confidence,
      method: classification.method,
      reason: redactSecrets(classification.reason),
      evidence: context.evidence,
      eventCount: context.evidence.length,
      firstSeen: toIso(context.firstSeen),
      lastSeen: this.now(),
      createdAt: this.now(),
    };
    await this.options.audit.insertIncident(incident);
    this.emit('incident', incident);
    const pattern = catalog.patterns.find((candidate) => candidate.id === classification.patternId);
    if (!pattern) return this.handleUnknown(incident, classification);
    if (!pattern.fix) {
      return this.escalate({
        kind: 'escalation',
        title: `${pattern.title} on ${incident.host}`,
        body: `**${pattern.title}** (${pattern.id}) on ${incident.host}/${incident.service}. No safe automatic fix exists.\n\n${pattern.diagnosis ?? ''}\n\nEvidence:\n${codeBlock(incident.evidence.slice(-5))}`,
        priority: pattern.severity === 'critical' ? 'urgent' : 'high',
        tags: ['warning', pattern.id],
      }, { incidentId: incident.id });
    }
    const targetHost = this.resolveTarget(pattern, incident.host);
    if (!targetHost) {
      return this.escalate({
        kind: 'escalation',
        title: `${pattern.title} on ${incident.host}: no fix target`,
        body: `Pattern ${pattern.id} matched on ${incident.host}, but its target "${pattern.target_host}" is not a configured executor target, so nothing can be proposed. Add the host to the executor's targets.`,
        priority: 'high',
        tags: ['warning'],
      }, { incidentId: incident.id });
    }
    const successes = pattern.promote_to_autoexec_after === null ? 0 : await this.countSuccesses(pattern.id);
    const autoExec = (this.options.autoExec ?? false) && pattern.promote_to_autoexec_after !== null && successes >= pattern.promote_to_autoexec_after;
    const createdAt = this.clock.now();
    const proposal: ProposalRecord = {
      id: `prop_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      incidentId: incident.id,
      patternId: pattern.id,
      targetHost,
      service: incident.service,
      confidence: classification.confidence,
      status: 'proposed',
      dryRun: this.options.dryRun ?? false,
      autoExec,
      createdAt: toIso(createdAt),
      expiresAt: toIso(createdAt + (this.options.proposalTtlMs ?? 3_600_000)),
    };
    await this.options.audit.insertProposal(proposal);
    this.options.checkpoint?.('proposal-written');
    this.counters.proposals++;
    if (autoExec) {
      const approved = await this.options.audit.transitionProposal({ id: proposal.id, from: 'proposed', to: 'approved', at: this.now(), actor: 'auto-exec', reason: `${successes} verified successes >= ${pattern.promote_to_autoexec_after}` });
      if (approved) {
        this.emit('decision', approved);
        await this.execute(approved);
      }
      return;
    }
    await this.notifyProposal(proposal, incident, pattern);
  }

  /** Sends a proposal with its signed links; the receipt id on the proposal row records that it went out. */
  private async notifyProposal(proposal: ProposalRecord, incident: IncidentRecord, pattern: Pattern): Promise<void> {
    const targetHost = proposal.targetHost;
    const fix = pattern.fix;
    if (!fix) return;
    const links = this.links(proposal);
    this.emit('proposal', proposal, links);
    try {
      const receipt = await this.options.notifier.propose(
        {
          proposalId: proposal.id,
          incidentId: incident.id,
          patternId: pattern.id,
          title: pattern.title,
          host: targetHost,
          service: incident.service,
          confidence: proposal.confidence,
          summary: `${pattern.description.trim() || pattern.title}\n\nFix: \`${fix.script}\` on ${targetHost}${pattern.verify ? `, verified by \`${pattern.verify.script}\`` : ''}. On failure: ${pattern.on_failure}.${proposal.dryRun ? '\n\n**Dry run**: nothing will be executed.' : ''}`,
          evidence: incident.evidence.slice(-5),
          createdAt: proposal.createdAt,
          expiresAt: proposal.expiresAt,
          dryRun: proposal.dryRun,
        },
        links,
      );
      this.options.checkpoint?.('notification-sent');
      await this.options.audit.setProposalNotification(proposal.id, receipt.id);
      await this.recordNotification({ kind: 'proposal', proposalId: proposal.id, incidentId: incident.id, channel: receipt.channel, receiptId: receipt.id, title: pattern.title, ok: true });
    } catch (error) {
      await this.recordNotification({ kind: 'proposal', proposalId: proposal.id, incidentId: incident.id, channel: this.options.notifier.name, title: pattern.title, ok: false, error: describeError(error) });
      this.fail(error);
    }
  }

  private links(proposal: ProposalRecord) {
    const expires = Date.parse(proposal.expiresAt);
    const base = this.options.publicUrl.replace(/\/+$/, '');
    return {
      approveUrl: `${base}/approve/${this.options.signer.sign(proposal.id, 'approve', expires)}`,
      denyUrl: `${base}/deny/${this.options.signer.sign(proposal.id, 'deny', expires)}`,
      viewUrl: `${base}/proposals/${proposal.id}`,
    };
  }

  /** The pattern's target must be a configured target: a host named by an event is looked up, never trusted. */
  private resolveTarget(pattern: Pattern, eventHost: string): string | undefined {
    const targets = this.options.targets ?? this.options.executor.hosts?.() ?? [];
    const wanted = pattern.target_host === EVENT_HOST_TARGET ? eventHost : pattern.target_host;
    return targets.includes(wanted) ? wanted : undefined;
  }

  private async countSuccesses(patternId: string): Promise<number> {
    const executions = await this.options.audit.listExecutions({ status: 'succeeded', limit: 1000 });
    return executions.filter((execution) => execution.patternId === patternId && !execution.dryRun).length;
  }

  private async handleUnknown(incident: IncidentRecord, classification: Classification): Promise<void> {
    this.counters.unknownIncidents++;
    const bundle = {
      incident,
      classification: { method: classification.method, reason: classification.reason, llmHint: classification.llmHint ?? null },
      candidates: incident.candidates,
      evidence: incident.evidence,
      writtenAt: this.now(),
    };
    let location = 'not written (no incidents folder configured)';
    const directory = this.options.unknown?.incidentsDir;
    if (directory) {
      // The notification matters more than the bundle: a full or read-only disk (itself a likely
      // unknown incident) must not silence it.
      const path = join(directory, `${incident.id}.json`);
      try {
        await mkdir(directory, { recursive: true });
        await writeFile(path, `${JSON.stringify(bundle, null, 2)}\n`, { mode: 0o640 });
        location = path;
        if (this.options.draftPatterns) {
          try {
            const draft = await draftPattern({ ...this.options.draftPatterns, signal: this.abort.signal }, incident);
            if (draft) {
              const draftPath = join(directory, `${incident.id}.draft.yaml`);
              await writeFile(draftPath, draft.yaml, { mode: 0o640 });
              location += ` (draft pattern for review: ${draftPath}${draft.valid ? '' : ', with problems noted in it'})`;
            }
          } catch (error) {
            this.logger.warn(`no draft pattern for ${incident.id}: ${describeError(error)}`);
          }
        }
      } catch (error) {
        location = `not written (${redactSecrets(describeError(error))})`;
        this.fail(error);
      }
    }
    await this.escalate(
      {
        kind: 'unknown-incident',
        title: `UNKNOWN on ${incident.host}/${incident.service}`,
        body: `No catalog pattern explains ${incident.evidence.length} severe event(s) on ${incident.host}/${incident.service}.${classification.llmHint ? ` The LLM thinks it resembles ${classification.llmHint} (advisory only).` : ''}\n\nBundle: ${location}\n\n${codeBlock(incident.evidence.slice(-3))}`,
        priority: 'low',
        tags: ['mag'],
      },
      { incidentId: incident.id },
    );
  }

  private async escalate(message: NotifierMessage, ids: { incidentId?: string; proposalId?: string }): Promise<void> {
    this.emit('escalation', message);
    try {
      const receipt = await this.options.notifier.notify(message);
      await this.recordNotification({ kind: message.kind, ...ids, channel: receipt.channel, receiptId: receipt.id, title: message.title, ok: true });
    } catch (error) {
      await this.recordNotification({ kind: message.kind, ...ids, channel: this.options.notifier.name, title: message.title, ok: false, error: describeError(error) });
      this.fail(error);
    }
  }

  private async recordNotification(notification: { kind: string; proposalId?: string; incidentId?: string; channel: string; receiptId?: string; title: string; ok: boolean; error?: string }): Promise<void> {
    await this.options.audit.recordNotification({ id: `ntf_${randomUUID().replace(/-/g, '').slice(0, 20)}`, sentAt: this.now(), ...notification, ...(notification.error ? { error: redactSecrets(notification.error) } : {}) });
  }

  private async sendUpdate(proposal: ProposalRecord, status: ProposalUpdateStatus, detail: string, actor?: string): Promise<void> {
    try {
      const update = { proposalId: proposal.id, status, detail, ...(actor ? { actor } : {}), ...(proposal.notificationId ? { receipt: { id: proposal.notificationId, channel: this.options.notifier.name } } : {}) };
      const receipt = this.options.notifier.update
        ? await this.options.notifier.update(update)
        : await this.options.notifier.notify({ kind: 'info', title: `${proposal.patternId}: ${status}`, body: detail, priority: status === 'escalated' || status === 'interrupted' ? 'high' : 'default' });
      await this.recordNotification({ kind: 'update', proposalId: proposal.id, channel: receipt?.channel ?? this.options.notifier.name, ...(receipt ? { receiptId: receipt.id } : {}), title: `${proposal.patternId}: ${status}`, ok: true });
    } catch (error) {
      await this.recordNotification({ kind: 'update', proposalId: proposal.id, channel: this.options.notifier.name, title: `${proposal.patternId}: ${status}`, ok: false, error: describeError(error) }).catch(() => undefined);
      this.fail(error);
    }
  }

  /**
   * Runs an approved proposal exactly once: the execution row (unique per proposal) is written
   * first, each step's start is recorded before the remote call and its result after it.
   */
  private async execute(proposal: ProposalRecord): Promise<void> {
    const pattern = this.options.catalog().patterns.find((candidate) => candidate.id === proposal.patternId);
    const executionId = `exe_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    const created = this.now();
    const inserted = await this.options.audit.insertExecution({
      id: executionId, proposalId: proposal.id, patternId: proposal.patternId, targetHost: proposal.targetHost, status: 'pending', dryRun: proposal.dryRun, createdAt: created, updatedAt: created, steps: [],
    });
    if (!inserted) return; // Another path already owns this proposal's execution.
    this.options.checkpoint?.('execution-written');
    this.counters.executions++;
    if (!pattern?.fix) {
      await this.transition(executionId, ['pending'], 'interrupted', undefined, `pattern ${proposal.patternId} is no longer in the catalog (or has no fix); nothing was run`);
      await this.finishEscalated(proposal, executionId, `Pattern ${proposal.patternId} disappeared from the catalog after approval; nothing was run.`);
      return;
    }
    await this.mutex.runExclusive(proposal.targetHost, async () => {
      if (!(await this.transition(executionId, ['pending'], 'running'))) return;
      const fix = await this.step(proposal, pattern, 'run', pattern.fix!.script, pattern.fix!.timeout);
      const fixOk = fix.exitCode === 0 && !fix.timedOut;
      // Every transition below is a compare-and-set: when one does not apply, the record changed
      // under us (a peer's recovery marked it interrupted), so this run no longer owns it and
      // must not run another script.
      if (fixOk && pattern.verify) {
        if (!(await this.transition(executionId, ['running'], 'verifying', fix))) return this.lostOwnership(executionId);
        const verify = await this.step(proposal, pattern, 'verify', pattern.verify.script, pattern.verify.timeout);
        if (verify.exitCode === 0 && !verify.timedOut) {
          const done = await this.transition(executionId, ['verifying'], 'succeeded', verify, 'fix applied and verified');
          if (done) this.track(this.sendUpdate(proposal, 'succeeded', `${pattern.title}: fixed on ${proposal.targetHost} and verified${proposal.dryRun ? ' (dry run)' : ''}`));
          return;
        }
        if (!(await this.transition(executionId, ['verifying'], 'failed', verify, `verify ${describeStep(verify)}`))) return this.lostOwnership(executionId);
      } else if (fixOk) {
        const done = await this.transition(executionId, ['running'], 'succeeded', fix, 'fix applied (no verify step)');
        if (done) this.track(this.sendUpdate(proposal, 'succeeded', `${pattern.title}: fix applied on ${proposal.targetHost}`));
        return;
      } else if (!(await this.transition(executionId, ['running'], 'failed', fix, `fix ${describeStep(fix)}`))) {
        return this.lostOwnership(executionId);
      }
      if (pattern.on_failure === 'rollback' && pattern.rollback) {
        const rollback = await this.step(proposal, pattern, 'rollback', pattern.rollback.script, pattern.rollback.timeout);
        if (rollback.exitCode === 0 && !rollback.timedOut) {
          await this.transition(executionId, ['failed'], 'rolled_back', rollback, 'fix failed; rolled back');
          this.track(this.sendUpdate(proposal, 'rolled_back', `${pattern.title}: the fix failed on ${proposal.targetHost} and was rolled back`));
          return;
        }
        await this.transition(executionId, ['failed'], 'escalated', rollback, `rollback ${describeStep(rollback)}`);
        return this.finishEscalated(proposal, executionId, `${pattern.title}: the fix failed on ${proposal.targetHost} and so did the rollback. A human must look.`, false);
      }
      await this.transition(executionId, ['failed'], 'escalated', undefined, 'fix failed; escalated to a human');
      await this.finishEscalated(proposal, executionId, `${pattern.title}: the fix failed on ${proposal.targetHost}. ${pattern.diagnosis ?? 'A human must look.'}`, false);
    });
  }

  private async lostOwnership(executionId: string): Promise<void> {
    const current = await this.options.audit.getExecution(executionId);
    this.logger.warn(`execution ${executionId} changed to "${current?.status ?? 'missing'}" while it ran here; no further step is run`);
    await this.options.audit.recordSystemEvent('execution-ownership-lost', { executionId, status: current?.status ?? null }, this.now());
  }

  private async finishEscalated(proposal: ProposalRecord, executionId: string, body: string, transition = true): Promise<void> {
    if (transition) await this.transition(executionId, ['interrupted', 'failed'], 'escalated', undefined, body);
    await this.escalate({ kind: 'escalation', title: `Escalation: ${proposal.patternId} on ${proposal.targetHost}`, body, priority: 'high', tags: ['rotating_light'] }, { proposalId: proposal.id, incidentId: proposal.incidentId });
    this.track(this.sendUpdate(proposal, 'escalated', body));
  }

  private async transition(id: string, from: ExecutionStatus[], to: ExecutionStatus, step?: ExecutionStep, detail?: string): Promise<ExecutionRecord | undefined> {
    const record = await this.options.audit.transitionExecution({ id, from, to, at: this.now(), ...(step ? { appendStep: step } : {}), ...(detail ? { detail } : {}) });
    if (record) this.emit('execution', record);
    return record;
  }

  private async step(proposal: ProposalRecord, pattern: Pattern, verb: ExecutionVerb, script: string, timeoutMs: number): Promise<ExecutionStep> {
    const startedAt = this.now();
    if (proposal.dryRun) {
      return { verb, script, startedAt, exitCode: 0, signal: null, stdout: `[dry run] would run ${verb} ${pattern.id} ${script} on ${proposal.targetHost}`, stderr: '', durationMs: 0, timedOut: false, dryRun: true };
    }
    let result: ExecutionResult;
    try {
      const running = this.options.executor.run({ host: proposal.targetHost, verb, patternId: pattern.id, script, timeoutMs, signal: this.executionAbort.signal });
      this.options.checkpoint?.('remote-call-started');
      result = await running;
      this.options.checkpoint?.('remote-call-finished');
    } catch (error) {
      return { verb, script, startedAt, exitCode: null, signal: null, stdout: '', stderr: redactSecrets(describeError(error)), durationMs: 0, timedOut: false, dryRun: false };
    }
    return { verb, script, startedAt, exitCode: result.exitCode, signal: result.signal ?? null, stdout: redactSecrets(result.stdout), stderr: redactSecrets(result.stderr), durationMs: result.durationMs, timedOut: result.timedOut, dryRun: false };
  }

  private async expire(proposal: ProposalRecord): Promise<void> {
    const expired = await this.options.audit.transitionProposal({ id: proposal.id, from: 'proposed', to: 'expired', at: this.now(), actor: 'system', reason: 'approval window elapsed' });
    if (expired) this.track(this.sendUpdate(expired, 'expired', `${expired.patternId} on ${expired.targetHost}: not approved in time; nothing was run`));
  }

  async expireProposals(): Promise<number> {
    const open = await this.options.audit.listProposals({ status: 'proposed', limit: 1000 });
    let count = 0;
    for (const proposal of open) {
      if (Date.parse(proposal.expiresAt) <= this.clock.now()) {
        await this.expire(proposal);
        count++;
      }
    }
    return count;
  }

  /**
   * After a crash: an execution that was pending, running or verifying is marked `interrupted`
   * and escalated — never re-run by itself, since the fix may have half-happened. An approved
   * proposal with no execution row had nothing started, so it runs now. An open proposal whose
   * notification was never recorded is sent again (else nobody could ever approve it), and the
   * incident cooldowns are rebuilt, so a source re-reading what it already read (the file
   * source, a Loki lookback) does not propose the same incident a second time.
   */
  private async recover(): Promise<void> {
    await this.restoreCooldowns();
    // `interrupted` is never final: one found here was marked by a recovery (or an execute())
    // that itself died before escalating, so it is escalated now.
    const unfinished = await this.options.audit.listExecutions({ status: ['pending', 'running', 'verifying', 'interrupted'], limit: 1000 });
    for (const execution of unfinished) {
      if (execution.status !== 'interrupted') {
        const interrupted = await this.transition(execution.id, ['pending', 'running', 'verifying'], 'interrupted', undefined, `fish stopped during "${execution.status}"; not re-run automatically`);
        if (!interrupted) continue;
      }
      const proposal = await this.options.audit.getProposal(execution.proposalId);
      if (proposal) {
        const when = execution.status === 'interrupted' ? 'during an earlier restart' : `while it was ${execution.status}`;
        await this.finishEscalated(proposal, execution.id, `The ${execution.patternId} fix on ${execution.targetHost} was interrupted (fish stopped ${when}). It was NOT re-run: check the host and decide.`);
      }
    }
    const approved = await this.options.audit.listProposals({ status: 'approved', limit: 1000 });
    for (const proposal of approved) {
      if (!(await this.options.audit.getExecutionByProposal(proposal.id))) {
        await this.options.audit.recordSystemEvent('resume-approved', { proposalId: proposal.id }, this.now());
        this.track(this.execute(proposal));
      }
    }
    const open = await this.options.audit.listProposals({ status: 'proposed', limit: 1000 });
    for (const proposal of open) {
      if (proposal.notificationId !== undefined || Date.parse(proposal.expiresAt) <= this.clock.now()) continue;
      const incident = await this.options.audit.getIncident(proposal.incidentId);
      const pattern = this.options.catalog().patterns.find((candidate) => candidate.id === proposal.patternId);
      if (!incident || !pattern) continue;
      await this.options.audit.recordSystemEvent('resume-notification', { proposalId: proposal.id }, this.now());
      await this.notifyProposal(proposal, incident, pattern);
    }
    await this.expireProposals();
  }

  /** Cooldowns live in memory: rebuild them from the incidents in the audit trail. */
  private async restoreCooldowns(): Promise<void> {
    const patterns = new Map(this.options.catalog().patterns.map((pattern) => [pattern.id, pattern]));
    for (const incident of await this.options.audit.listIncidents({ limit: 1000 })) {
      const cooldown = incident.candidates.length === 0 ? (this.options.unknown?.cooldownMs ?? 3_600_000) : Math.max(0, ...incident.candidates.map((id) => patterns.get(id)?.cooldown ?? 0));
      const until = Date.parse(incident.firstSeen) + cooldown;
      if (until > (this.cooldowns.get(incident.fingerprint) ?? Number.NEGATIVE_INFINITY)) this.cooldowns.set(incident.fingerprint, until);
    }
  }
}

/**
 * A cheap structural check on the hot path (sources are plugins: a buggy one must not poison the
 * windows with `undefined` hosts or crash the loop). Reads each field once.
 */
function isWellFormed(event: ObservedEvent): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const { id, kind, time, host, service, level, message, labels } = event;
  return (
    typeof id === 'string' && id.length > 0 &&
    (kind === 'log' || kind === 'metric' || kind === 'alert') &&
    typeof time === 'number' && Number.isFinite(time) &&
    typeof host === 'string' && typeof service === 'string' &&
    typeof level === 'string' && level in LEVEL_RANK &&
    typeof message === 'string' &&
    typeof labels === 'object' && labels !== null
  );
}

/** The event's id for an error message, without trusting the event (a getter may throw). */
function safeId(event: unknown): string {
  try {
    const id = (event as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? JSON.stringify(redactSecrets(id.slice(0, 80))) : '(no id)';
  } catch {
    return '(unreadable id)';
  }
}

function pushBounded(list: string[], line: string): void {
  list.push(line);
  if (list.length > EVIDENCE_LINES) list.shift();
}

function codeBlock(lines: string[]): string {
  return lines.length === 0 ? '' : `\`\`\`\n${lines.join('\n').replace(/```/g, "'''")}\n\`\`\``;
}

function describeStep(step: ExecutionStep): string {
  if (step.timedOut) return `timed out after ${Math.round(step.durationMs)} ms`;
  if (step.exitCode === null) return `could not run: ${step.stderr.split('\n')[0] ?? ''}`;
  return `exited with code ${step.exitCode}`;
}
