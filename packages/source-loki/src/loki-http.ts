// Loki's HTTP API: query_range pages (back-fill, dropped-line recovery, check) and its error answers.
import { FishError, FishErrorCode, describeError, errorMessage, formatZodIssues, readJson } from '@fish-sre/core';
import { z } from 'zod';
import { addsLineLabels, entriesOf, noteUncategorized, StreamSchema, type Entry } from './loki-labels.js';
import { SCOPE, type LokiRuntime } from './loki-runtime.js';

const QueryRangeSchema = z.object({
  status: z.literal('success'),
  data: z.object({ resultType: z.literal('streams'), result: z.array(StreamSchema), encodingFlags: z.array(z.string()).nullish() }),
});

export const httpError = async (rt: LokiRuntime, response: Response, what: string): Promise<FishError> => {
  const body = rt.clean((await response.text().catch(() => '')).trim());
  const status = response.status;
  const hint = status === 401 ? ' (Loki needs a tenant: set `tenant`, sent as X-Scope-OrgID, or check the credentials of the proxy)' : status === 400 ? ' (check the LogQL query and the limits)' : '';
  return new FishError({
    code: status >= 500 || status === 429 ? FishErrorCode.SOURCE_UNREACHABLE : FishErrorCode.SOURCE_PROTOCOL,
    message: errorMessage(SCOPE, `${what} at ${rt.baseUrl} failed with HTTP ${status}: ${body || '(empty body)'}${hint}`),
    isRetryable: status >= 500 || status === 429,
    details: { status },
  });
};

export const queryRange = async (rt: LokiRuntime, start: bigint, end: bigint, signal: AbortSignal): Promise<Entry[]> => {
  const params = new URLSearchParams({
    query: rt.config.query,
    start: start.toString(),
    end: end.toString(),
    limit: String(rt.config.limit),
    direction: 'forward',
  });
  let response: Response;
  try {
    response = await rt.fetchImpl(`${rt.baseUrl}/loki/api/v1/query_range?${params}`, {
      headers: rt.headers,
      signal: AbortSignal.any([signal, AbortSignal.timeout(rt.config.requestTimeout)]),
    });
  } catch (error) {
    throw new FishError({
      code: FishErrorCode.SOURCE_UNREACHABLE,
      message: errorMessage(SCOPE, `query_range at ${rt.baseUrl} failed: ${rt.clean(describeError(error))}`),
      cause: error,
      isRetryable: true,
    });
  }
  if (!response.ok) throw await httpError(rt, response, 'query_range');
  const json = await readJson(response, { scope: SCOPE, what: `query_range at ${rt.baseUrl}`, errorCode: FishErrorCode.SOURCE_PROTOCOL, redact: rt.clean });
  const parsed = QueryRangeSchema.safeParse(json);
  if (!parsed.success) {
    throw new FishError({
      code: FishErrorCode.SOURCE_PROTOCOL,
      message: errorMessage(SCOPE, `query_range at ${rt.baseUrl} answered an unexpected shape: ${formatZodIssues(parsed.error.issues)}`),
      isRetryable: true,
    });
  }
  const categorized = parsed.data.data.encodingFlags?.includes('categorize-labels') ?? false;
  noteUncategorized(rt, categorized);
  const entries = entriesOf(parsed.data.data.result, categorized, rt.config.categorizeLabels, addsLineLabels(rt.config.query));
  // Streams come grouped; merge them into one timestamp order (stable for equal timestamps).
  entries.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  return entries;
};
