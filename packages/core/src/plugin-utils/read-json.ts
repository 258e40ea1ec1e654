import { FishError, type FishErrorCode, errorMessage } from '../errors.js';

/** How `readJson` words and classifies an answer that is not JSON. */
export interface ReadJsonOptions {
  /** Names the plugin at the start of the error message (`[fish-sre] [loki] ...`). */
  scope: string;
  /** What was asked, in the error message: `query_range at http://loki:3100`. */
  what: string;
  /** What the body should have been, in the error message. @default 'JSON' */
  expected?: string;
  /** Code of the FishError when the body is not JSON. */
  errorCode: FishErrorCode;
  /**
   * Code when the answer was a 5xx or 429 that is not JSON (a proxy's error page in front of a
   * server that is down): the server is unreachable for now, not speaking another protocol.
   * @default errorCode
   */
  unavailableCode?: FishErrorCode;
  /** Applied to the start of the body quoted in the message (credentials the plugin knows). @default identity */
  redact?: (text: string) => string;
}

/**
 * Reads an HTTP answer's body and parses it as JSON. A body that is not JSON (an HTML page from a
 * proxy, an auth portal, an empty body) becomes a FishError that names what was asked, the HTTP
 * status and the first 200 characters of the body, redacted. A 5xx or 429 answer is retryable and
 * carries `unavailableCode`; any other one carries `errorCode` and is not retryable. Both carry
 * `details.status`.
 * @returns the parsed JSON, still to be validated by the caller
 * @throws FishError when the body is not JSON
 */
export async function readJson(response: Pick<Response, 'status' | 'text'>, options: ReadJsonOptions): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const status = response.status;
    const unavailable = status >= 500 || status === 429;
    const quoted = (options.redact ?? ((body: string) => body))(text.trim().slice(0, 200)) || '(empty body)';
    throw new FishError({
      code: unavailable ? (options.unavailableCode ?? options.errorCode) : options.errorCode,
      message: errorMessage(options.scope, `${options.what} answered HTTP ${status} with something that is not ${options.expected ?? 'JSON'}: ${quoted}`),
      isRetryable: unavailable,
      details: { status },
    });
  }
}
