import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApprovalSigner, type Decision } from './approval-token.js';

const SECRET = 'a'.repeat(32) + '-approval-test-secret';
const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const HOUR = 3_600_000;

function decode(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
function reencode(token: string, change: (claims: Record<string, unknown>) => void): string {
  const claims = decode(token);
  change(claims);
  return `${Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url')}.${token.split('.')[1]}`;
}

describe('ApprovalSigner', () => {
  const signer = new ApprovalSigner(SECRET);

  it('round-trips a signed token', () => {
    const token = signer.sign('prop_1', 'approve', NOW + HOUR);
    const check = signer.verify(token, 'approve', NOW);
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    expect(check.claims).toMatchObject({ v: 1, proposalId: 'prop_1', decision: 'approve', exp: Math.floor((NOW + HOUR) / 1000) });
    expect(check.claims.jti).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    expect(signer.sign('prop_1', 'approve', NOW + HOUR)).not.toBe(token); // distinct jti
  });

  it('refuses a forged signature', () => {
    const token = signer.sign('prop_1', 'approve', NOW + HOUR);
    const [payload, signature] = token.split('.') as [string, string];
    const flipped = `${payload}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    expect(signer.verify(flipped, 'approve', NOW)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('refuses a truncated token', () => {
    const token = signer.sign('prop_1', 'approve', NOW + HOUR);
    for (const cut of [token.slice(0, -1), token.slice(0, token.indexOf('.')), token.slice(0, token.indexOf('.') + 1), token.slice(5), '']) {
      const check = signer.verify(cut, 'approve', NOW);
      expect(check.ok).toBe(false);
      if (!check.ok) expect(['malformed', 'bad-signature']).toContain(check.reason);
    }
    expect(signer.verify(token.slice(0, -1), 'approve', NOW)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it.each([
    ['proposal id swapped', (claims: Record<string, unknown>) => (claims['proposalId'] = 'prop_2')],
    ['decision flipped', (claims: Record<string, unknown>) => (claims['decision'] = 'deny')],
    ['expiry extended', (claims: Record<string, unknown>) => (claims['exp'] = (claims['exp'] as number) + 86_400)],
  ])('refuses a tampered payload (%s) as a bad signature', (_name, change) => {
    const token = signer.sign('prop_1', 'approve', NOW + HOUR);
    const tampered = reencode(token, change);
    expect(tampered).not.toBe(token);
    expect(signer.verify(tampered, 'approve', NOW)).toMatchObject({ ok: false, reason: 'bad-signature' });
    expect(signer.verify(tampered, 'deny', NOW)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('refuses a token signed with another secret', () => {
    const other = new ApprovalSigner('b'.repeat(40));
    const token = other.sign('prop_1', 'approve', NOW + HOUR);
    expect(signer.verify(token, 'approve', NOW)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('refuses an expired token, at the second of expiry', () => {
    const expiresAt = NOW + HOUR;
    const token = signer.sign('prop_1', 'approve', expiresAt);
    expect(signer.verify(token, 'approve', expiresAt - 1).ok).toBe(true);
    const check = signer.verify(token, 'approve', expiresAt);
    expect(check).toMatchObject({ ok: false, reason: 'expired' });
    if (!check.ok) expect(check.message).toContain('expired at 2026-01-01T13:00:00.000Z');
  });

  it('refuses a token presented on the wrong decision route', () => {
    const approve = signer.sign('prop_1', 'approve', NOW + HOUR);
    const deny = signer.sign('prop_1', 'deny', NOW + HOUR);
    expect(signer.verify(approve, 'deny', NOW)).toMatchObject({ ok: false, reason: 'wrong-decision' });
    expect(signer.verify(deny, 'approve', NOW)).toMatchObject({ ok: false, reason: 'wrong-decision' });
    expect(signer.verify(deny, 'deny', NOW).ok).toBe(true);
  });

  it('refuses signed payloads that are not valid claims', () => {
    // An attacker cannot sign, but a bug or a key reuse could: the shape is checked after the MAC.
    const mac = (payload: string) => (signer as unknown as { mac(p: string): string }).mac(payload);
    for (const claims of [
      { v: 2, proposalId: 'p', decision: 'approve', exp: 2e9, jti: 'x' },
      { v: 1, proposalId: '../etc', decision: 'approve', exp: 2e9, jti: 'x' },
      { v: 1, proposalId: 'p', decision: 'run', exp: 2e9, jti: 'x' },
    ]) {
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      expect(signer.verify(`${payload}.${mac(payload)}`, 'approve', NOW)).toMatchObject({ ok: false, reason: 'malformed' });
    }
  });

  it('refuses a short secret and an invalid proposal id', () => {
    expect(() => new ApprovalSigner('short')).toThrow(RangeError);
    expect(() => signer.sign('../../etc/passwd', 'approve', NOW)).toThrow(RangeError);
    expect(ApprovalSigner.generateSecret().length).toBeGreaterThanOrEqual(43);
  });

  it('property: no forged, truncated, expired, replayed-elsewhere or cross-proposal token is accepted for the wrong proposal or decision', () => {
    const otherSigner = new ApprovalSigner('c'.repeat(32));
    const proposalId = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
    const decision = fc.constantFrom<Decision>('approve', 'deny');
    const attack = fc.oneof(
      fc.record({ kind: fc.constant('forged' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }), position: fc.nat() }),
      fc.record({ kind: fc.constant('truncated' as const), cut: fc.integer({ min: 1, max: 200 }) }),
      fc.record({ kind: fc.constant('expired' as const), age: fc.integer({ min: 0, max: 10 * 86_400_000 }) }),
      fc.record({ kind: fc.constant('other-key' as const) }),
      fc.record({ kind: fc.constant('cross' as const) }),
      fc.record({ kind: fc.constant('claims' as const), field: fc.constantFrom('proposalId', 'decision', 'exp', 'v'), value: fc.oneof(fc.string(), fc.integer(), fc.constant(null)) }),
      fc.record({ kind: fc.constant('noise' as const), text: fc.string({ maxLength: 300 }) }),
    );
    let accepted = 0;
    fc.assert(
      fc.property(proposalId, decision, decision, attack, (issuedFor, issuedDecision, route, scenario) => {
        const expiresAt = NOW + HOUR;
        const genuine = signer.sign(issuedFor, issuedDecision, expiresAt);
        let token = genuine;
        let now = NOW;
        switch (scenario.kind) {
          case 'forged': {
            const chars = token.split('');
            const index = scenario.position % chars.length;
            const replacement = Buffer.from(scenario.bytes).toString('base64url').slice(0, 4) || 'A';
            chars.splice(index, 1, replacement);
            token = chars.join('');
            if (token === genuine) return;
            break;
          }
          case 'truncated':
            token = genuine.slice(0, Math.max(0, genuine.length - scenario.cut));
            break;
          case 'expired':
            now = expiresAt + scenario.age;
            break;
          case 'other-key':
            token = otherSigner.sign(issuedFor, issuedDecision, expiresAt);
            break;
          case 'cross':
            break; // a genuine token presented on either route: it may only ever carry its own proposal and decision
          case 'claims':
            token = reencode(genuine, (claims) => (claims[scenario.field] = scenario.value));
            if (token === genuine) return;
            break;
          case 'noise':
            token = scenario.text;
            break;
        }
        const check = signer.verify(token, route, now);
        if (!check.ok) return;
        // Accepted: then it must be the genuine token, unexpired, for the route it was issued for,
        // and it can only ever decide the proposal it was issued for.
        expect(scenario.kind).toBe('cross');
        expect(check.claims.proposalId).toBe(issuedFor);
        expect(check.claims.decision).toBe(route);
        expect(route).toBe(issuedDecision);
        expect(now).toBeLessThan(expiresAt);
        accepted++;
      }),
      { numRuns: 10_000, seed: 20260101 },
    );
    // Sanity: the property really exercised accepted tokens (genuine ones on their own route).
    expect(accepted).toBeGreaterThan(0);
  });
});
