/**
 * What was approved is what runs, and only while the approval still means something: the real
 * `fish-sre run` process, its SQLite audit file, the catalog on disk reloaded by SIGHUP, the ntfy
 * notifier talking to testkit's ntfy server (the harness plays the phone).
 */
import { access } from 'node:fs/promises';
import type { SqliteAuditStore } from '@fish-sre/audit-sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNtfyServer, type NtfyTestServer } from '@fish-sre/testkit';
import { CLI, disposeWorlds, killAllChildren, World } from './crash/harness.js';

let ntfy: NtfyTestServer;

beforeAll(async () => {
  await access(CLI);
  ntfy = await startNtfyServer({ version: '2.17.0' });
});
afterEach(killAllChildren);
afterAll(async () => {
  await disposeWorlds();
  await ntfy?.stop();
});

describe('an approval runs what was shown', () => {
  it('a catalog reload between the notification and the tap that changes the fix script: nothing runs, escalated', async () => {
    const world = await World.create(ntfy);
    const fish = await world.start();
    await world.appendIncident('web');
    const proposal = await world.waitForProposal('web');
    expect(proposal.pin?.scripts.map((script) => [script.step, script.script, script.sha256?.length])).toEqual([
      ['fix', 'restart-web.sh', 64],
      ['verify', 'check-web.sh', 64],
    ]);
    const shown = await world.waitForPhoneProposal(proposal.id);

    // The catalog changes under the notification already on the phone.
    await world.rewriteFixScript('echo "$$ $1 replaced" >> counter.log\necho "rm -rf would be here"');
    await world.reloadCatalog(fish);
    expect(await world.tap(shown, 'Approve')).toMatchObject({ status: 200, body: { ok: true, status: 'approved' } });

    const execution = await world.waitForExecution(proposal.id, ['escalated']);
    expect(execution.steps).toEqual([]);
    expect(execution.detail).toMatch(/web-down fix changed in the catalog after it was shown and approved \(fix script restart-web\.sh content changed/);
    await world.waitForPhoneMessage(/^Escalation: web-down on penny$/);
    expect(await world.counter()).toEqual([]);
    const system = await (await world.store()).history({ entityId: 'system' });
    expect(system.find((entry) => entry.action === 'fix-changed-since-shown')?.data).toMatchObject({ proposalId: proposal.id });

    // A reload that changes nothing of this pattern's fix leaves the next approval alone.
    await world.appendIncident('web-2');
    const next = await world.waitForProposal('web-2');
    const nextShown = await world.waitForPhoneProposal(next.id);
    await world.reloadCatalog(fish);
    expect((await world.tap(nextShown, 'Approve')).status).toBe(200);
    await world.waitForExecution(next.id, ['succeeded']);
    expect((await world.counter()).map((line) => line.endsWith('replaced'))).toEqual([true]);
    expect(await fish.stop()).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('a fix script edited on disk without a catalog reload: the local executor refuses it, nothing runs, escalated', async () => {
    const world = await World.create(ntfy);
    const fish = await world.start();
    await world.appendIncident('web');
    const proposal = await world.waitForProposal('web');
    const shown = await world.waitForPhoneProposal(proposal.id);

    // The file changes, the loaded catalog (and so the pin check at approval) does not.
    await world.rewriteFixScript('echo "$$ $1 edited" >> counter.log');
    expect(await world.tap(shown, 'Approve')).toMatchObject({ status: 200, body: { ok: true, status: 'approved' } });

    const execution = await world.waitForExecution(proposal.id, ['escalated']);
    expect(execution.steps).toEqual([]);
    expect(execution.detail).toMatch(/web-down fix changed in the catalog after it was shown and approved \(fix script restart-web\.sh changed on disk \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\)\)/);
    await world.waitForPhoneMessage(/^Escalation: web-down on penny$/);
    expect(await world.counter()).toEqual([]);
    const system = await (await world.store()).history({ entityId: 'system' });
    expect(system.find((entry) => entry.action === 'fix-changed-since-shown')?.data).toMatchObject({
      proposalId: proposal.id,
      executionId: execution.id,
      change: expect.stringMatching(/changed on disk/),
    });
    expect(await fish.stop()).toEqual({ code: 0, signal: null });
  }, 60_000);
});

describe('an approval found at restart with nothing started', () => {
  it('older than approval.resumeWindow: not run, marked expired-after-restart and escalated', async () => {
    const world = await World.create(ntfy, { approval: { resumeWindow: '1s' } });
    const first = await world.start({ crashAt: 'decision-recorded' });
    await world.appendIncident('web');
    const proposal = await world.waitForProposal('web');
    await world.tap(await world.waitForPhoneProposal(proposal.id), 'Approve').catch(() => undefined);
    expect(await first.waitForExit()).toEqual({ code: null, signal: 'SIGKILL' });
    expect((await world.proposal(proposal.id)).status).toBe('approved');
    expect(await world.execution(proposal.id)).toBeUndefined();
    // Down for longer than the window.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const second = await world.start();
    const execution = await world.waitForExecution(proposal.id, ['escalated']);
    expect(execution.steps).toEqual([]);
    expect(execution.detail).toMatch(/was NOT run now \(approvals older than 1s are not acted on after a restart\)/);
    await world.waitForPhoneMessage(/^Escalation: web-down on penny$/);
    expect(await world.counter()).toEqual([]);
    const system = await (await world.store()).history({ entityId: 'system' });
    expect(system.filter((entry) => entry.action === 'expired-after-restart').map((entry) => entry.data['proposalId'])).toEqual([proposal.id]);
    expect(system.some((entry) => entry.action === 'resume-approved')).toBe(false);
    // The old button is still refused.
    expect((await world.tap(world.phoneProposals(proposal.id)[0]!, 'Approve')).status).toBe(409);
    expect(await second.stop()).toEqual({ code: 0, signal: null });
    const verify = await world.cli(['audit', 'verify']);
    expect(verify.exit.code).toBe(0);
    // The head is printed, to be kept elsewhere; checked later with --expect-head.
    const head = /audit chain OK: \d+ rows; head (\d+:[0-9a-f]{64})/.exec(verify.output)?.[1];
    expect(head).toBeDefined();
    expect((await world.cli(['audit', 'verify', '--expect-head', head!])).exit.code).toBe(0);
    const rebuilt = await world.cli(['audit', 'verify', '--expect-head', `${head!.split(':')[0]}:${'f'.repeat(64)}`]);
    expect(rebuilt.output).toMatch(/audit chain BROKEN: row \d+ is not the one anchored earlier/);
    expect(rebuilt.exit.code).toBe(1);
  }, 60_000);
});

describe('the audit head kept off the machine', () => {
  it('auditAnchor sends the head through the notifier; audit verify --expect-head checks it later', async () => {
    const world = await World.create(ntfy, { extraConfig: 'auditAnchor: { every: 1s }' });
    const fish = await world.start();
    await world.appendIncident('web');
    await world.waitForPhoneProposal((await world.waitForProposal('web')).id);
    const sent = await world.waitForPhoneMessage(/^fish: audit head$/);
    const head = /Head (\d+:[0-9a-f]{64})/.exec(sent.message ?? '')?.[1];
    expect(head).toBeDefined();
    expect(await fish.stop()).toEqual({ code: 0, signal: null });
    const verify = await world.cli(['audit', 'verify', '--expect-head', head!]);
    expect(verify.output).toMatch(/audit chain OK: \d+ rows; head \d+:[0-9a-f]{64} \(contains the expected head \d+\)/);
    expect(verify.exit.code).toBe(0);
    // The waiting proposal set to approved in the SQLite file itself: the chain is intact, the row is not.
    const proposal = await world.waitForProposal('web');
    const database = await ((await world.store()) as unknown as SqliteAuditStore).database();
    await database.updateTable('proposals').set({ status: 'approved', decided_by: 'owner', decided_at: proposal.createdAt }).where('id', '=', proposal.id).execute();
    const edited = await world.cli(['audit', 'verify', '--expect-head', head!]);
    expect(edited.output).toContain(`audit chain BROKEN: proposals row ${proposal.id}, field status: status is "approved" but the audit chain recorded "proposed"`);
    expect(edited.exit.code).toBe(1);
  }, 60_000);
});
