// The audit-store write benchmark shared by the SQL stores' benches (audit-sqlite, audit-postgres):
// one transaction per state change, as the loop does: insert incident, insert proposal, approve
// (CAS), insert execution, pending->running, running->succeeded. Stalls are measured with
// monitorEventLoopDelay and a 1 ms timer's drift; an idle loop is measured first, because on a
// shared machine scheduling alone causes stalls.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { sampleExecution, sampleIncident, sampleProposal, sampleStep } from '@fish-sre/testkit';

const STATE_CHANGES = Number(process.env.BENCH_STATE_CHANGES ?? 10_000);
const PER_CYCLE = 6;

function iso(ms) {
  return new Date(ms).toISOString();
}

/**
 * Runs the loop's state changes on `store` (already created, not initialised) and measures
 * throughput and event-loop stalls. `verify(store)` walks the chain afterwards.
 */
export async function measureStateChanges(label, store, verify) {
  await store.init();

  // Two independent stall meters: the histogram, and a 1 ms timer measuring its own drift.
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let maxDrift = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxDrift = Math.max(maxDrift, now - last - 1);
    last = now;
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  histogram.enable();
  last = performance.now();
  maxDrift = 0;

  const t0 = Date.UTC(2026, 0, 1);
  const cycles = Math.ceil(STATE_CHANGES / PER_CYCLE);
  const started = performance.now();
  const utilizationStart = performance.eventLoopUtilization();
  for (let index = 0; index < cycles; index += 1) {
    const at = iso(t0 + index * 1000);
    const incidentId = `inc-${index}`;
    const proposalId = `prop-${index}`;
    const executionId = `exec-${index}`;
    // The records of the AuditStore conformance suite (a compose stack down after a reboot), with
    // this run's ids and times.
    await store.insertIncident(sampleIncident({ id: incidentId, fingerprint: `fp-${index % 50}`, firstSeen: at, lastSeen: at, createdAt: at }));
    await store.insertProposal(sampleProposal(incidentId, { id: proposalId, createdAt: at, expiresAt: iso(t0 + index * 1000 + 3_600_000) }));
    await store.transitionProposal({ id: proposalId, from: 'proposed', to: 'approved', at, actor: 'link:owner', tokenId: `tok-${index}` });
    await store.insertExecution(sampleExecution(proposalId, { id: executionId, createdAt: at, updatedAt: at }));
    await store.transitionExecution({ id: executionId, from: ['pending'], to: 'running', at });
    await store.transitionExecution({
      id: executionId,
      from: ['running'],
      to: 'succeeded',
      at,
      appendStep: sampleStep({ startedAt: at, stdout: 'Container homepage  Started\n'.repeat(20) }),
    });
  }
  const seconds = (performance.now() - started) / 1000;
  const utilization = performance.eventLoopUtilization(utilizationStart);
  // Let the meters see the end of the burst (a loop that never yielded would show up here).
  await new Promise((resolve) => setTimeout(resolve, 5));
  histogram.disable();
  clearInterval(timer);
  const chain = await verify(store);
  await store.close();
  const stateChanges = cycles * PER_CYCLE;
  const result = {
    label,
    stateChanges,
    seconds: Number(seconds.toFixed(3)),
    writesPerSecond: Math.round(stateChanges / seconds),
    maxStallMs: Number(Math.max(histogram.max / 1e6, maxDrift).toFixed(2)),
    p99LoopDelayMs: Number((histogram.percentile(99) / 1e6).toFixed(2)),
    // How busy the main thread was: the store's own cost on the event loop.
    mainThreadUtilization: Number(utilization.utilization.toFixed(3)),
    mainThreadMsPerStateChange: Number((utilization.active / (cycles * PER_CYCLE)).toFixed(3)),
    chainOk: chain.ok,
    chainRows: chain.rows,
  };
  process.stderr.write(
    `${label.padEnd(28)} ${String(result.writesPerSecond).padStart(7)} writes/s  ${stateChanges} state changes in ${result.seconds}s  max stall ${result.maxStallMs} ms  p99 ${result.p99LoopDelayMs} ms  main thread ${result.mainThreadMsPerStateChange} ms/change (${Math.round(result.mainThreadUtilization * 100)}% busy)  chain ${chain.ok ? 'ok' : 'BROKEN'} (${chain.rows} rows)\n`,
  );
  return result;
}

// The same meters on an idle loop: on a shared machine, scheduling alone causes stalls.
export async function idleBaseline(milliseconds) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let maxDrift = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxDrift = Math.max(maxDrift, now - last - 1);
    last = now;
  }, 1);
  histogram.enable();
  await new Promise((resolve) => setTimeout(resolve, milliseconds));
  histogram.disable();
  clearInterval(timer);
  const result = {
    label: 'idle loop (baseline)',
    seconds: milliseconds / 1000,
    maxStallMs: Number(Math.max(histogram.max / 1e6, maxDrift).toFixed(2)),
    p99LoopDelayMs: Number((histogram.percentile(99) / 1e6).toFixed(2)),
  };
  process.stderr.write(`${result.label.padEnd(28)} no writes for ${result.seconds}s              max stall ${result.maxStallMs} ms  p99 ${result.p99LoopDelayMs} ms\n`);
  return result;
}
