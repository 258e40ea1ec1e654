import { type LLMProvider, type Notifier, describeError } from '@fish-sre/core';
import type { SshPool } from '@fish-sre/exec-ssh';
import type { ProxmoxClient } from './power/proxmox-client.js';

/**
 * `breakglass selftest`: proves, before the bad day, that each part the console needs still works,
 * and says in plain words what does not. Each check has its own timeout; one broken part never
 * hides the others.
 */

export interface SelftestCheck {
  name: string;
  ok: boolean;
  detail: string;
  durationMs: number;
}

export interface SelftestReport {
  ok: boolean;
  at: string;
  checks: SelftestCheck[];
}

export interface SelftestOptions {
  provider?: LLMProvider;
  pool: SshPool;
  api?: { client: ProxmoxClient; node: string; vmid: number };
  /** Per check. @default 20000 */
  timeoutMs?: number;
}

async function timed(name: string, run: () => Promise<{ ok: boolean; detail: string }>): Promise<SelftestCheck> {
  const started = Date.now();
  try {
    const result = await run();
    return { name, ...result, durationMs: Date.now() - started };
  } catch (error) {
    return { name, ok: false, detail: describeError(error), durationMs: Date.now() - started };
  }
}

export async function runSelftest(options: SelftestOptions): Promise<SelftestReport> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const checks: Promise<SelftestCheck>[] = [];
  const provider = options.provider;
  if (provider) {
    checks.push(
      timed(`LLM (${provider.provider}/${provider.modelId})`, async () => {
        const answer = await provider.generate({
          system: 'This is a connectivity check. Reply with the single word OK.',
          messages: [{ role: 'user', content: 'OK?' }],
          maxOutputTokens: 8,
          signal: AbortSignal.timeout(timeoutMs),
        });
        return { ok: true, detail: `the model answered (${answer.usage.inputTokens + answer.usage.outputTokens} tokens, €${answer.usage.costEur.toFixed(4)})` };
      }),
    );
  }
  if (options.pool.has('vm')) {
    checks.push(
      timed('VM over SSH (pinned host key)', async () => {
        const check = await options.pool.check('vm', AbortSignal.timeout(timeoutMs));
        if (check.ok) return check;
        const hint =
          check.kind === 'host-key-mismatch' ? " — the VM presents a different host key: open breakglass, compare the fingerprints (the hypervisor can read the guest's own), then re-pin" : '';
        return { ok: false, detail: `${check.detail}${hint}` };
      }),
    );
  }
  if (options.pool.has('hypervisor')) {
    checks.push(
      timed('hypervisor forced command (breakglass-pve)', async () => {
        const check = await options.pool.check('hypervisor', AbortSignal.timeout(timeoutMs));
        if (!check.ok) return check;
        // `true` is not a verb: the forced command must refuse it (exit 3). If it ran, the key is not bound to breakglass-pve.
        const probe = await options.pool.run('hypervisor', { command: 'true' }, { timeoutMs, outputLimitBytes: 4096 });
        if (probe.exitCode === 0)
          return { ok: false, detail: 'the hypervisor key is NOT bound to breakglass-pve: a plain command ran (install the authorized_keys line from apps/breakglass/deploy/README.md)' };
        if (probe.exitCode !== 3 || !probe.stderr.includes('denied'))
          return { ok: false, detail: `the forced command answered an unknown verb with exit ${String(probe.exitCode)} instead of a refusal (is breakglass-pve the installed version?)` };
        const status = await options.pool.run('hypervisor', { command: 'status' }, { timeoutMs, outputLimitBytes: 4096 });
        if (status.exitCode !== 0 || !/^status: \w+/m.test(status.stdout)) {
          return {
            ok: false,
            detail: `connected, but \`status\` through the forced command failed (exit ${String(status.exitCode)}): ${(status.stderr || status.stdout).split('\n')[0]?.slice(0, 200) ?? ''}`,
          };
        }
        return { ok: true, detail: `${check.detail}; ${status.stdout.trim().split('\n')[0]}; unknown verbs are refused` };
      }),
    );
  }
  const api = options.api;
  if (api) {
    checks.push(
      timed('Proxmox API (certificate pin, token, read-only call)', async () => {
        const status = await api.client.vmStatus(api.node, api.vmid, AbortSignal.timeout(timeoutMs));
        return { ok: true, detail: `certificate matched the pin, token accepted; VM ${api.vmid} on ${api.node} is ${status.status}` };
      }),
    );
  }
  const results = await Promise.all(checks);
  return { ok: results.every((check) => check.ok), at: new Date().toISOString(), checks: results };
}

export function formatReport(report: SelftestReport): string {
  const lines = report.checks.map((check) => `${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  const failed = report.checks.filter((check) => !check.ok).length;
  lines.push(failed === 0 ? 'breakglass selftest: every part answered.' : `breakglass selftest: ${failed} of ${report.checks.length} parts FAILED.`);
  return lines.join('\n');
}

/** Tells the operator's phone that the console is broken (only when something failed). */
export async function notifyFailures(notifier: Notifier, report: SelftestReport, consoleUrl?: string): Promise<boolean> {
  const failed = report.checks.filter((check) => !check.ok);
  if (failed.length === 0) return false;
  await notifier.notify({
    kind: 'info',
    title: `breakglass selftest: ${failed.length} part${failed.length === 1 ? '' : 's'} broken`,
    body: failed.map((check) => `- **${check.name}**: ${check.detail}`).join('\n'),
    priority: 'high',
    tags: ['rotating_light', 'breakglass'],
    ...(consoleUrl ? { url: consoleUrl } : {}),
  });
  return true;
}
