/**
 * What `fish-sre init` writes: a commented fish.yaml, a .env template for the secrets and the
 * README of the folder for the user's own patterns. Pure functions of the answers, so the text
 * can be checked without touching the disk.
 */

export interface InitTarget {
  /** The name patterns and proposals use (`penny`). */
  name: string;
  /** An IP address: exec-ssh refuses host names (a DNS answer could redirect a fix). */
  host: string;
  port: number;
  username: string;
  privateKeyPath: string;
}

export type InitNotifier = { type: 'ntfy'; server: string; topic: string } | { type: 'telegram'; chatId: number };

export interface InitAnswers {
  loki?: { url: string; query: string; tenant?: string };
  prometheus?: { url: string };
  notifier: InitNotifier;
  targets: InitTarget[];
  /** known_hosts file holding each target's host key. */
  knownHostsPath: string;
  dataDir: string;
  /** Where the phone reaches the approval endpoint. */
  publicUrl: string;
  approvalPort: number;
  metricsPort: number;
}

/** Environment variables the config refers to, with what .env holds for each. */
export interface InitSecrets {
  approvalSecret: string;
  ntfyToken?: string;
  telegramBotToken?: string;
}

/** A YAML double-quoted scalar: JSON's string syntax is valid YAML and escapes everything. */
const quote = (value: string) => JSON.stringify(value);

function sourcesSection(answers: InitAnswers): string[] {
  const lines = [
    '# Where fish reads what happens. Each source reconnects by itself and keeps its read position in',
    '# dataDir, so a restart back-fills what was written while fish was down.',
    'sources:',
  ];
  if (answers.loki) {
    lines.push(
      '  # Loki: a live tail (WebSocket) of this LogQL query, with query_range back-fill on reconnect.',
      '  # Narrow the query to the lines worth reading; every line it returns goes through the matcher.',
      '  - type: loki',
      '    options:',
      `      url: ${quote(answers.loki.url)}`,
      `      query: ${quote(answers.loki.query)}`,
    );
    if (answers.loki.tenant) lines.push(`      tenant: ${quote(answers.loki.tenant)}   # X-Scope-OrgID (Loki with auth_enabled: true)`);
  }
  if (answers.prometheus) {
    lines.push(
      "  # Prometheus: the catalog's metric signals are evaluated as instant queries every `interval`.",
      '  - type: prometheus',
      `    options: { url: ${quote(answers.prometheus.url)}, interval: 30s }`,
    );
  }
  return lines;
}

function notifierSection(notifier: InitNotifier): string[] {
  if (notifier.type === 'ntfy') {
    return [
      '# Where proposals reach your phone, with Approve / Deny buttons. On a public server anyone who',
      '# knows the topic reads it: the topic is kept in .env, and a token (ntfy access control) is better.',
      'notifier:',
      '  type: ntfy',
      '  options:',
      `    server: ${quote(notifier.server)}`,
      '    topic: "${FISH_NTFY_TOPIC}"',
      '    # token: "${FISH_NTFY_TOKEN}"   # uncomment once FISH_NTFY_TOKEN is set in .env (tk_...)',
    ];
  }
  return [
    '# Where proposals reach your phone: a Telegram chat with your bot. Taps on Approve / Deny decide',
    "# through the bot (long polling, no public URL needed); only this chat's user may decide.",
    'notifier:',
    '  type: telegram',
    '  options:',
    '    botToken: "${FISH_TELEGRAM_BOT_TOKEN}"',
    `    chatId: ${notifier.chatId}`,
  ];
}

function executorSection(answers: InitAnswers): string[] {
  const lines = [
    '# Where fixes run: over SSH, on hosts whose key is forced through fish-wrapper (see the deploy kit,',
    '# apps/fish/deploy/README.md). A pattern names its target host by one of these names.',
    'executor:',
    '  type: ssh',
    '  options:',
  ];
  if (answers.targets.length === 0) {
    lines.push('    targets: {}   # none yet: add `name: { host, port, username, privateKeyPath, hostKey }` entries');
    return lines;
  }
  lines.push('    targets:');
  for (const target of answers.targets) {
    lines.push(
      `      ${target.name}:`,
      `        host: ${quote(target.host)}`,
      `        port: ${target.port}`,
      `        username: ${quote(target.username)}`,
      `        privateKeyPath: ${quote(target.privateKeyPath)}`,
      '        # The host key must already be in this file: fish never accepts an unknown key.',
      `        hostKey: { knownHostsPath: ${quote(answers.knownHostsPath)} }`,
    );
  }
  return lines;
}

/** The commented fish.yaml. */
export function renderConfig(answers: InitAnswers, writtenAt: Date): string {
  return [
    `# fish.yaml, written by \`fish-sre init\` on ${writtenAt.toISOString().slice(0, 10)}.`,
    '# Check it with `fish-sre doctor --config fish.yaml --env-file .env`, run it with',
    '# `fish-sre run --config fish.yaml --env-file .env`. Every `${NAME}` is read from the environment',
    '# (.env here, or the EnvironmentFile of fish.service): secrets stay out of this file.',
    "# Relative paths are relative to this file's folder.",
    '',
    '# The incident patterns fish recognises, lowest layer first: `bundled` is the seed catalog shipped',
    '# with fish-sre (@fish-sre/catalog); patterns/ holds yours (patterns/README.md): a file there adds a',
    '# pattern, replaces a seed pattern of the same id, or disables one (`id: <id>`, `disabled: true`).',
    'catalog: [bundled, patterns]',
    '',
    "# fish's state: the SQLite audit trail, each source's read position, UNKNOWN incident bundles.",
    `dataDir: ${quote(answers.dataDir)}`,
    '',
    '# Dry run: fish detects, proposes and records everything, but makes no remote call. Turn it off',
    '# once doctor passes and the first proposals look right.',
    'dryRun: true',
    '',
    '# The approval endpoint: the Approve / Deny links of each proposal. Each link is signed with the',
    '# secret, bound to one proposal, single-use and expires after proposalTtl. Make publicUrl reach',
    '# it from your phone (a tunnel or your reverse proxy, on HTTPS), and nothing else.',
    'approval:',
    `  listen: { host: 127.0.0.1, port: ${answers.approvalPort} }`,
    `  publicUrl: ${quote(answers.publicUrl)}`,
    '  secret: "${FISH_APPROVAL_SECRET}"',
    '  proposalTtl: 1h',
    '',
    ...sourcesSection(answers),
    '',
    ...notifierSection(answers.notifier),
    '',
    ...executorSection(answers),
    '',
    '# The audit trail: every incident, proposal, decision and execution, written before its side',
    '# effect, hash-chained (`fish-sre audit verify`). A relative path is inside dataDir.',
    'audit:',
    '  type: sqlite',
    '  options: { path: audit.sqlite }',
    '',
    "# fish's own Prometheus metrics (`/metrics`); apps/fish/deploy/prometheus has alert rules for them.",
    `metrics: { listen: { host: 127.0.0.1, port: ${answers.metricsPort} } }`,
    '',
    '# Optional, not configured: an LLM to choose among matching patterns and describe UNKNOWN incidents',
    '# (llm: { type: claude, options: { apiKey: "${ANTHROPIC_API_KEY}" }, monthlyBudgetEur: 20 }), and a',
    '# heartbeat to a dead-man\'s switch (heartbeat: { url: "${FISH_HEARTBEAT_URL}" }). See the README.',
    '',
  ].join('\n');
}

/** The .env file: KEY=value lines, readable by systemd's EnvironmentFile and `--env-file`. */
export function renderEnv(answers: InitAnswers, secrets: InitSecrets): string {
  const lines = [
    '# Secrets for fish.yaml (`${NAME}` there). Keep this file mode 0600 and out of version control.',
    '# fish-sre reads it with `--env-file .env`; fish.service with EnvironmentFile=.',
    '',
    '# Signs the approval links (at least 32 characters; generated by fish-sre init).',
    `FISH_APPROVAL_SECRET=${secrets.approvalSecret}`,
  ];
  if (answers.notifier.type === 'ntfy') {
    lines.push(
      '',
      '# The ntfy topic: subscribe to it in the ntfy app. On a public server, whoever knows it reads it.',
      `FISH_NTFY_TOPIC=${answers.notifier.topic}`,
      '# An access token for the topic (then uncomment `token:` in fish.yaml).',
      secrets.ntfyToken ? `FISH_NTFY_TOKEN=${secrets.ntfyToken}` : '# FISH_NTFY_TOKEN=tk_...',
    );
  } else {
    lines.push('', '# The bot token from @BotFather (<bot id>:<secret>).', `FISH_TELEGRAM_BOT_TOKEN=${secrets.telegramBotToken ?? ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** patterns/README.md: what the folder is for and how a pattern is written and checked. */
export function renderPatternsReadme(seedCatalog: string): string {
  return `# Your own incident patterns

fish.yaml reads its catalog in layers, \`catalog: [bundled, patterns]\`: the seed catalog shipped
with fish-sre, then this folder. A pattern file here (one YAML file per pattern, this folder or a
\`patterns/\` folder inside it) adds an incident your homelab has already had, with the fix you
ran by hand; a file with the \`id\` of a seed pattern replaces it whole; \`id: <id>\`,
\`disabled: true\`, \`reason: ...\` turns a seed pattern off. The seed's own files
(${seedCatalog}/patterns) are the examples to copy, and \`fish-sre catalog schema --out
pattern.schema.json\` writes the JSON Schema your editor can check a file against.

A pattern: an \`id\`, the \`required_signals\` (log lines by regex, or metric thresholds) that
recognise the incident, the \`target_host\`, the \`fix\` and \`verify\` scripts (in a \`scripts/\`
folder beside the pattern files), and \`samples\` of real lines that must and must not match.

    fish-sre catalog validate --config fish.yaml   # every problem (file, line, field), and where each pattern came from
    fish-sre catalog test --config fish.yaml       # every sample through the real matcher

Each script must also be installed and allow-listed on its target hosts
(\`fish-sre catalog export-target --config fish.yaml --out DIR\`, then
\`apps/fish/deploy/install-target.sh DIR\` on each target): fish-wrapper runs nothing else.
`;
}
