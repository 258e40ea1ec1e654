// Embedding fish-sre in your own bot, in one file.
//
// Your bot already talks to you (Matrix, Telegram, Discord, a web page...). Here it becomes
// fish's Notifier: proposals arrive as messages with Approve/Deny links, and when you press a
// button your bot calls `engine.decide(token, ...)` with the token from that link: the same
// signed, single-use, expiring token the approval endpoint checks.
//
// Run it: `node examples/embed-in-your-bot/index.mjs` (after `npm run build`).
import { mkdir, mkdtemp, writeFile, chmod } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ApprovalSigner, CatalogHolder, FishEngine, createFileSource, createLocalExecutor, createMemoryAuditStore } from '@fish-sre/core';

const catalogDir = dirname(createRequire(import.meta.url).resolve('@fish-sre/catalog/package.json'));

// 1. Your chat, as a Notifier: three methods, the third optional.
const chat = [];
const myChatNotifier = {
  specificationVersion: 'v1',
  name: 'my-chat',
  async propose(notice, actions) {
    chat.push({ text: `🐟 ${notice.title} on ${notice.host} (${Math.round(notice.confidence * 100)}%)`, buttons: { Approve: actions.approveUrl, Deny: actions.denyUrl } });
    console.log(`[chat] ${chat.at(-1).text}  [Approve] [Deny]`);
    return { id: String(chat.length), channel: 'my-chat' };
  },
  async update(update) {
    console.log(`[chat] ${update.proposalId}: ${update.status} — ${update.detail}`);
  },
  async notify(message) {
    console.log(`[chat] ${message.title}`);
    return { id: String(chat.length), channel: 'my-chat' };
  },
};

// 2. Where fixes run. Here a sandbox with a stand-in `docker`; in production, @fish-sre/exec-ssh.
const sandbox = await mkdtemp(join(tmpdir(), 'fish-example-'));
await mkdir(join(sandbox, 'bin'));
await mkdir(join(sandbox, 'stacks', 'homepage'), { recursive: true });
await writeFile(join(sandbox, 'stacks', 'homepage', 'compose.yaml'), 'services:\n  homepage:\n    image: ghcr.io/gethomepage/homepage\n');
await writeFile(
  join(sandbox, 'bin', 'docker'),
  `#!/bin/sh
# up marks the stack running; ps lists it; config lists its services.
case "$*" in
  *" config --services") echo homepage ;;
  *" ps "*) [ -f "${sandbox}/running" ] && echo homepage; true ;;
  *" up "*) touch "${sandbox}/running"; echo " Container homepage Started" ;;
esac
`,
);
await chmod(join(sandbox, 'bin', 'docker'), 0o755);
// The fix starts only the stacks on its allow-list, owned by the user it expects (here: whoever runs the example).
await writeFile(join(sandbox, 'compose-stacks'), 'homepage\n');
const executor = createLocalExecutor({
  scriptsDir: join(catalogDir, 'scripts'),
  sandboxDir: sandbox,
  hosts: ['penny'],
  pathPrepend: [join(sandbox, 'bin')],
  env: {
    FISH_COMPOSE_DIR: join(sandbox, 'stacks'),
    FISH_COMPOSE_STACKS_FILE: join(sandbox, 'compose-stacks'),
    FISH_COMPOSE_OWNER: String(process.getuid?.() ?? 0),
    FISH_ENV_FILE: join(sandbox, 'none'),
    FISH_VERIFY_DELAY: '0',
  },
});

// 3. The engine: catalog, sources, audit, notifier, executor, and a signing secret.
const catalog = await CatalogHolder.load(catalogDir);
const signer = new ApprovalSigner(ApprovalSigner.generateSecret());
const engine = new FishEngine({
  catalog: () => catalog.catalog,
  sources: [createFileSource({ path: join(catalogDir, 'samples', 'demo.jsonl'), defaultHost: 'penny' })],
  audit: createMemoryAuditStore(),
  notifier: myChatNotifier,
  executor,
  signer,
  publicUrl: 'https://bot.example.net/fish',
});

// 4. Your button handler: the user pressed Approve on the first proposal.
const finished = new Promise((resolve) =>
  engine.on('execution', (execution) => {
    if (['succeeded', 'escalated', 'rolled_back'].includes(execution.status)) resolve(execution);
  }),
);
engine.on('proposal', async (_proposal, links) => {
  const token = links.approveUrl.split('/').pop();
  const outcome = await engine.decide(token, 'approve', 'owner@my-chat');
  console.log(`[bot] decision: ${outcome.status} — ${outcome.message}`);
  const again = await engine.decide(token, 'approve', 'owner@my-chat');
  console.log(`[bot] pressed twice: ${again.status} — ${again.message}`);
});

await engine.start();
const execution = await finished;
await engine.stop();
console.log(`[bot] execution ${execution.status}: ${execution.steps.map((step) => `${step.verb} exit ${step.exitCode}`).join(', ')}`);
