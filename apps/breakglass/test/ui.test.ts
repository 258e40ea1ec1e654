import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { silentLogger } from '@fish-sre/core';
import { anthropicMessage, startAnthropicServer, startTestSshd, type AnthropicTestServer, type TestSshd } from '@fish-sre/testkit';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentProvider } from '../src/agent/provider.js';
import { loadConfig } from '../src/config.js';
import { startBreakglass, type RunningBreakglass } from '../src/server.js';
import { createFakePve, type FakePve } from './fake-pve.js';
import { TEST_TOKEN } from './helpers.js';

/**
 * The console's screens in headless Chromium against real parts (sshd for the VM and for the
 * hypervisor's forced command, the Anthropic test server through the claude plugin): axe-core finds
 * no violation on any screen or dialog at 390×844 and 1280×800; dialogs take focus, Escape closes
 * them and focus returns; a changed VM host key is shown with old, new and the guest's own
 * fingerprint and re-pinned from the UI; with the server stopped, the service worker's offline
 * shell says so.
 */

const ARTIFACTS = new URL('../../../test-artifacts/breakglass/', import.meta.url).pathname;
const API_KEY = 'sk-ant-test-ui';
const VIEWPORTS = [
  { name: 'phone', width: 390, height: 844 },
  { name: 'desktop', width: 1280, height: 800 },
] as const;

let vm: TestSshd;
let pve: TestSshd;
let fake: FakePve;
let anthropic: AnthropicTestServer;
let app: RunningBreakglass | undefined;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let dataDir: string;
const violations: string[] = [];

async function audit(screen: string): Promise<void> {
  for (const viewport of VIEWPORTS) {
    await page.setViewportSize({ width: viewport.width, height: viewport.height });
    await page.waitForTimeout(100);
    const result = await new AxeBuilder({ page }).analyze();
    for (const violation of result.violations) violations.push(`${screen} @${viewport.name}: ${violation.id} (${violation.impact}) ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
    await page.screenshot({ path: join(ARTIFACTS, `ui-${screen}-${viewport.name}.png`), fullPage: false });
  }
  await page.setViewportSize({ width: 390, height: 844 });
}

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  dataDir = await mkdtemp(join(tmpdir(), 'bg-ui-'));
  fake = await createFakePve();
  [vm, pve] = await Promise.all([startTestSshd(), startTestSshd({ forcedCommand: fake.forcedCommand, authorizedKeyOptions: ['from="127.0.0.1"'] })]);
  anthropic = await startAnthropicServer({ apiKey: API_KEY });
  const config = loadConfig({
    BREAKGLASS_API_TOKEN: TEST_TOKEN,
    BREAKGLASS_LISTEN_PORT: '0',
    BREAKGLASS_COOKIE_SECURE: 'false',
    BREAKGLASS_DATA_DIR: dataDir,
    BREAKGLASS_VM_NAME: 'devvm',
    BREAKGLASS_TARGET_HOST: vm.host,
    BREAKGLASS_TARGET_PORT: String(vm.port),
    BREAKGLASS_TARGET_USER: vm.username,
    BREAKGLASS_TARGET_KEY_FILE: vm.privateKeyPath,
    BREAKGLASS_TARGET_HOST_KEY_SHA256: vm.hostKeyFingerprint,
    BREAKGLASS_PVE_SSH_HOST: pve.host,
    BREAKGLASS_PVE_SSH_PORT: String(pve.port),
    BREAKGLASS_PVE_SSH_USER: pve.username,
    BREAKGLASS_PVE_SSH_KEY_FILE: pve.privateKeyPath,
    BREAKGLASS_PVE_SSH_HOST_KEY_SHA256: pve.hostKeyFingerprint,
    BREAKGLASS_LLM: 'claude',
    BREAKGLASS_LLM_OPTIONS: JSON.stringify({ apiKey: API_KEY, baseURL: anthropic.url, maxRetries: 0 }),
  });
  const provider = await createAgentProvider(config.agent.llm, config.agent.llmOptions, silentLogger, dataDir);
  app = await startBreakglass({ config, provider, webRoot: new URL('../dist/web', import.meta.url).pathname });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  page = await context.newPage();
}, 90_000);

afterAll(async () => {
  if (violations.length > 0) process.stderr.write(`axe violations:\n${violations.join('\n')}\n`);
  await browser?.close();
  await app?.close();
  await Promise.all([vm?.stop(), pve?.stop(), anthropic?.close()]);
  await rm(dataDir, { recursive: true, force: true });
  await rm(fake.dir, { recursive: true, force: true });
});

describe('breakglass screens in Chromium', () => {
  it('has no axe violation on the login page and the console', async () => {
    await page.goto(`${app!.url}/login`);
    await audit('login');
    await page.fill('#token', TEST_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForSelector('text=What is broken?');
    await audit('console');
    expect(violations).toEqual([]);
  }, 120_000);

  it('moves focus into the VM sheet and its confirmation, closes them with Escape, and gives focus back', async () => {
    await page.click('button.vm-toggle');
    await page.waitForSelector('#vm-sheet');
    expect(await page.evaluate('document.activeElement?.id')).toBe('vm-sheet');
    await audit('vm-sheet');
    await page.click('#vm-sheet button:has-text("Shut down")');
    await page.waitForSelector('[role=alertdialog]');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Cancel');
    await audit('confirm-dialog');
    await page.keyboard.press('Escape');
    expect(await page.locator('[role=alertdialog]').count()).toBe(0);
    await page.keyboard.press('Escape');
    expect(await page.locator('#vm-sheet').count()).toBe(0);
    expect(await page.evaluate("document.activeElement?.classList.contains('vm-toggle')")).toBe(true);
    expect(violations).toEqual([]);
  }, 120_000);

  it("shows a changed VM host key with old, new and the guest's own fingerprint, and re-pins it from the UI", async () => {
    const old = vm.hostKeyFingerprint;
    await vm.restart({ newHostKey: true });
    const fresh = vm.hostKeyFingerprint;
    await fake.set('guest-hostkeys', `${vm.knownHostsLine.split(' ').slice(1).join(' ')} root@devvm\n`);
    anthropic.enqueue({ type: 'message', message: anthropicMessage({ content: [{ type: 'text', text: 'OK' }], inputTokens: 10, outputTokens: 1 }) });
    await page.click('button:has-text("Selftest")');
    await page.waitForSelector('text=part(s) broken', { timeout: 30_000 });
    expect(await page.locator('.checks li.bad').allTextContents()).toEqual([expect.stringMatching(/VM over SSH.*host key mismatch/)]);
    expect(await page.locator('.checks li.ok').count()).toBe(2);
    await audit('selftest-dialog');
    await page.keyboard.press('Escape');
    await page.waitForSelector("text=The VM's SSH host key changed");
    await audit('host-key-banner');
    await page.click('button:has-text("Review host key")');
    await page.waitForSelector('[data-testid=presented]');
    expect(await page.textContent('[data-testid=presented]')).toBe(fresh);
    expect(await page.locator('.fingerprints').textContent()).toContain(old);
    await page.waitForSelector('text=matches the presented key');
    await audit('host-key-dialog');
    await page.fill('#repin-confirm', 'abcdef');
    await page.click('button:has-text("Re-pin the new key")');
    await page.waitForSelector('text=type the last six characters');
    await page.fill('#repin-confirm', fresh.slice(-6));
    await page.click('button:has-text("Re-pin the new key")');
    await page.waitForSelector(`text=The VM presents its pinned key (${fresh})`);
    expect(app!.hostKeys?.current).toEqual({ target: 'vm', pinned: fresh });
    await page.keyboard.press('Escape');
    expect(await page.locator("text=The VM's SSH host key changed").count()).toBe(0);
    expect(violations).toEqual([]);
  }, 120_000);

  it('opens the offline shell with the server stopped (service worker active)', async () => {
    await page.evaluate('navigator.serviceWorker.ready.then(() => true)');
    // The page must be controlled by the worker before the server goes away.
    await page.reload();
    expect(await page.evaluate('navigator.serviceWorker.controller !== null')).toBe(true);
    const url = app!.url;
    await app!.close();
    app = undefined;
    await page.goto(url);
    await page.waitForSelector('text=The breakglass server is unreachable');
    await audit('offline');
    expect(violations).toEqual([]);
  }, 120_000);
});
