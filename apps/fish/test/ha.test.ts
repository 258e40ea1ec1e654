/**
 * Several fish instances on one PostgreSQL: two real `fish-sre run` processes (apps/fish/dist/cli.js)
 * with their own approval endpoints and data folders, the same catalog, incident file, ntfy topic
 * and audit database (a real PostgreSQL from testkit). The fix script appends a line per real
 * run, so "ran twice" cannot hide. Leases are 3 s here (30 s by default).
 */
import { access } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNtfyServer, startTestPostgres, type NtfyTestServer, type TestPostgres } from '@fish-sre/testkit';
import { CLI, disposeWorlds, killAllChildren, waitUntil, World, type FishProcess } from './crash/harness.js';

let ntfy: NtfyTestServer;
let postgres: TestPostgres;
const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

beforeAll(async () => {
  await access(CLI); // fails clearly when apps/fish was not built
  ntfy = await startNtfyServer({ version: '2.17.0' });
  postgres = await startTestPostgres();
}, 120_000);
afterEach(killAllChildren);
afterAll(async () => {
  await disposeWorlds();
  await ntfy?.stop();
  await postgres?.stop();
}, 60_000);

async function twoInstances(): Promise<{ world: World; fish: FishProcess[] }> {
  const world = await World.create(ntfy, { postgresUrl: await postgres.createDatabase(), instances: 2, lease: '3s' });
  const fish = await Promise.all([world.start({ instance: 0 }), world.start({ instance: 1 })]);
  return { world, fish };
}

async function actionsOf(world: World, entityId: string): Promise<string[]> {
  return (await (await world.store()).history({ entityId })).map((entry) => entry.action);
}

describe('two fish instances on one PostgreSQL', () => {
  it('the same log line seen by both: one incident, one proposal, one notification', async () => {
    const { world, fish } = await twoInstances();
    await world.appendIncident('web');
    const proposal = await world.waitForProposal('web');
    await world.waitForPhoneProposal(proposal.id);
    // Both read the line; the one that lost the claim says so.
    await waitUntil('the second instance to find the incident claimed', () => fish.filter((process) => /already claimed by another fish instance/.test(process.output)).length === 1);
    await pause(500);
    expect(await (await world.store()).listIncidents({ limit: 100 })).toHaveLength(1);
    expect(await world.proposals('web')).toHaveLength(1);
    expect(world.phoneMessages()).toHaveLength(1);
  }, 90_000);

  it('100 concurrent taps spread over both instances: one 200, one execution, one run', async () => {
    const { world } = await twoInstances();
    await world.appendIncident('web');
    const proposal = await world.waitForProposal('web');
    await world.waitForPhoneProposal(proposal.id);
    const token = world.token(proposal, 'approve');
    const answers = await Promise.all(Array.from({ length: 100 }, (_, index) => world.post('approve', token, 30_000, index % 2)));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(99);
    await world.waitForExecution(proposal.id, ['succeeded']);
    expect(await world.executionsOf(proposal.id)).toHaveLength(1);
    expect(await world.counter()).toHaveLength(1);
    expect((await actionsOf(world, proposal.id)).filter((action) => action === 'approved')).toHaveLength(1);
  }, 90_000);

  it('SIGKILL the instance running a fix: the other leaves it alone while the lease holds, then escalates it once, never re-runs it', async () => {
    const { world, fish } = await twoInstances();
    await world.setFixSleep(60);
    await world.appendIncident('web');
    const proposal = await world.waitForProposal('web');
    await world.waitForPhoneProposal(proposal.id);
    expect((await world.post('approve', world.token(proposal, 'approve'), 10_000, 0)).status).toBe(200);
    const running = await waitUntil('the fix to run', async () => {
      const execution = await world.execution(proposal.id);
      return (await world.counter()).length === 1 && execution?.status === 'running' ? execution : undefined;
    });
    const owner = running.owner!;
    const victim = fish.find((process) => owner.includes(`-${process.child.pid}-`));
    expect(victim, `no process owns ${owner}`).toBeDefined();
    // Longer than two leases: the owner renews, the peer's sweeps leave the live fix alone.
    await pause(7000);
    expect((await world.execution(proposal.id))?.status).toBe('running');
    expect(await victim!.kill9()).toEqual({ code: null, signal: 'SIGKILL' });
    await world.killOrphanedScripts();

    const execution = await world.waitForExecution(proposal.id, ['escalated'], 30_000);
    expect(await actionsOf(world, execution.id)).toEqual(['created', 'running', 'interrupted', 'escalated']);
    const history = await (await world.store()).history({ entityId: execution.id });
    expect(history.find((entry) => entry.action === 'interrupted')?.data['takenOverFrom']).toBe(owner);
    await world.waitForPhoneMessage(/^Escalation: web-down on penny$/);
    await pause(4000); // more sweeps by the survivor: still one escalation
    expect(world.phoneMessages().filter((message) => /^Escalation/.test(message.title ?? ''))).toHaveLength(1);
    expect(await world.counter()).toHaveLength(1);
    expect(await world.executionsOf(proposal.id)).toHaveLength(1);
  }, 120_000);

  it('a PostgreSQL restart during the loop: detection goes on, nothing is lost, both recover by themselves', async () => {
    const { world, fish } = await twoInstances();
    await world.appendIncident('web-1');
    const first = await world.waitForProposal('web-1');
    await world.waitForPhoneProposal(first.id);
    const restarting = postgres.restart({ downMs: 4000 });
    await pause(1000);
    await world.appendIncident('web-2'); // seen while the database is down
    await restarting;
    const second = await world.waitForProposal('web-2', 60_000);
    await world.waitForPhoneProposal(second.id, 1, 30_000);
    expect(fish.some((process) => /audit store unreachable: \d+ incident\(s\) held/.test(process.output))).toBe(true);
    expect(world.phoneMessages().some((message) => message.title === 'fish: audit store unreachable')).toBe(true);
    expect((await world.tap(world.phoneProposals(first.id)[0]!, 'Approve')).status).toBe(200);
    await world.waitForExecution(first.id, ['succeeded'], 30_000);
    expect(await world.proposals('web-2')).toHaveLength(1);
    expect(fish.every((process) => process.running)).toBe(true);
    const verify = await world.cli(['audit', 'verify']);
    expect(verify.output).toMatch(/audit chain OK: \d+ rows/);
  }, 150_000);
});
