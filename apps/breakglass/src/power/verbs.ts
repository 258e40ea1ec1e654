import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';

/**
 * The power verbs breakglass knows. This list is checked before any I/O, and it mirrors the
 * host-side gate `deploy/breakglass-pve`, which enforces the same list on the hypervisor.
 */
export const POWER_VERBS = ['status', 'forensics', 'reset', 'stop', 'start', 'cycle'] as const;
export type PowerVerb = (typeof POWER_VERBS)[number];

/** Verbs that change the VM's state: they need an explicit confirm, and forensics are taken first. */
export const MUTATING_VERBS: ReadonlySet<PowerVerb> = new Set<PowerVerb>(['reset', 'stop', 'start', 'cycle']);

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
  run(verb: PowerVerb, signal: AbortSignal): Promise<PowerResult>;
}
