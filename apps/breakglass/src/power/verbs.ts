import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';

/**
 * The power verbs breakglass knows. This list is checked before any I/O, and it mirrors the
 * host-side gate `deploy/breakglass-pve`, which enforces the same list on the hypervisor.
 */
export const POWER_VERBS = ['status', 'forensics', 'shutdown', 'cycle', 'reset', 'stop', 'start'] as const;
export type PowerVerb = (typeof POWER_VERBS)[number];

/** Verbs that change the VM's state: they need an explicit confirm, and forensics are taken first. */
export const MUTATING_VERBS: ReadonlySet<PowerVerb> = new Set<PowerVerb>(['shutdown', 'cycle', 'reset', 'stop', 'start']);

/**
 * The hypervisor's read-only view of the VM, offered to the agent as a tool: it still answers when
 * the VM's own sshd does not. Mirrors the read-only verbs of `deploy/breakglass-pve`.
 */
export const INSPECT_VERBS = ['status', 'config', 'tasks', 'journal', 'agent-ping', 'agent-info', 'vm-hostkeys'] as const;
export type InspectVerb = (typeof INSPECT_VERBS)[number];

export function isInspectVerb(value: unknown): value is InspectVerb {
  return typeof value === 'string' && (INSPECT_VERBS as readonly string[]).includes(value);
}

/** Exact, case-sensitive membership: no trimming, no prefix match, no normalisation. */
export function isPowerVerb(value: unknown): value is PowerVerb {
  return typeof value === 'string' && (POWER_VERBS as readonly string[]).includes(value);
}

export function isMutatingVerb(verb: PowerVerb): boolean {
  return MUTATING_VERBS.has(verb);
}

/** Returns the verb or throws FISH_ERR_VERB_NOT_ALLOWED; the rejected value is never echoed raw. */
export function parsePowerVerb(value: unknown): PowerVerb {
  if (isPowerVerb(value)) return value;
  throw new FishError({
    code: FishErrorCode.VERB_NOT_ALLOWED,
    message: errorMessage('breakglass', `power verb not allowed (allowed: ${POWER_VERBS.join(', ')})`),
  });
}

export interface PowerResult {
  verb: PowerVerb;
  ok: boolean;
  /** Human-readable account of what happened (status JSON, task ids, errors). Capped. */
  output: string;
  /** Short machine-friendly state when known (`running`, `stopped`). */
  state?: string;
  durationMs: number;
}

/**
 * One way of reaching the hypervisor. Both backends get only an allow-listed verb; neither ever
 * receives free text.
 */
export interface PowerBackend {
  readonly kind: 'ssh' | 'proxmox-api';
  /**
   * True when a mutating verb captures forensics on the hypervisor itself (the forced command does,
   * once, within its own budget); otherwise the power service asks for them first.
   */
  readonly capturesForensics: boolean;
  run(verb: PowerVerb, signal: AbortSignal): Promise<PowerResult>;
  /** A read-only look at the VM from the hypervisor's side (plain text, capped). */
  inspect(verb: InspectVerb, signal: AbortSignal): Promise<InspectResult>;
}

export interface InspectResult {
  verb: InspectVerb;
  ok: boolean;
  output: string;
  durationMs: number;
}
