#!/usr/bin/env node
// The entry point checks the Node version first and only then loads the CLI (and with it the
// native SQLite driver), so an unsupported Node gets one clear line instead of a segfault.
import { unsupportedNode } from './node-version.js';

const refusal = unsupportedNode(process.versions.node);
if (refusal) {
  process.stderr.write(`${refusal}\n`);
  process.exit(1);
}
await import('./main.js');
