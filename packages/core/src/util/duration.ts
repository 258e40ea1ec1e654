const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses `500ms`, `30s`, `5m`, `1h30m`, `2d`, or a bare number of seconds, into milliseconds.
 * Returns undefined for anything else, so the caller can say where the bad value was.
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const parts = text.match(/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/) ? text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g) : undefined;
  if (!parts) return undefined;
  let total = 0;
  for (const [, amount, unit] of parts) total += Number(amount) * UNITS[unit as string]!;
  return total;
}

export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${Math.round(milliseconds)}ms`;
  if (milliseconds < 60_000) return `${+(milliseconds / 1000).toFixed(1)}s`;
  if (milliseconds < 3_600_000) return `${+(milliseconds / 60_000).toFixed(1)}m`;
  return `${+(milliseconds / 3_600_000).toFixed(1)}h`;
}
