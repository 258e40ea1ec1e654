import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LLMStreamPart } from '@fish-sre/core';
import { startProxmoxServer, type ProxmoxTestServer } from '@fish-sre/testkit';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxmoxPowerBackend } from '../src/power/proxmox-power-backend.js';
import { startBreakglass, type RunningBreakglass } from '../src/server.js';
import { quoteArgv, sshExec } from '../src/ssh/ssh-exec.js';
import { TEST_TOKEN, scriptedProvider, sleep, testConfig } from './helpers.js';
import { generateKey, startSshd, type TestSshd } from './sshd.js';

/**
 * The whole console in headless Chromium at phone size: login, a preset, a streamed answer, a
 * read-only command run at once on a real sshd, an approval, a dropped connection mid-stream
 * (cut at a TCP proxy) and its resume without duplicated text, Stop, and a confirmed `cycle`
 * against the Proxmox test server.
 */

const ARTIFACTS = new URL('../../../test-artifacts/breakglass/', import.meta.url).pathname;
const LONG_ANSWER =
  'The disk is fine; the journal was the problem. I vacuumed nothing yet: first, the summary. ' +
  'Root filesystem usage is normal, memory is normal, and no unit has failed. ' +
  'The marker file was created as you approved, which proves the command ran on the VM. ' +
  'Watch the journal size over the next hour; if it grows past 2 GB again, set SystemMaxUse=1G.';
const STOP_ANSWER = 'I will keep checking every service one by one, slowly, so that you can press Stop. '.repeat(6);

/** A TCP proxy between the browser and breakglass whose live connections can be cut at once. */
function startCuttableProxy(targetPort: number): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as { port: number }).port,
        cut: () => {
          for (const socket of sockets) socket.destroy();
          sockets.clear();
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      }),
    ),
  );
}

let sshd: TestSshd;
let proxmox: ProxmoxTestServer;
let app: RunningBreakglass;
let proxy: Awaited<ReturnType<typeof startCuttableProxy>>;
let browser: Browser;
let page: Page;
let dataDir: string;
let marker: string;
const browserErrors: string[] = [];
const gate = { releaseLong: undefined as (() => void) | undefined };

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  dataDir = await mkdtemp(join(tmpdir(), 'bg-e2e-'));
  let agentKey: Buffer | undefined;
  sshd = await startSshd(async (dir) => {
    const key = await generateKey(dir, 'agent_key');
    agentKey = key.privateKey;
    return [`restrict ${key.publicKey}`];
  });
  marker = join(sshd.dir, 'approved-marker');
  proxmox = await startProxmoxServer({ authFailureDelayMs: 50, taskPolls: 2, vmName: 'devvm' });

  const provider = scriptedProvider((request, call): AsyncIterable<LLMStreamPart> => {
    const signal = request.signal;
    return (async function* () {
      if (call === 1) {
        for (const word of 'Checking disk and load first.'.split(/(?<= )/)) {
          await sleep(40, signal);
          yield { type: 'text-delta', text: word };
        }
        yield { type: 'tool-call', toolCallId: 'toolu_df', toolName: 'run_command', input: { argv: ['df', '-h'] } };
        yield { type: 'tool-call', toolCallId: 'toolu_touch', toolName: 'run_command', input: { argv: ['touch', marker] } };
        yield { type: 'usage', usage: { inputTokens: 1200, outputTokens: 80, costEur: 0.004 } };
        yield { type: 'finish', finishReason: 'tool-calls', model: 'scripted-1' };
        return;
      }
      if (call === 2) {
        // Hold the stream mid-answer until the test has cut the connection.
        const words = LONG_ANSWER.split(/(?<= )/);
        for (const [index, word] of words.entries()) {
          if (index === 12) await new Promise<void>((resolve) => (gate.releaseLong = resolve));
          await sleep(15, signal);
          yield { type: 'text-delta', text: word };
        }
        yield { type: 'finish', finishReason: 'stop', model: 'scripted-1' };
        return;
      }
      for (const word of STOP_ANSWER.split(/(?<= )/)) {
        await sleep(120, signal);
        yield { type: 'text-delta', text: word };
      }
      yield { type: 'finish', finishReason: 'stop', model: 'scripted-1' };
    })();
  });

  app = await startBreakglass({
    config: testConfig({ BREAKGLASS_DATA_DIR: dataDir, BREAKGLASS_VM_NAME: 'devvm', BREAKGLASS_TARGET_HOST: sshd.host, BREAKGLASS_TARGET_USER: sshd.user }),
    provider,
    // The built UI (npm test builds first; run `npm run build -w @fish-sre/breakglass` otherwise).
    webRoot: new URL('../dist/web', import.meta.url).pathname,
    runCommand: (argv, options) =>
      sshExec({ host: sshd.host, port: sshd.port, user: sshd.user, privateKey: agentKey!, hostKeySha256: sshd.hostKeyFingerprint }, quoteArgv(argv), { timeoutMs: options.timeoutMs, outputLimitBytes: 32_768, signal: options.signal }),
    powerBackend: createProxmoxPowerBackend({ host: proxmox.host, port: proxmox.port, tokenId: proxmox.tokenId, tokenSecret: proxmox.tokenSecret, fingerprintSha256: proxmox.fingerprint256, node: proxmox.node, vmid: proxmox.vmid, pollMs: 50 }),
  });
  proxy = await startCuttableProxy(app.port);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  page = await context.newPage();
  page.on('pageerror', (error) => browserErrors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') browserErrors.push(`console: ${message.text()}`);
  });
}, 60_000);

afterAll(async () => {
  if (browserErrors.length > 0) process.stderr.write(`browser errors:\n${browserErrors.join('\n')}\n`);
  gate.releaseLong?.();
  await browser?.close();
  await proxy?.close();
  await app?.close();
  await proxmox?.close();
  await sshd?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
const base = () => `http://127.0.0.1:${proxy.port}`;

describe('breakglass in a phone-sized Chromium', () => {
  it('signs in, runs a preset, approves a command and shows its output from a real sshd', async () => {
    await page.goto(`${base()}/`);
    expect(page.url()).toBe(`${base()}/login`);
    await shot('00-login');
    await page.fill('#token', TEST_TOKEN);
    await Promise.all([page.waitForURL(`${base()}/`), page.click('button[type=submit]')]);
    await page.waitForSelector('.conn.live');
    await page.getByText('What is broken?').waitFor();
    await shot('01-empty');

    await page.getByRole('button', { name: 'Triage' }).tap();
    await page.getByText('Checking disk and load first.').waitFor();
    const run = page.getByRole('button', { name: 'Run', exact: true });
    await run.waitFor();
    // The read-only df ran at once on the real sshd: its output is on screen before any tap.
    await expect.poll(async () => page.locator('[data-call="toolu_df"] pre').textContent()).toMatch(/Filesystem/);
    await expect.poll(async () => page.locator('[data-call="toolu_touch"] .cmdline').textContent()).toBe(`$ touch ${marker}`);
    expect(existsSync(marker)).toBe(false);
    await shot('02-approval');

    await run.tap();
    await expect.poll(() => existsSync(marker)).toBe(true);
    await page.locator('[data-call="toolu_touch"] .badge', { hasText: 'done' }).waitFor();
    // Every command and its output is in the transcript.
    const events = app.sessions.list()[0]!;
    const session = app.sessions.get(events.id)!;
    expect(session.events.filter((event) => event.type === 'tool-result').map((event) => (event.type === 'tool-result' ? event.callId : ''))).toEqual(['toolu_df', 'toolu_touch']);
    expect(session.events.some((event) => event.type === 'approval' && event.decision === 'run')).toBe(true);
  });

  it('loses the connection mid-stream and resumes with no duplicated text', async () => {
    await expect.poll(() => gate.releaseLong !== undefined, { timeout: 10_000 }).toBe(true);
    const partial = (await page.locator('.msg.assistant').last().textContent()) ?? '';
    expect(LONG_ANSWER.startsWith(partial)).toBe(true);
    expect(partial.length).toBeGreaterThan(10);
    proxy.cut();
    await page.waitForSelector('.conn.reconnecting', { timeout: 5000 });
    await shot('03-reconnecting');
    gate.releaseLong!();
    await page.waitForSelector('.conn.live', { timeout: 15_000 });
    await expect.poll(async () => page.locator('.msg.assistant').last().textContent(), { timeout: 15_000 }).toBe(LONG_ANSWER);
    const all = await page.locator('.msg.assistant').allTextContents();
    expect(all.filter((text) => text.includes('Watch the journal size'))).toHaveLength(1);
    await page.getByRole('button', { name: 'Send' }).waitFor();
    await shot('04-resumed');
  });

  it('stops a running turn with the Stop button', async () => {
    await page.fill('#prompt', 'Check every service');
    await page.getByRole('button', { name: 'Send' }).tap();
    const stop = page.getByRole('button', { name: 'Stop' });
    await stop.waitFor();
    await page.getByText('I will keep checking').waitFor();
    await shot('05-running');
    await stop.tap();
    await page.getByText('turn stopped').waitFor();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    const text = (await page.locator('.msg.assistant').last().textContent()) ?? '';
    expect(text.length).toBeLessThan(STOP_ANSWER.length);
    await shot('06-stopped');
  });

  it('power-cycles the VM from the VM sheet after a confirm, through the Proxmox API', async () => {
    await page.getByRole('button', { name: /VM controls/ }).tap();
    await page.locator('.pill.running').waitFor();
    await shot('07-vm-sheet');
    const before = proxmox.tasks.length;
    await page.getByRole('button', { name: 'Power-cycle (stop + start)' }).tap();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    await shot('08-confirm');
    expect(proxmox.tasks.length).toBe(before);
    await dialog.getByRole('button', { name: 'Yes, cycle' }).tap();
    await page.getByText('cycle: OK').waitFor({ timeout: 20_000 });
    expect(proxmox.tasks.slice(before).map((task) => [task.type, task.exitstatus])).toEqual([['qmstop', 'OK'], ['qmstart', 'OK']]);
    await shot('09-cycled');
  });
});
