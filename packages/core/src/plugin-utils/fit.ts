/**
 * Cuts `text` to at most `maxBytes` bytes of UTF-8 without splitting a character (nor a pair of
 * UTF-16 surrogates), for channels that count bytes (ntfy's message limit, Telegram's 4096).
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const character of text) {
    const size = Buffer.byteLength(character, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += character.length;
  }
  return text.slice(0, end);
}

/**
 * Fits a message into a channel's byte limit: unchanged when it fits, otherwise cut on a character
 * boundary and ended with `marker` (which counts against the limit), so a reader sees it was cut.
 */
export function fit(text: string, maxBytes: number, marker = '…'): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const room = maxBytes - Buffer.byteLength(marker, 'utf8');
  if (room <= 0) return truncateUtf8(marker, maxBytes);
  return `${truncateUtf8(text, room)}${marker}`;
}
