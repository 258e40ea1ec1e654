import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApprovalSigner,
  FishEngine,
  ManualClock,
  PatternSchema,
  createLocalExecutor,
  createMemoryAuditStore,
  type AuditStore,
  type CatalogSnapshot,
  type Notifier,
  type NotifierMessage,
  type ObservedEvent,
  type ProposalActions,
  type ProposalNotice,
  type ProposalUpdate,
} from '@fish-sre/core';

export interface RecordingNotifier extends Notifier {
  proposals: Array<{ notice: ProposalNotice; actions: ProposalActions }>;
  updates: ProposalUpdate[];
  messages: NotifierMessage[];
}

export function createRecordingNotifier(): RecordingNotifier {
  const proposals: RecordingNotifier['proposals'] = [];
  const updates: ProposalUpdate[] = [];
  const messages: NotifierMessage[] = [];
  let next = 0;
  return {
    specificationVersion: 'v1',
    name: 'recording',
    proposals,
    updates,
    messages,
    async propose(notice, actions) {
      proposals.push({ notice, actions });
      return { id: `n${++next}`, channel: 'recording' };
    },
    async update(update) {
      updates.push(update);
      return { id: `n${++next}`, channel: 'recording' };
    },
    async notify(message) {
      messages.push(message);
      return { id: `n${++next}`, channel: 'recording' };
    },
  };
}

/** A one-pattern catalog whose fix appends to a counter file, so tests can count real runs. */
export async function createFixture(options: { fixExit?: number; fixSleepSeconds?: number; audit?: (root: string) => AuditStore } = {}) {
  const root = await mkdtemp(join(tmpdir(), 'fish-app-'));
  const scriptsDir = join(root, 'scripts');
  const sandboxDir = join(root, 'sandbox');
  await mkdir(scriptsDir);
  await mkdir(sandboxDir);
  await writeFile(
    join(scriptsDir, 'restart-web.sh'),
    `#!/bin/sh\necho "$1" >> runs.log\n${options.fixSleepSeconds ? `sleep ${options.fixSleepSeconds}\n` : ''}echo restarted\nexit ${options.fixExit ?? 0}\n`,
  );
  await writeFile(join(scriptsDir, 'check-web.sh'), '#!/bin/sh\necho verified\n');
  await chmod(join(scriptsDir, 'restart-web.sh'), 0o755);
  await chmod(join(scriptsDir, 'check-web.sh'), 0o755);
  const pattern = PatternSchema.parse({
    id: 'web-down',
    title: 'Web server down',
    required_signals: [{ id: 'refused', log: { message: 'connect ECONNREFUSED' } }],
    target_host: 'penny',
    fix: { script: 'restart-web.sh', timeout: '10s' },
    verify: { script: 'check-web.sh', timeout: '10s' },
    samples: { match: ['connect ECONNREFUSED 10.0.0.1:80'] },
  });
  const catalog: CatalogSnapshot = { patterns: [pattern], scriptsDir, loadedFrom: root, loadedAt: 0, digest: 'x' };
  const clock = new ManualClock(Date.UTC(2026, 3, 20, 5, 0, 0));
  const audit = options.audit?.(root) ?? createMemoryAuditStore();
  const notifier = createRecordingNotifier();
  const signer = new ApprovalSigner(ApprovalSigner.generateSecret());
  const engine = new FishEngine({
    catalog: () => catalog,
    sources: [],
    audit,
    notifier,
    executor: createLocalExecutor({ scriptsDir, sandboxDir, hosts: ['penny'] }),
    signer,
    publicUrl: 'https://fish.example.test',
    clock,
  });
  const event = (index: number, message = 'connect ECONNREFUSED 10.0.0.1:80'): ObservedEvent => ({
    id: `e${index}`,
    kind: 'log',
    source: 'test',
    time: clock.now(),
    host: 'penny',
    service: 'web',
    level: 'error',
    message,
    labels: {},
  });
  return { root, sandboxDir, catalog, clock, audit, notifier, signer, engine, event };
}
