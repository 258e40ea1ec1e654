import { describe, expect, it } from 'vitest';
import { createSecretRedactor, redactError, redactSecrets } from './redact.js';

describe('redactSecrets', () => {
  it.each([
    ['Authorization: Bearer abcdefghijklmnop', 'abcdefghijklmnop'],
    ['curl -H "authorization: Basic dXNlcjpwYXNz"', 'dXNlcjpwYXNz'],
    ['postgres://fish:hunter2@db:5432/fish', 'hunter2'],
    ['login failed password=s3cr3t! for user', 's3cr3t!'],
    ['env DB_PASSWORD=pg-s3cret POSTGRES_USER=fish', 'pg-s3cret'],
    ['GF_SECURITY_ADMIN_PASSWORD: "graf4na!"', 'graf4na!'],
    ['header x-api-key: abcdef123456', 'abcdef123456'],
    ['{"api_key": "k-123456789"}', 'k-123456789'],
    ['key sk-ant-api03-AAAAAAAAAAAAAAAAAAAA used', 'sk-ant-api03-AAAAAAAAAAAAAAAAAAAA'],
    ['PVEAPIToken=root@pam!fish=0b5d2c4e-1111-2222-3333-444455556666', '0b5d2c4e-1111-2222-3333-444455556666'],
    ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c', 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'],
    ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----', 'b3BlbnNzaC1rZXktdjEAAAAA'],
  ])('hides the secret in %j', (input, secret) => {
    const output = redactSecrets(input);
    expect(output).not.toContain(secret);
    expect(output).toContain('[REDACTED');
  });

  it('leaves ordinary log lines alone', () => {
    const line = 'level=error msg="container homepage exited with code 137" host=penny';
    expect(redactSecrets(line)).toBe(line);
  });

  it('redacts configured literal secrets wherever they appear', () => {
    const redact = createSecretRedactor(['my-ntfy-token-xyz']);
    expect(redact('sending with my-ntfy-token-xyz now')).toBe('sending with [REDACTED] now');
  });
});

describe('redactError', () => {
  it('keeps the name, redacts the message and the stack, and drops everything else the error carries', () => {
    const redact = createSecretRedactor(['k-0123456789']);
    const original = Object.assign(new TypeError('request with key k-0123456789 refused'), { headers: { 'x-api-key': 'k-0123456789' }, body: 'echo k-0123456789' });
    const copy = redactError(original, redact);
    expect(copy).toBeInstanceOf(Error);
    expect(copy.name).toBe('TypeError');
    expect(copy.message).toBe('request with key [REDACTED] refused');
    expect(copy.stack).toContain('request with key [REDACTED] refused');
    expect(JSON.stringify({ ...copy, stack: copy.stack, message: copy.message })).not.toContain('k-0123456789');
    expect(Object.keys(copy)).toEqual(['name']);
  });

  it('describes what is not an Error (a thrown string), redacted', () => {
    const copy = redactError('token=abcdef123456 rejected', redactSecrets);
    expect(copy.name).toBe('Error');
    expect(copy.message).toBe('token=[REDACTED] rejected');
  });
});
