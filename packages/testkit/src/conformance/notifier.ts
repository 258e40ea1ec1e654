import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FishError, FishErrorCode, type Notifier, type ProposalActions, type ProposalNotice } from '@fish-sre/core';

/** One notification as the human's device would get it. */
export interface DeliveredNotification {
  title: string;
  body: string;
  /** Every URL the notification carries (buttons, click target). */
  urls: string[];
  /** The whole delivered payload as text, to check what must never be in it. */
  raw: string;
}

export interface TestNotifierOptions {
  /** Shown in the describe block. */
  name: string;
  createNotifier: () => Notifier | Promise<Notifier>;
  /** Everything the channel delivered so far, oldest first. */
  inbox: () => Promise<DeliveredNotification[]>;
  /** A notifier whose channel refuses or cannot be reached; its errors must be FishErrors. */
  createFailingNotifier?: () => Notifier | Promise<Notifier>;
  /** Called once after the suite. */
  cleanup?: () => Promise<void> | void;
}

const SECRETS = ['hunter2hunter2', 'abcdef0123456789abcdef', 'sk-ant-api03-SECRETSECRETSECRET', 'tk_AbCdEfGhIjKlMnOpQrStUvWxYz123'];

let counter = 0;
export function sampleNotice(overrides: Partial<ProposalNotice> = {}): ProposalNotice {
  counter += 1;
  return {
    proposalId: `prop-${Date.now().toString(36)}-${counter}`,
    incidentId: `inc-${counter}`,
    patternId: 'docker-compose-stopped-post-reboot',
    title: 'Docker compose stack stopped after reboot',
    host: 'penny',
    service: 'homepage',
    confidence: 1,
    summary: 'The **homepage** stack is down since the reboot.\n\nThe fix runs `docker compose up -d`; verify checks the container is healthy.',
    evidence: ['homepage exited with code 0', 'container homepage is not running'],
    createdAt: '2026-01-15T10:00:00.000Z',
    expiresAt: '2026-01-15T11:00:00.000Z',
    dryRun: false,
    ...overrides,
  };
}

export function sampleActions(proposalId: string): ProposalActions {
  const token = 'v1.eyJwIjoicHJvcC0xIn0.c2lnbmF0dXJl-_~';
  return {
    approveUrl: `https://fish.example.ts.net/approve/${proposalId}?t=${token}&d=approve`,
    denyUrl: `https://fish.example.ts.net/deny/${proposalId}?t=${token}&d=deny`,
    viewUrl: `https://fish.example.ts.net/proposals/${proposalId}`,
  };
}

/**
 * The Notifier contract as a suite, run against a real (or protocol-faithful) channel: what
 * `propose`, `update` and `notify` deliver is read back through `inbox`.
 */
export function testNotifier(options: TestNotifierOptions): void {
  describe(`Notifier conformance: ${options.name}`, () => {
    let notifier: Notifier;

    beforeAll(async () => {
      notifier = await options.createNotifier();
    });
    afterAll(async () => {
      await notifier?.close?.();
      await options.cleanup?.();
    });

    async function delivered(predicate: (notification: DeliveredNotification) => boolean): Promise<DeliveredNotification[]> {
      return (await options.inbox()).filter(predicate);
    }

    it('has the v1 specification version and a name', () => {
      expect(notifier.specificationVersion).toBe('v1');
      expect(notifier.name.length).toBeGreaterThan(0);
    });

    it('propose delivers the approve, deny and view URLs unchanged and returns a receipt', async () => {
      const notice = sampleNotice();
      const actions = sampleActions(notice.proposalId);
      const receipt = await notifier.propose(notice, actions);
      expect(typeof receipt.id).toBe('string');
      expect(receipt.id.length).toBeGreaterThan(0);
      expect(receipt.channel.length).toBeGreaterThan(0);
      const [notification] = await delivered((candidate) => candidate.urls.includes(actions.approveUrl));
      expect(notification).toBeDefined();
      expect(notification?.urls).toEqual(expect.arrayContaining([actions.approveUrl, actions.denyUrl, actions.viewUrl]));
      expect(`${notification?.title}\n${notification?.body}`).toContain(notice.host);
    });

    it('propose keeps emoji and accents in the title intact', async () => {
      const notice = sampleNotice({ title: 'Redémarrage du conteneur 🐟 « homepage » ⚠️' });
      const actions = sampleActions(notice.proposalId);
      await notifier.propose(notice, actions);
      const [notification] = await delivered((candidate) => candidate.urls.includes(actions.approveUrl));
      expect(notification?.title).toContain('Redémarrage du conteneur 🐟 « homepage » ⚠️');
    });

    it('propose marks a dry run', async () => {
      const notice = sampleNotice({ dryRun: true });
      const actions = sampleActions(notice.proposalId);
      await notifier.propose(notice, actions);
      const [notification] = await delivered((candidate) => candidate.urls.includes(actions.approveUrl));
      expect(`${notification?.title}\n${notification?.body}`).toMatch(/dry[ -]run/i);
    });

    it('secrets in the input are not delivered', async () => {
      const notice = sampleNotice({
        title: `Leak check password=${SECRETS[0]}`,
        summary: `Config has password=${SECRETS[0]} and Authorization: Bearer ${SECRETS[1]}`,
        evidence: [`key ${SECRETS[2]}`, `token ${SECRETS[3]}`],
      });
      const actions = sampleActions(notice.proposalId);
      await notifier.propose(notice, actions);
      await notifier.notify({ kind: 'escalation', title: 'Escalation', body: `api_key=${SECRETS[0]} Bearer ${SECRETS[1]}`, priority: 'high' });
      const all = await options.inbox();
      expect(all.some((candidate) => candidate.urls.includes(actions.approveUrl))).toBe(true);
      for (const notification of all) for (const secret of SECRETS) expect(notification.raw).not.toContain(secret);
    });

    it('a very long body is still delivered, shortened, with its links', async () => {
      const notice = sampleNotice({
        summary: `${'Résumé très long 🐟 '.repeat(2000)}END-OF-SUMMARY`,
        evidence: Array.from({ length: 200 }, (_, index) => `line ${index}: ${'é'.repeat(300)}`),
      });
      const actions = sampleActions(notice.proposalId);
      await notifier.propose(notice, actions);
      const [notification] = await delivered((candidate) => candidate.urls.includes(actions.approveUrl));
      expect(notification).toBeDefined();
      expect(notification?.body).toContain('Résumé très long 🐟');
      expect(notification?.urls).toEqual(expect.arrayContaining([actions.denyUrl, actions.viewUrl]));
      const message = await notifier.notify({ kind: 'unknown-incident', title: 'UNKNOWN on penny', body: 'x'.repeat(50_000), priority: 'low' });
      expect(message.id.length).toBeGreaterThan(0);
    });

    it('update delivers the new status (when the notifier implements update)', async () => {
      const notice = sampleNotice();
      const actions = sampleActions(notice.proposalId);
      const receipt = await notifier.propose(notice, actions);
      if (notifier.update === undefined) return;
      await notifier.update({ proposalId: notice.proposalId, status: 'succeeded', detail: 'homepage is back: verify passed (3 s)', actor: 'link:owner', receipt });
      const all = await options.inbox();
      expect(all.some((candidate) => candidate.body.includes('homepage is back: verify passed (3 s)'))).toBe(true);
      await notifier.update({ proposalId: notice.proposalId, status: 'denied', detail: `denied; password=${SECRETS[0]}`, receipt });
      const after = await options.inbox();
      expect(after.some((candidate) => candidate.body.includes('denied;'))).toBe(true);
      for (const notification of after) expect(notification.raw).not.toContain(SECRETS[0]);
    });

    it('notify delivers escalations, UNKNOWN bundles and budget warnings', async () => {
      const kinds = ['escalation', 'unknown-incident', 'budget', 'info'] as const;
      for (const kind of kinds) {
        const receipt = await notifier.notify({
          kind,
          title: `${kind} title ✓`,
          body: `${kind} body`,
          priority: kind === 'escalation' ? 'urgent' : 'default',
          tags: ['test'],
          url: 'https://fish.example.ts.net/x',
        });
        expect(receipt.id.length).toBeGreaterThan(0);
      }
      const all = await options.inbox();
      for (const kind of kinds) {
        expect(all.some((candidate) => candidate.title.includes(`${kind} title ✓`) && candidate.body.includes(`${kind} body`))).toBe(true);
      }
    });

    it('errors are FishErrors with NOTIFIER_FAILED', async () => {
      if (options.createFailingNotifier === undefined) return;
      const failing = await options.createFailingNotifier();
      const notice = sampleNotice();
      const error = await failing.propose(notice, sampleActions(notice.proposalId)).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(FishError.hasCode(error, FishErrorCode.NOTIFIER_FAILED)).toBe(true);
      const notifyError = await failing.notify({ kind: 'info', title: 't', body: 'b', priority: 'low' }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(FishError.hasCode(notifyError, FishErrorCode.NOTIFIER_FAILED)).toBe(true);
      await failing.close?.();
    });
  });
}
