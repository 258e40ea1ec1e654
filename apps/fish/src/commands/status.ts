import type { AuditStore, ExecutionRecord, ProposalRecord } from '@fish-sre/core';

export interface StatusOptions {
  audit: AuditStore;
  /** A running fish's /metrics URL; without it (or when it does not answer) the live part is marked unknown. */
  metricsUrl?: string;
  /** Monthly LLM cap in EUR (0: no LLM configured). */
  budgetCapEur: number;
  now?: () => number;
  fetch?: typeof globalThis.fetch;
}

export interface FishStatus {
  at: string;
  running: { reachable: boolean; detail: string; healthy?: boolean; version?: string };
  proposalsWaiting: Array<{ id: string; patternId: string; host: string; ageSeconds: number; expiresInSeconds: number }>;
  openIncidents: Array<{ id: string; patternId: string; host: string; service: string; state: string; ageSeconds: number }>;
  lastExecutions: Array<{ id: string; patternId: string; host: string; status: string; at: string; detail?: string }>;
  sources: Array<{ name: string; up: boolean }>;
  budget: { month: string; spentEur: number; capEur: number; leftEur: number };
  /** Notifications recorded but not delivered yet (the delivery outbox), the oldest one's age and last error. */
  outbox: { pending: number; oldestSeconds: number | null; lastError?: string };
  /** Seconds since the last successful heartbeat ping; null when none or unknown. */
  lastHeartbeatSecondsAgo: number | null;
}

const RUNNING_EXECUTION = new Set(['pending', 'running', 'verifying']);

/** Parses the Prometheus text format into name -> [{labels, value}]. */
export function parseMetrics(text: string): Map<string, Array<{ labels: Record<string, string>; value: number }>> {
  const series = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1]!, pair[2]!.replace(/\\(.)/g, '$1')]));
    const list = series.get(match[1]!) ?? [];
    list.push({ labels, value: Number(match[3]) });
    series.set(match[1]!, list);
  }
  return series;
}

/** `fish-sre status`: what the loop is doing now, from the audit store and a running fish's metrics. */
export async function collectStatus(options: StatusOptions): Promise<FishStatus> {
  const now = options.now?.() ?? Date.now();
  const age = (iso: string) => Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  const month = new Date(now).toISOString().slice(0, 7);
  const [waiting, approved, executions, incidents, spent, backlog, undelivered] = await Promise.all([
    options.audit.listProposals({ status: 'proposed', limit: 100 }),
    options.audit.listProposals({ status: 'approved', limit: 100 }),
    options.audit.listExecutions({ limit: 100 }),
    options.audit.listIncidents({ limit: 100 }),
    options.audit.spentInMonth(month),
    options.audit.outboxBacklog(),
    options.audit.listOutbox({ status: 'pending', limit: 1 }),
  ]);
  const executionByProposal = new Map<string, ExecutionRecord>(executions.map((execution) => [execution.proposalId, execution]));
  const open: FishStatus['openIncidents'] = [];
  const proposalOfIncident = new Map<string, ProposalRecord>([...waiting, ...approved].map((proposal) => [proposal.incidentId, proposal]));
  for (const incident of incidents) {
    const proposal = proposalOfIncident.get(incident.id);
    if (!proposal) continue;
    const execution = executionByProposal.get(proposal.id);
    if (proposal.status === 'approved' && execution && !RUNNING_EXECUTION.has(execution.status)) continue;
    open.push({
      id: incident.id,
      patternId: incident.patternId,
      host: incident.host,
      service: incident.service,
      state: proposal.status === 'proposed' ? 'waiting for you' : execution ? `fix ${execution.status}` : 'approved, starting',
      ageSeconds: age(incident.createdAt),
    });
  }
  const status: FishStatus = {
    at: new Date(now).toISOString(),
    running: { reachable: false, detail: options.metricsUrl ? 'not reached' : 'no metrics address configured' },
    proposalsWaiting: waiting.map((proposal) => ({
      id: proposal.id,
      patternId: proposal.patternId,
      host: proposal.targetHost,
      ageSeconds: age(proposal.createdAt),
      expiresInSeconds: Math.round((Date.parse(proposal.expiresAt) - now) / 1000),
    })),
    openIncidents: open,
    lastExecutions: executions.slice(0, 5).map((execution) => ({
      id: execution.id,
      patternId: execution.patternId,
      host: execution.targetHost,
      status: execution.status,
      at: execution.updatedAt,
      ...(execution.detail ? { detail: execution.detail } : {}),
    })),
    sources: [],
    budget: { month, spentEur: spent, capEur: options.budgetCapEur, leftEur: Math.max(0, options.budgetCapEur - spent) },
    outbox: { pending: backlog.pending, oldestSeconds: backlog.oldestCreatedAt ? age(backlog.oldestCreatedAt) : null, ...(undelivered[0]?.lastError ? { lastError: undelivered[0].lastError } : {}) },
    lastHeartbeatSecondsAgo: null,
  };
  if (options.metricsUrl) {
    try {
      const response = await (options.fetch ?? globalThis.fetch)(options.metricsUrl, { signal: AbortSignal.timeout(3000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const metrics = parseMetrics(await response.text());
      const healthy = metrics.get('fish_loop_healthy')?.[0]?.value;
      const version = metrics.get('fish_build_info')?.[0]?.labels.version;
      status.running = { reachable: true, detail: `fish ${version ?? '?'} answers`, ...(healthy !== undefined ? { healthy: healthy === 1 } : {}), ...(version ? { version } : {}) };
      status.sources = (metrics.get('fish_source_up') ?? []).map((sample) => ({ name: sample.labels.source ?? '?', up: sample.value === 1 }));
      const beat = metrics.get('fish_heartbeat_last_success_timestamp_seconds')?.[0]?.value;
      if (beat) status.lastHeartbeatSecondsAgo = Math.max(0, Math.round(now / 1000 - beat));
    } catch (error) {
      status.running = { reachable: false, detail: `fish does not answer at ${options.metricsUrl} (${(error as Error).message})` };
    }
  }
  return status;
}

function duration(seconds: number): string {
  if (seconds < 90) return `${seconds}s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

/** At most `width` characters a line: it is read on a phone over SSH. */
export function formatStatus(status: FishStatus, width = 40): string {
  const lines: string[] = [];
  const fit = (text: string) => (text.length <= width ? text : `${text.slice(0, width - 1)}…`);
  const heading = (text: string) => lines.push('', fit(text));
  lines.push(fit(`fish ${status.running.reachable ? (status.running.healthy === false ? 'UNHEALTHY' : 'running') : 'NOT REACHED'}`));
  if (!status.running.reachable) lines.push(fit(`  ${status.running.detail}`));
  heading(`Waiting for you (${status.proposalsWaiting.length})`);
  for (const proposal of status.proposalsWaiting) {
    lines.push(
      fit(`  ${proposal.patternId}`),
      fit(`    on ${proposal.host}, ${duration(proposal.ageSeconds)} old, ${proposal.expiresInSeconds > 0 ? `expires in ${duration(proposal.expiresInSeconds)}` : 'expired'}`),
    );
  }
  heading(`Open incidents (${status.openIncidents.length})`);
  for (const incident of status.openIncidents) lines.push(fit(`  ${incident.patternId}`), fit(`    ${incident.host}/${incident.service}: ${incident.state}`));
  heading('Last fixes');
  if (status.lastExecutions.length === 0) lines.push('  none yet');
  for (const execution of status.lastExecutions)
    lines.push(
      fit(`  ${execution.status === 'succeeded' ? '✓' : RUNNING_EXECUTION.has(execution.status) ? '…' : '✗'} ${execution.patternId}`),
      fit(`    ${execution.host} ${execution.status} ${execution.at.slice(5, 16).replace('T', ' ')}`),
    );
  heading('Sources');
  if (!status.running.reachable) lines.push('  unknown (fish not reached)');
  for (const source of status.sources) lines.push(fit(`  ${source.up ? '✓' : '✗'} ${source.name} ${source.up ? 'up' : 'DOWN'}`));
  heading('LLM budget');
  lines.push(fit(status.budget.capEur > 0 ? `  ${status.budget.spentEur.toFixed(2)} of ${status.budget.capEur.toFixed(2)} EUR (${status.budget.month})` : '  no LLM configured'));
  if (status.budget.capEur > 0) lines.push(fit(`  ${status.budget.leftEur.toFixed(2)} EUR left`));
  heading(`Outbox (${status.outbox.pending} undelivered)`);
  if (status.outbox.oldestSeconds !== null) lines.push(fit(`  oldest ${duration(status.outbox.oldestSeconds)} old`));
  if (status.outbox.lastError) lines.push(fit(`  ${status.outbox.lastError}`));
  heading('Heartbeat');
  lines.push(fit(status.lastHeartbeatSecondsAgo === null ? '  none (not configured or not yet)' : `  last ping ${duration(status.lastHeartbeatSecondsAgo)} ago`));
  return `${lines.join('\n')}\n`;
}
