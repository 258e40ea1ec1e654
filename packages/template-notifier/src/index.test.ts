import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testNotifier, testPluginDescriptor, type DeliveredNotification } from '@fish-sre/testkit';
import packageJson from '../package.json' with { type: 'json' };
import { createWebhookNotifier, webhookNotifierPlugin, type WebhookPayload } from './index.js';

/** A webhook receiver on loopback that keeps what it was sent, as the channel's inbox. */
async function startReceiver(status = 200): Promise<{ url: string; delivered: DeliveredNotification[]; close(): Promise<void> }> {
  const delivered: DeliveredNotification[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const payload = JSON.parse(raw) as WebhookPayload;
      if (status === 200) delivered.push({ title: payload.title, body: payload.text, urls: Object.values(payload.links), raw });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, delivered, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

// 1. The descriptor: loads through the registry, refuses misspelt options naming the config path.
testPluginDescriptor({ descriptor: webhookNotifierPlugin, packageJson, loadByPackageName: false, options: { url: 'http://127.0.0.1:9/hook', token: 'tk_template_token_0123456789' } });

// 2. The Notifier contract, against a real HTTP receiver.
const receiver = startReceiver();
const refusing = startReceiver(403);
testNotifier({
  name: 'webhook (template)',
  createNotifier: async () => createWebhookNotifier({ url: (await receiver).url, token: 'tk_template_token_0123456789' }),
  inbox: async () => (await receiver).delivered,
  createFailingNotifier: async () => createWebhookNotifier({ url: (await refusing).url, retries: 0 }),
  cleanup: async () => {
    await (await receiver).close();
    await (await refusing).close();
  },
});
