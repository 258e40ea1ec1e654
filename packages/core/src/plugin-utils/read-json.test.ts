import { describe, expect, it } from 'vitest';
import { FishError, FishErrorCode } from '../errors.js';
import { readJson } from './read-json.js';

const options = { scope: 'demo', what: 'query at http://127.0.0.1:9', errorCode: FishErrorCode.SOURCE_PROTOCOL };

describe('readJson', () => {
  it('returns the parsed body of a JSON answer, whatever its status', async () => {
    expect(await readJson(new Response('{"status":"success","data":[1]}'), options)).toEqual({ status: 'success', data: [1] });
    expect(await readJson(new Response('{"status":"error"}', { status: 400 }), options)).toEqual({ status: 'error' });
  });

  it('names what was asked, the status and the start of a body that is not JSON, redacted; a 2xx one is not retryable', async () => {
    const body = `<html>login with token=s3cr3t ${'x'.repeat(400)}</html>`;
    const error = await readJson(new Response(body, { status: 200 }), { ...options, redact: (text) => text.replaceAll('s3cr3t', '[redacted]') }).catch((caught: unknown) => caught);
    expect(FishError.hasCode(error, FishErrorCode.SOURCE_PROTOCOL)).toBe(true);
    const message = (error as FishError).message;
    expect(message).toBe(`[fish-sre] [demo] query at http://127.0.0.1:9 answered HTTP 200 with something that is not JSON: ${body.slice(0, 200).replace('s3cr3t', '[redacted]')}`);
    expect(message).not.toContain('s3cr3t');
    expect((error as FishError).isRetryable).toBe(false);
    expect((error as FishError).details).toEqual({ status: 200 });
  });

  it('treats a 5xx or 429 page as the server being unavailable: retryable, with unavailableCode when given', async () => {
    const bad = await readJson(new Response('<h1>502 Bad Gateway</h1>', { status: 502 }), { ...options, expected: 'Prometheus JSON', unavailableCode: FishErrorCode.SOURCE_UNREACHABLE }).catch(
      (caught: unknown) => caught,
    );
    expect(FishError.hasCode(bad, FishErrorCode.SOURCE_UNREACHABLE)).toBe(true);
    expect((bad as FishError).message).toContain('answered HTTP 502 with something that is not Prometheus JSON: <h1>502 Bad Gateway</h1>');
    expect((bad as FishError).isRetryable).toBe(true);
    const busy = await readJson(new Response('slow down', { status: 429 }), options).catch((caught: unknown) => caught);
    expect(FishError.hasCode(busy, FishErrorCode.SOURCE_PROTOCOL)).toBe(true);
    expect((busy as FishError).isRetryable).toBe(true);
  });

  it('says so when the body is empty', async () => {
    const error = await readJson(new Response('', { status: 403 }), options).catch((caught: unknown) => caught);
    expect((error as FishError).message).toMatch(/answered HTTP 403 with something that is not JSON: \(empty body\)$/);
    expect((error as FishError).isRetryable).toBe(false);
  });
});
