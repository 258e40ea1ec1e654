/**
 * The Node.js versions fish-sre runs on. Checked by the CLI before anything else is loaded: an
 * older Node crashes (segfault) as soon as the SQLite driver opens a database, so it is refused
 * with one line saying what was found, what is needed and how to get it.
 */
export const MINIMUM_NODE_MAJOR = 22;

/** The refusal for an unsupported Node version, or undefined when this one is supported. */
export function unsupportedNode(version: string): string | undefined {
  const major = Number(version.split('.')[0]);
  if (Number.isInteger(major) && major >= MINIMUM_NODE_MAJOR) return undefined;
  return `fish-sre: Node.js ${version} is not supported; fish-sre needs Node.js ${MINIMUM_NODE_MAJOR} or newer (24 recommended): install it from https://nodejs.org or with your version manager (e.g. \`nvm install 24\`), then run fish-sre with it.`;
}
