import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSshPool, type SshPool } from '@fish-sre/exec-ssh';
import { createClaudeProvider } from '@fish-sre/llm-claude';
import { anthropicMessage, anthropicStreamEvents, startAnthropicServer, startProxmoxServer, startTestSshd, type AnthropicTestServer, type ProxmoxTestServer, type TestSshd } from '@fish-sre/testkit';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxmoxPowerBackend } from '../src/power/proxmox-power-backend.js';
import { startBreakglass, type RunningBreakglass } from '../src/server.js';
import { TEST_TOKEN, testConfig } from './helpers.js';

/**
 * The whole console in headless Chromium at phone size, with the real pieces wired as in
 * production: @fish-sre/llm-claude streaming from testkit's Anthropic server, commands over
 * @fish-sre/exec-ssh to a real OpenSSH sshd, power verbs through the Proxmox test server.
 * Login, a preset, a streamed answer, a read-only command run at once, an approval, a dropped
 * connection mid-turn (cut at a TCP proxy) and its resume without duplicated text, Stop, and a
 * confirmed `cycle`.
 */

const ARTIFACTS = new URL('../../../test-artifacts/breakglass/', import.meta.url).pathname;
const FIRST_TEXT = 'Checking disk and load first.';
const PART_A = 'Disk and marker are fine. Let me look at the load before I conclude.';
const PART_B = 'Load is normal and no unit has failed. The journal was the problem: ' + 'watch its size over the next hour; if it grows past 2 GB again, set SystemMaxUse=1G.';
const STOP_TEXT = 'I will keep checking every service one by one, slowly, so that you can press Stop. ';

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
let anthropic: AnthropicTestServer;
let pool: SshPool;
let proxmox: ProxmoxTestServer;
let app: RunningBreakglass;
let proxy: Awaited<ReturnType<typeof startCuttableProxy>>;
let browser: Browser;
let page: Page;
let dataDir: string;
let marker: string;
const browserErrors: string[] = [];

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  dataDir = await mkdtemp(join(tmpdir(), 'bg-e2e-'));
  sshd = await startTestSshd();
  marker = join(dataDir, 'approved-marker');
  proxmox = await startProxmoxServer({ authFailureDelayMs: 50, taskPolls: 2, vmName: 'devvm' });
  pool = createSshPool({ targets: { vm: { host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, hostKey: { fingerprint: sshd.hostKeyFingerprint } } } });
  const tool = (id: string, argv: string[]) => ({ type: 'tool_use' as const, id, name: 'run_command', input: { argv } });
  anthropic = await startAnthropicServer({
    apiKey: 'sk-ant-test-breakglass',
    script: [
      {
        type: 'message',
        chunkSize: 4,
        message: anthropicMessage({ content: [{ type: 'text', text: FIRST_TEXT }, tool('toolu_df', ['df', '-h']), tool('toolu_touch', ['touch', marker])], inputTokens: 1200, outputTokens: 80 }),
      },
      { type: 'message', chunkSize: 4, message: anthropicMessage({ content: [{ type: 'text', text: PART_A }, tool('toolu_uptime', ['uptime'])] }) },
      // The answer is held back while the test cuts the phone's connection: it arrives while the browser is away.
      // biome-ignore lint/suspicious/noThenProperty: the test server's step format names its continuation `then`; the step is data, never awaited.
      { type: 'delay', delayMs: 2500, then: { type: 'message', chunkSize: 4, message: anthropicMessage({ content: [{ type: 'text', text: PART_B }] }) } },
      // A stream that starts and then stays open: only Stop ends this turn.
      { type: 'events', holdOpen: true, events: anthropicStreamEvents(anthropicMessage({ content: [{ type: 'text', text: STOP_TEXT }] }), 6).slice(0, 8) },
    ],
  });
  const provider = createClaudeProvider({ apiKey: 'sk-ant-test-breakglass', baseURL: anthropic.url, maxRetries: 0 });

  app = await startBreakglass({
    config: testConfig({ BREAKGLASS_DATA_DIR: dataDir, BREAKGLASS_VM_NAME: 'devvm', BREAKGLASS_TARGET_HOST: sshd.host, BREAKGLASS_TARGET_USER: sshd.username }),
    provider,
    // The built UI (npm test builds first; run `npm run build -w @fish-sre/breakglass` otherwise).
    webRoot: new URL('../dist/web', import.meta.url).pathname,
    runCommand: (argv, options) => pool.run('vm', { argv }, { timeoutMs: options.timeoutMs, outputLimitBytes: 32_768, signal: options.signal }),
    powerBackend: createProxmoxPowerBackend({
      host: proxmox.host,
      port: proxmox.port,
      tokenId: proxmox.tokenId,
      tokenSecret: proxmox.tokenSecret,
      fingerprintSha256: proxmox.fingerprint256,
      node: proxmox.node,
      vmid: proxmox.vmid,
      pollMs: 50,
    }),
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
  await browser?.close();
  await proxy?.close();
  await app?.close();
  await pool?.close();
  await anthropic?.close();
  await proxmox?.close();
  await sshd?.stop();
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
    await page.getByText(FIRST_TEXT).waitFor();
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
    expect(
      session.events
        .filter((event) => event.type === 'tool-result')
        .map((event) => (event.type === 'tool-result' ? event.callId : ''))
        .slice(0, 2),
    ).toEqual(['toolu_df', 'toolu_touch']);
    expect(session.events.some((event) => event.type === 'approval' && event.decision === 'run')).toBe(true);
  });

  it('loses the connection mid-turn and resumes with no duplicated text', async () => {
    // PART_A and the read-only uptime are on screen; the next answer is being held by the API.
    await page.getByText(PART_A).waitFor();
    await expect.poll(async () => page.locator('[data-call="toolu_uptime"] pre').textContent()).toMatch(/load average/);
    proxy.cut();
    await page.waitForSelector('.conn.reconnecting', { timeout: 5000 });
    await shot('03-reconnecting');
    await page.waitForSelector('.conn.live', { timeout: 15_000 });
    await page.getByText(PART_B).waitFor({ timeout: 15_000 });
    const texts = await page.locator('.msg.assistant').allTextContents();
    expect(texts).toEqual([FIRST_TEXT, PART_A, PART_B]);
    expect(await page.locator('[data-call="toolu_uptime"]').count()).toBe(1);
    await page.getByRole('button', { name: 'Send' }).waitFor();
    // The conversation the model saw carried every command's output as untrusted data.
    const third = anthropic.requests[2]!.body as { messages: Array<{ role: string; content: Array<{ type: string; content?: unknown }> }> };
    const results = third.messages.flatMap((message) => (Array.isArray(message.content) ? message.content : [])).filter((block) => block.type === 'tool_result');
    expect(results).toHaveLength(3);
    expect(JSON.stringify(results[0])).toMatch(/untrusted data from the VM/);
    await shot('04-resumed');
  });

  it('stops a running turn with the Stop button', async () => {
    await page.fill('#prompt', 'Check every service');
    await page.getByRole('button', { name: 'Send' }).tap();
    const stop = page.getByRole('button', { name: 'Stop' });
    await stop.waitFor();
    await page.getByText('I will keep checking').waitFor();
    expect(await page.getByRole('button', { name: 'Send' }).count()).toBe(0);
    await shot('05-running');
    await stop.tap();
    await page.getByText('turn stopped').waitFor();
    await page.getByRole('button', { name: 'Send' }).waitFor();
    const text = (await page.locator('.msg.assistant').last().textContent()) ?? '';
    expect(text.length).toBeLessThan(STOP_TEXT.length);
    expect(STOP_TEXT.startsWith(text)).toBe(true);
    await shot('06-stopped');
  });

  it('power-cycles the VM from the VM sheet after a confirm, through the Proxmox API', async () => {
    await page.getByRole('button', { name: /VM controls/ }).tap();
    await page.locator('.pill.running').waitFor();
    await shot('07-vm-sheet');
    const before = proxmox.tasks.length;
    await page.getByRole('button', { name: 'Power-cycle (shutdown, stop if needed, start)' }).tap();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    await shot('08-confirm');
    expect(proxmox.tasks.length).toBe(before);
    await dialog.getByRole('button', { name: 'Yes, cycle' }).tap();
    await page.getByText('cycle: OK').waitFor({ timeout: 20_000 });
    expect(proxmox.tasks.slice(before).map((task) => [task.type, task.exitstatus])).toEqual([
      ['qmshutdown', 'OK'],
      ['qmstart', 'OK'],
    ]);
    await shot('09-cycled');
  });
});
