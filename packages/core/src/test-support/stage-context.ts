/** A StageContext for testing one stage on its own (not exported from the package). */
import type { CatalogSnapshot, Pattern } from '../catalog/catalog-schema.js';
import type { AuditStore } from '../contracts/audit-store.js';
import type { IncidentRecord, ProposalRecord } from '../contracts/records.js';
import type { Executor } from '../contracts/executor.js';
import type { NotificationReceipt, Notifier, NotifierMessage, ProposalActions, ProposalNotice, ProposalUpdate } from '../contracts/notifier.js';
import { createMemoryAuditStore } from '../builtins/memory-audit-store.js';
import { ManualClock, toIso } from '../util/clock.js';
import { silentLogger } from '../util/logger.js';
import type { EngineCheckpoint, FishEngineEvents, StageContext } from '../pipeline/stages/context.js';
import { EngineCounters, type EngineObserver } from '../pipeline/stages/observer.js';
import { TaskTracker } from '../pipeline/stages/task-tracker.js';

export type SentItem = { type: 'propose'; notice: ProposalNotice; actions: ProposalActions } | { type: 'update'; update: ProposalUpdate } | { type: 'notify'; message: NotifierMessage };

/** A notifier that records what it was asked to send; `failing` makes every call throw. */
export function recordingNotifier(options: { failing?: boolean; withUpdate?: boolean } = {}): Notifier & { sent: SentItem[] } {
  const sent: SentItem[] = [];
  let n = 0;
  const receipt = (): NotificationReceipt => {
    if (options.failing) throw new Error('ntfy answered 502');
    return { id: `r${++n}`, channel: 'recording' };
  };
  const notifier: Notifier & { sent: SentItem[] } = {
    specificationVersion: 'v1',
    name: 'recording',
    sent,
    async propose(notice, actions) {
      sent.push({ type: 'propose', notice, actions });
      return receipt();
    },
    async notify(message) {
      sent.push({ type: 'notify', message });
      return receipt();
    },
  };
  if (options.withUpdate !== false) {
    notifier.update = async (update) => {
      sent.push({ type: 'update', update });
      return receipt();
    };
  }
  return notifier;
}

export interface TestStageContext extends StageContext {
  clock: ManualClock;
  notifier: ReturnType<typeof recordingNotifier>;
  emitted: Array<{ event: keyof FishEngineEvents; args: unknown[] }>;
  failures: unknown[];
  checkpoints: EngineCheckpoint[];
  setPatterns(patterns: Pattern[]): void;
}

export function testStageContext(
  options: { audit?: AuditStore; executor?: Executor; notifier?: ReturnType<typeof recordingNotifier>; patterns?: Pattern[]; observer?: EngineObserver } = {},
): TestStageContext {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 9, 30));
  let catalog: CatalogSnapshot = { patterns: options.patterns ?? [], scriptsDir: '/nonexistent', loadedFrom: '/nonexistent', loadedAt: clock.now(), digest: 'x' };
  const emitted: TestStageContext['emitted'] = [];
  const failures: unknown[] = [];
  const checkpoints: EngineCheckpoint[] = [];
  const executor: Executor = options.executor ?? {
    specificationVersion: 'v1',
    name: 'unused',
    async run() {
      throw new Error('no executor in this test');
    },
  };
  return {
    clock,
    audit: options.audit ?? createMemoryAuditStore(),
    notifier: options.notifier ?? recordingNotifier(),
    executor,
    logger: silentLogger,
    catalog: () => catalog,
    tasks: new TaskTracker((error) => failures.push(error)),
    counters: new EngineCounters(options.observer),
    emit: (event, ...args) => void emitted.push({ event, args }),
    fail: (error) => void failures.push(error),
    checkpoint: (step) => void checkpoints.push(step),
    now: () => toIso(clock.now()),
    emitted,
    failures,
    checkpoints,
    setPatterns(patterns) {
      catalog = { ...catalog, patterns };
    },
  };
}

/** Writes an incident and its proposal (status `proposed`, or moved to `approved`) the way routing would. */
export async function seedProposal(audit: AuditStore, at: number, fields: { id?: string; patternId?: string; dryRun?: boolean; approved?: boolean; ttlMs?: number } = {}): Promise<ProposalRecord> {
  const id = fields.id ?? 'prop_1';
  const patternId = fields.patternId ?? 'web-down';
  const iso = toIso(at);
  const incident: IncidentRecord = {
    id: `inc_${id}`,
    fingerprint: `fp_${id}`,
    host: 'penny',
    service: 'web',
    patternId,
    candidates: [patternId],
    confidence: 1,
    method: 'deterministic',
    reason: 'test',
    evidence: ['l1', 'l2', 'l3', 'l4', 'l5', 'l6'],
    eventCount: 6,
    firstSeen: iso,
    lastSeen: iso,
    createdAt: iso,
  };
  await audit.insertIncident(incident);
  const proposal: ProposalRecord = {
    id,
    incidentId: incident.id,
    patternId,
    targetHost: 'penny',
    service: 'web',
    confidence: 1,
    status: 'proposed',
    dryRun: fields.dryRun ?? false,
    autoExec: false,
    createdAt: iso,
    expiresAt: toIso(at + (fields.ttlMs ?? 600_000)),
  };
  await audit.insertProposal(proposal);
  if (!fields.approved) return proposal;
  return (await audit.transitionProposal({ id, from: 'proposed', to: 'approved', at: iso, actor: 'alice' }))!;
}
