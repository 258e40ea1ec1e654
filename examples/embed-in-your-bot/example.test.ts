import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

// The example is run as a user would run it, so it cannot rot.
it('runs the embedding example end to end', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [new URL('./index.mjs', import.meta.url).pathname], { timeout: 60_000 });
  expect(stdout).toMatch(/\[chat\] 🐟 Compose stack still down after a reboot on penny \(100%\)/);
  expect(stdout).toMatch(/\[bot\] decision: approved — approved: the fix runs on penny now/);
  expect(stdout).toMatch(/\[bot\] pressed twice: already-decided — already approved at \d\d:\d\d UTC by owner@my-chat/);
  expect(stdout).toMatch(/\[bot\] execution succeeded: run exit 0, verify exit 0/);
}, 90_000);
