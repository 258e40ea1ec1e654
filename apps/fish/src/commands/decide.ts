import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import { ApprovalSigner, type Decision } from '@fish-sre/core';
import { loadConfig } from '../config.js';

/**
 * `fish-sre approve|deny <proposal>`: the terminal fallback when the phone is not at hand. It
 * signs a token with the configured secret and sends it to the running fish's approval
 * endpoint, so the decision takes the same path (and the same checks) as a phone tap.
 */
export async function decideFromTerminal(decision: Decision, proposalId: string, options: { config?: string; demo?: boolean; dataDir?: string }, write: (text: string) => void): Promise<number> {
  let url: string;
  let secret: string;
  if (options.demo || !options.config) {
    const statePath = join(resolve(options.dataDir ?? '.fish-demo'), 'demo-state.json');
    let state: { approvalUrl: string; secret: string };
    try {
      state = JSON.parse(await readFile(statePath, 'utf8')) as typeof state;
    } catch {
      write(`No --config given and no running demo found (${statePath}). Use --config fish.yaml.\n`);
      return 2;
    }
    url = state.approvalUrl;
    secret = state.secret;
  } else {
    const config = await loadConfig(options.config);
    const host = config.approval.listen.host === '0.0.0.0' || config.approval.listen.host === '::' ? '127.0.0.1' : config.approval.listen.host;
    url = `http://${host.includes(':') ? `[${host}]` : host}:${config.approval.listen.port}`;
    secret = config.approval.secret;
  }
  const token = new ApprovalSigner(secret).sign(proposalId, decision, Date.now() + 5 * 60_000);
  let response: Response;
  try {
    response = await fetch(`${url}/${decision}/${token}`, { method: 'POST', headers: { accept: 'application/json', 'user-agent': `fish-sre-cli (${userInfo().username})` } });
  } catch (error) {
    write(`Cannot reach fish at ${url}: ${(error as Error).message}. Is it running?\n`);
    return 2;
  }
  const body = (await response.json().catch(() => ({}))) as { message?: string };
  write(`${response.status}: ${body.message ?? response.statusText}\n`);
  return response.ok ? 0 : 1;
}
