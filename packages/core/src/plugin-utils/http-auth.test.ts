import { describe, expect, it } from 'vitest';
import { HttpAuthSchema, httpAuthorization } from './http-auth.js';

describe('HTTP auth options', () => {
  it('builds the Basic header from user and password (RFC 7617: base64 of user:password)', () => {
    const { headers, secrets } = httpAuthorization({ type: 'basic', username: 'fish', password: 'päss:word' });
    expect(headers).toEqual({ Authorization: `Basic ${Buffer.from('fish:päss:word', 'utf8').toString('base64')}` });
    expect(Buffer.from(headers.Authorization!.slice(6), 'base64').toString('utf8')).toBe('fish:päss:word');
    expect(secrets).toEqual(['päss:word']);
  });

  it('builds the Bearer header, and nothing without auth', () => {
    expect(httpAuthorization({ type: 'bearer', token: 'glc_abcdef' })).toEqual({ headers: { Authorization: 'Bearer glc_abcdef' }, secrets: ['glc_abcdef'] });
    expect(httpAuthorization(undefined)).toEqual({ headers: {}, secrets: [] });
  });

  it('does not list a secret too short to redact safely', () => {
    expect(httpAuthorization({ type: 'basic', username: 'a', password: 'x' }).secrets).toEqual([]);
  });

  it('refuses a misspelt key and an unknown type', () => {
    expect(HttpAuthSchema.safeParse({ type: 'bearer', tokne: 'x' }).success).toBe(false);
    expect(HttpAuthSchema.safeParse({ type: 'digest', username: 'a', password: 'b' }).success).toBe(false);
    expect(HttpAuthSchema.safeParse({ type: 'bearer', token: '' }).success).toBe(false);
  });
});
