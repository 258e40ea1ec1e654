import { readFile, rename, writeFile } from 'node:fs/promises';
import { FishError, FishErrorCode, describeError, errorMessage, type Logger, silentLogger } from '@fish-sre/core';
import { sshFingerprint, type SshPool } from '@fish-sre/exec-ssh';
import { z } from 'zod';
import type { Trail } from '../trail/trail.js';
import type { PowerBackend } from '../power/verbs.js';

/**
 * Host keys of the VM the agent repairs. A rebuilt VM presents a new SSH host key; breakglass then
 * refuses it (never trust on first use silently, and never for the hypervisor, whose key must be
 * pinned in the configuration), shows the old and the new fingerprint, asks the hypervisor what the
 * guest's own key files say (through the guest agent, when it runs), and lets the operator re-pin
 * with a typed confirmation. The re-pin is recorded in the trail and survives restarts.
 */

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;
const PinsSchema = z.object({ vm: z.object({ fingerprint: z.string().regex(FINGERPRINT), pinnedAt: z.string(), pinnedBy: z.string() }).optional() });

export interface HostKeyState {
  target: 'vm';
  /** The fingerprint breakglass expects (pinned), when it knows one. */
  pinned?: string;
  /** Set while the VM presents a key that does not match. */
  problem?: { expected?: string; presented: string; detail: string; seenAt: string };
  /** What the hypervisor read from the guest's own key files (when asked). */
  hypervisorView?: { ok: boolean; fingerprints: string[]; matchesPresented: boolean; detail: string };
}

/** The SSH public keys in a text (e.g. `qm guest exec` JSON or plain `.pub` files), as fingerprints. */
export function fingerprintsIn(text: string): string[] {
  let haystack = text;
  try {
    const parsed = JSON.parse(text) as { 'out-data'?: unknown };
    if (typeof parsed['out-data'] === 'string') haystack = parsed['out-data'];
  } catch {
    // plain text
  }
  const found = new Set<string>();
  for (const match of haystack.matchAll(/\b(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) ([A-Za-z0-9+/]{40,}={0,2})/g)) {
    found.add(sshFingerprint(Buffer.from(match[2] as string, 'base64')));
  }
  return [...found];
}

export interface HostKeyGuardOptions {
  pool: SshPool;
  /** JSON file holding re-pinned keys (data folder). */
  file: string;
  trail?: Trail;
  /** Asked for the guest's own host keys (the `vm-hostkeys` view) when the key changed. */
  hypervisor?: PowerBackend;
  logger?: Logger;
}

export class HostKeyGuard {
  private state: HostKeyState = { target: 'vm' };
  private readonly logger: Logger;

  constructor(private readonly options: HostKeyGuardOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  /** Applies a re-pin saved by an earlier run (it wins over the configured pin). */
  async load(): Promise<void> {
    const text = await readFile(this.options.file, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      const parsed = PinsSchema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new FishError({ code: FishErrorCode.CONFIG_INVALID, message: errorMessage('breakglass', `${this.options.file} is not a valid host-key file; move it aside`) });
      if (parsed.data.vm) this.options.pool.setHostKeyPolicy('vm', { fingerprint: parsed.data.vm.fingerprint });
    }
    const policy = this.options.pool.hostKeyPolicy('vm');
    if ('fingerprint' in policy) this.state.pinned = policy.fingerprint.replace(/=$/, '');
  }

  get current(): HostKeyState {
    return structuredClone(this.state);
  }

  /** Called with any error from the VM target: a host-key refusal is remembered for the UI. */
  noteError(error: unknown): void {
    if (!FishError.isInstance(error) || error.code !== FishErrorCode.EXECUTOR_HOST_KEY) return;
    const presented = error.details.fingerprint as string | undefined;
    if (presented === undefined) return;
    const expected = (error.details.expected as string | undefined) ?? this.state.pinned;
    this.state.problem = { presented, detail: error.message, seenAt: new Date().toISOString(), ...(expected === undefined ? {} : { expected }) };
  }

  /** Connects afresh and, if the key changed, asks the hypervisor for the guest's own key files. */
  async inspect(signal?: AbortSignal): Promise<HostKeyState> {
    const check = await this.options.pool.check('vm', signal);
    if (check.ok) {
      delete this.state.problem;
      delete this.state.hypervisorView;
      const policy = this.options.pool.hostKeyPolicy('vm');
      if ('fingerprint' in policy) this.state.pinned = policy.fingerprint.replace(/=$/, '');
      return this.current;
    }
    if ((check.kind === 'host-key-mismatch' || check.kind === 'host-key-unknown') && check.fingerprint !== undefined) {
      const expected = this.state.problem?.expected ?? this.state.pinned;
      this.state.problem = { presented: check.fingerprint, detail: check.detail, seenAt: new Date().toISOString(), ...(expected === undefined ? {} : { expected }) };
      if (this.options.hypervisor) {
        try {
          const view = await this.options.hypervisor.inspect('vm-hostkeys', signal ?? AbortSignal.timeout(30_000));
          const fingerprints = view.ok ? fingerprintsIn(view.output) : [];
          this.state.hypervisorView = {
            ok: view.ok && fingerprints.length > 0,
            fingerprints,
            matchesPresented: fingerprints.includes(check.fingerprint),
            detail: view.ok
              ? fingerprints.length > 0
                ? 'read from the guest through the QEMU guest agent'
                : 'the guest agent answered without any key'
              : `not available: ${view.output.split('\n')[0]?.slice(0, 200) ?? ''}`,
          };
        } catch (error) {
          this.state.hypervisorView = { ok: false, fingerprints: [], matchesPresented: false, detail: `not available: ${describeError(error)}` };
        }
      }
    }
    return this.current;
  }

  /**
   * Replaces the VM's pin with the key it presents now. `fingerprint` is what the operator saw;
   * `confirmation` must be its last six characters, typed. Refused unless the VM still presents
   * exactly that key at this moment.
   */
  async repin(fingerprint: string, confirmation: string, actor: string): Promise<HostKeyState> {
    const refuse = (message: string) => new FishError({ code: FishErrorCode.VERB_NOT_ALLOWED, message: errorMessage('breakglass', message) });
    if (!FINGERPRINT.test(fingerprint)) throw refuse('fingerprint must be SHA256:<43 characters>');
    if (confirmation !== fingerprint.slice(-6)) throw refuse('type the last six characters of the new fingerprint to confirm');
    const check = await this.options.pool.check('vm');
    if (check.ok) throw refuse('the VM presents the pinned key: nothing to re-pin');
    if (check.fingerprint !== fingerprint) throw refuse(`the VM now presents ${check.fingerprint ?? 'no key'} (not the key you confirmed): look again before re-pinning`);
    const old = this.state.problem?.expected ?? this.state.pinned ?? null;
    this.options.pool.setHostKeyPolicy('vm', { fingerprint });
    const pinnedAt = new Date().toISOString();
    const temporary = `${this.options.file}.tmp`;
    await writeFile(temporary, `${JSON.stringify({ vm: { fingerprint, pinnedAt, pinnedBy: actor } }, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, this.options.file);
    await this.options.trail?.append('repin', actor, { target: 'vm', old, new: fingerprint, hypervisorAgreed: this.state.hypervisorView?.matchesPresented ?? null });
    this.logger.warn('vm host key re-pinned', { actor, old, new: fingerprint });
    this.state = { target: 'vm', pinned: fingerprint };
    return this.current;
  }
}
