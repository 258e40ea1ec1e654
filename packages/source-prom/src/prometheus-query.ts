// One Prometheus instant query over the HTTP API: the request, the answer's envelope and its series.
import { z } from 'zod';
import { FishError, FishErrorCode, describeError, errorMessage, formatZodIssues, readJson, redactSecrets } from '@fish-sre/core';

export const SCOPE = 'prometheus';

/** One PromQL sample value: Prometheus sends strings because of `NaN`, `+Inf`, `-Inf`. */
export function parseSampleValue(value: string): number {
  if (value === 'NaN') return Number.NaN;
  if (value === '+Inf' || value === 'Inf') return Number.POSITIVE_INFINITY;
  if (value === '-Inf') return Number.NEGATIVE_INFINITY;
  const number = Number(value);
  return number;
}

const Sample = z.tuple([z.number(), z.string()]);
const Envelope = z.object({
  status: z.enum(['success', 'error']),
  data: z.unknown().optional(),
  errorType: z.string().optional(),
  error: z.string().optional(),
  warnings: z.array(z.string()).optional(),
  infos: z.array(z.string()).optional(),
});
const QueryData = z.discriminatedUnion('resultType', [
  z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: z.record(z.string(), z.string()).default({}), value: Sample.optional(), histogram: z.unknown().optional() })) }),
  z.object({ resultType: z.literal('scalar'), result: Sample }),
  z.object({ resultType: z.literal('string'), result: z.tuple([z.number(), z.string()]) }),
  z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
]);

export interface InstantSeries {
  labels: Record<string, string>;
  value: number;
  raw: string;
  time: number;
}

export interface InstantQueryResult {
  series: InstantSeries[];
  warnings: string[];
}

/** Runs one instant query (POST form) and returns its series, or throws a FishError naming the cause. */
export async function prometheusInstantQuery(options: {
  baseUrl: string;
  query: string;
  headers: Record<string, string>;
  timeoutMs: number;
  fetch: typeof globalThis.fetch;
  signal?: AbortSignal;
  clean?: (text: string) => string;
}): Promise<InstantQueryResult> {
  const clean = options.clean ?? redactSecrets;
  const body = new URLSearchParams({ query: options.query, timeout: `${Math.max(1, Math.round(options.timeoutMs / 1000))}s` });
  const where = `query ${JSON.stringify(options.query)} at ${options.baseUrl}`;
  const signals = [AbortSignal.timeout(options.timeoutMs + 1000)];
  if (options.signal) signals.push(options.signal);
  let response: Response;
  try {
    response = await options.fetch(`${options.baseUrl}/api/v1/query`, {
      method: 'POST',
      headers: { ...options.headers, 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body,
      signal: AbortSignal.any(signals),
    });
  } catch (error) {
    throw new FishError({ code: FishErrorCode.SOURCE_UNREACHABLE, message: errorMessage(SCOPE, `${where} failed: ${clean(describeError(error))}`), cause: error, isRetryable: true });
  }
  // A proxy in front of Prometheus (502 page, auth portal) answers HTML or text.
  const json = await readJson(response, {
    scope: SCOPE,
    what: where,
    expected: 'Prometheus JSON',
    errorCode: FishErrorCode.SOURCE_PROTOCOL,
    unavailableCode: FishErrorCode.SOURCE_UNREACHABLE,
    redact: clean,
  });
  const envelope = Envelope.safeParse(json);
  if (!envelope.success) {
    throw new FishError({
      code: FishErrorCode.SOURCE_PROTOCOL,
      message: errorMessage(SCOPE, `${where} answered an unexpected shape: ${formatZodIssues(envelope.error.issues)}`),
      details: { status: response.status },
    });
  }
  if (envelope.data.status === 'error') {
    const errorType = envelope.data.errorType ?? 'unknown';
    throw new FishError({
      code: errorType === 'bad_data' || errorType === 'execution' ? FishErrorCode.SOURCE_PROTOCOL : FishErrorCode.SOURCE_UNREACHABLE,
      message: errorMessage(SCOPE, `${where} failed (HTTP ${response.status}, ${errorType}): ${clean(envelope.data.error ?? 'no error message')}`),
      isRetryable: ['timeout', 'unavailable', 'internal', 'canceled'].includes(errorType),
      details: { status: response.status, errorType },
    });
  }
  const data = QueryData.safeParse(envelope.data.data);
  if (!data.success) {
    throw new FishError({ code: FishErrorCode.SOURCE_PROTOCOL, message: errorMessage(SCOPE, `${where} answered unexpected data: ${formatZodIssues(data.error.issues)}`) });
  }
  const warnings = [...(envelope.data.warnings ?? [])];
  const series: InstantSeries[] = [];
  const result = data.data;
  if (result.resultType === 'vector') {
    for (const item of result.result) {
      if (!item.value) {
        warnings.push('native histogram series skipped (no plain value)');
        continue;
      }
      series.push({ labels: item.metric, value: parseSampleValue(item.value[1]), raw: item.value[1], time: item.value[0] * 1000 });
    }
  } else if (result.resultType === 'scalar') {
    series.push({ labels: {}, value: parseSampleValue(result.result[1]), raw: result.result[1], time: result.result[0] * 1000 });
  } else {
    warnings.push(`result type ${result.resultType} is not a number per series; use an instant vector or scalar query`);
  }
  return { series, warnings };
}
