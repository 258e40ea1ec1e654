/** Price of a model in EUR per million tokens. */
export interface ClaudeModelPrice {
  /** EUR per million uncached input tokens. Cache writes cost 1.25x this, cache reads 0.1x. */
  inputEurPerMillion: number;
  /** EUR per million output tokens. */
  outputEurPerMillion: number;
}

/**
 * Anthropic's public list prices in USD per million tokens (input, output) for the models whose
 * price we could verify (https://www.anthropic.com/pricing, Claude API, standard tier; Sonnet 4.6 at
 * $3/$15 is also the figure the original fish deployment budgeted with). Keys are model id prefixes,
 * so dated ids (`claude-haiku-4-5-20251001`) match their family. Models not listed here (newer ones
 * included) are priced as the most expensive entry until you add them to `priceTable`.
 */
export const DEFAULT_PRICES_USD: Readonly<Record<string, { input: number; output: number }>> = {
  'claude-opus-4-5': { input: 5, output: 25 },
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-opus-4': { input: 15, output: 75 },
  'claude-sonnet-4-6': { input: 3, output: 15 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-sonnet-4': { input: 3, output: 15 },
  'claude-haiku-4-5': { input: 1, output: 5 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
};

/** EUR for one USD used to convert the default prices. Set `usdToEur` to your rate. */
export const DEFAULT_USD_TO_EUR = 0.86;

/** Multipliers of the input price for prompt-cache writes (5-minute TTL) and reads. */
export const CACHE_WRITE_MULTIPLIER = 1.25;
export const CACHE_READ_MULTIPLIER = 0.1;

export function defaultPriceTable(usdToEur: number = DEFAULT_USD_TO_EUR): Record<string, ClaudeModelPrice> {
  return Object.fromEntries(Object.entries(DEFAULT_PRICES_USD).map(([model, price]) => [model, { inputEurPerMillion: price.input * usdToEur, outputEurPerMillion: price.output * usdToEur }]));
}

/**
 * Finds a model's price: the exact id, else the longest key the id starts with. An unknown model is
 * priced as the most expensive entry (so the budget guard over-reserves rather than under) and
 * reported as `unknown`.
 */
export function lookupPrice(table: Readonly<Record<string, ClaudeModelPrice>>, model: string): { price: ClaudeModelPrice; known: boolean } {
  const exact = table[model];
  if (exact) return { price: exact, known: true };
  const prefix = Object.keys(table)
    .filter((key) => model.startsWith(`${key}-`) || model.startsWith(`${key}@`))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix !== undefined) return { price: table[prefix]!, known: true };
  let highest: ClaudeModelPrice = { inputEurPerMillion: 0, outputEurPerMillion: 0 };
  for (const price of Object.values(table)) {
    if (price.inputEurPerMillion + price.outputEurPerMillion > highest.inputEurPerMillion + highest.outputEurPerMillion) highest = price;
  }
  return { price: highest, known: false };
}

export interface ClaudeTokenCounts {
  inputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  outputTokens: number;
}

export function costEur(price: ClaudeModelPrice, tokens: ClaudeTokenCounts): number {
  const input =
    tokens.inputTokens * price.inputEurPerMillion +
    tokens.cacheCreationInputTokens * price.inputEurPerMillion * CACHE_WRITE_MULTIPLIER +
    tokens.cacheReadInputTokens * price.inputEurPerMillion * CACHE_READ_MULTIPLIER;
  return (input + tokens.outputTokens * price.outputEurPerMillion) / 1_000_000;
}
