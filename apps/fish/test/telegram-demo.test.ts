import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTelegramServer } from '@fish-sre/testkit';

const CLI = resolve(import.meta.dirname, '../dist/cli.js');
const BOT_TOKEN = '4242:AAF-fish-demo-bot-token-0123456789';
const OWNER = 5550001;
const STRANGER = 5550002;

describe('fish-sre demo --telegram (decision through an inline button)', () => {
  it('a tap on Approve through the Bot API approves, the fix runs, and the message is edited in place', async () => {
    const telegram = await startTelegramServer({ token: BOT_TOKEN, chats: [{ id: OWNER }], callbackAnswerWindowMs: 60_000 });
    const dataDir = await mkdtemp(join(tmpdir(), 'fish-telegram-demo-'));
    try {
      const child = spawn(process.execPath, [CLI, 'demo', '--telegram', '--port', '0', '--data-dir', dataDir], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1', FISH_TELEGRAM_BOT_TOKEN: BOT_TOKEN, FISH_TELEGRAM_CHAT_ID: String(OWNER), FISH_TELEGRAM_API_URL: telegram.url },
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolveExit) => child.once('close', resolveExit));
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);

      // Wait for the proposal with its buttons, as the phone would show it.
      let proposal: ReturnType<typeof telegram.messages>[number] | undefined;
      for (let attempt = 0; attempt < 600 && !proposal; attempt++) {
        proposal = telegram.messages(OWNER).find((message) => message.reply_markup?.inline_keyboard.flat().some((button) => button.text.includes('Approve')));
        if (!proposal) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
      }
      expect(proposal, output).toBeDefined();
      expect(proposal!.text).toContain('penny');
      // Someone else in reach of the message is refused, and nothing happens.
      const stranger = telegram.tap({ chatId: OWNER, messageId: proposal!.message_id, userId: STRANGER, button: /Approve/ });
      for (let attempt = 0; attempt < 200 && !telegram.callbackAnswers.has(stranger); attempt++) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
      expect(telegram.callbackAnswers.get(stranger)?.text).toMatch(/may not decide/);
      const tap = telegram.tap({ chatId: OWNER, messageId: proposal!.message_id, userId: OWNER, button: /Approve/ });

      const code = await exited;
      clearTimeout(killer);
      expect(output).toContain(`decision: `);
      expect(output).toContain(`approved by telegram:${OWNER}`);
      expect(output, output).toContain('Demo finished: execution succeeded.');
      expect(code).toBe(0);
      expect(telegram.callbackAnswers.get(tap)?.text).toMatch(/^approved: the fix runs on penny/);
      // One message, edited as the proposal moved on: no buttons any more, the final state shown.
      const final = telegram.messages(OWNER).find((message) => message.message_id === proposal!.message_id)!;
      expect(final.reply_markup).toBeUndefined();
      expect(final.text).toMatch(/Fixed|Approved/);
      const edits = telegram.requests.filter((request) => request.method === 'editMessageText' && request.params.message_id === proposal!.message_id);
      expect(edits.length).toBeGreaterThanOrEqual(2);
      // The refused tap is in the audit trail.
      expect(output).toMatch(/decision-refused/);
      // The bot token never reached the output.
      expect(output).not.toContain(BOT_TOKEN.split(':')[1]);
    } finally {
      await telegram.close();
    }
  }, 90_000);
});
