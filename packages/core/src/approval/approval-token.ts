import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type Decision = 'approve' | 'deny';

export interface ApprovalClaims {
  /** Token format version. */
  v: 1;
  proposalId: string;
  decision: Decision;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Random id: recorded with the decision; makes two tokens for the same proposal distinct. */
  jti: string;
}

export type TokenCheck = { ok: true; claims: ApprovalClaims } | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' | 'wrong-decision'; message: string; claims?: ApprovalClaims };

const PROPOSAL_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Signs and checks approval tokens: `base64url(claims JSON).base64url(HMAC-SHA256)`.
 * A token is bound to one proposal and one decision and expires; it is single-use because the
 * decision it carries is a compare-and-set on the proposal (`proposed` -> `approved`), which only
 * the first use can win. The signing key never leaves the process.
 */
export class ApprovalSigner {
  private readonly key: Buffer;

  constructor(secret: string | Buffer) {
    this.key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
    if (this.key.length < 32) throw new RangeError('the approval signing secret must be at least 32 bytes');
  }

  static generateSecret(): string {
    return randomBytes(32).toString('base64url');
  }

  sign(proposalId: string, decision: Decision, expiresAtMs: number): string {
    if (!PROPOSAL_ID.test(proposalId)) throw new RangeError(`invalid proposal id ${JSON.stringify(proposalId)}`);
    const claims: ApprovalClaims = { v: 1, proposalId, decision, exp: Math.floor(expiresAtMs / 1000), jti: randomBytes(9).toString('base64url') };
    const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /**
   * Checks signature, shape, decision and expiry. Signature first: nothing in an unsigned token
   * is looked at, not even to report it.
   */
  verify(token: string, expectedDecision: Decision, nowMs: number): TokenCheck {
    if (typeof token !== 'string' || token.length > 1024 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/.test(token)) {
      return { ok: false, reason: 'malformed', message: 'this link is not a valid approval link' };
    }
    const [payload, signature] = token.split('.') as [string, string];
    const expected = Buffer.from(this.mac(payload), 'utf8');
    const given = Buffer.from(signature, 'utf8');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return { ok: false, reason: 'bad-signature', message: 'this approval link was not issued by this fish instance' };
    }
    let claims: ApprovalClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as ApprovalClaims;
    } catch {
      return { ok: false, reason: 'malformed', message: 'this approval link is damaged' };
    }
    if (
      claims.v !== 1 ||
      typeof claims.proposalId !== 'string' ||
      !PROPOSAL_ID.test(claims.proposalId) ||
      (claims.decision !== 'approve' && claims.decision !== 'deny') ||
      !Number.isFinite(claims.exp) ||
      typeof claims.jti !== 'string'
    ) {
      return { ok: false, reason: 'malformed', message: 'this approval link is damaged' };
    }
    if (claims.decision !== expectedDecision) {
      return { ok: false, reason: 'wrong-decision', message: `this link is for "${claims.decision}", not "${expectedDecision}"`, claims };
    }
    if (nowMs >= claims.exp * 1000) {
      return { ok: false, reason: 'expired', message: `this approval link expired at ${new Date(claims.exp * 1000).toISOString()}`, claims };
    }
    return { ok: true, claims };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update('fish-sre/approval/v1\0').update(payload).digest('base64url');
  }
}
