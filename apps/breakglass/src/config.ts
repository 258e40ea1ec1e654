import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { FishError, FishErrorCode, errorMessage, formatZodIssues } from '@fish-sre/core';
import { z } from 'zod';

/**
 * breakglass configuration, read from environment variables only (a container or a systemd unit
 * sets them). Targets are IP addresses, never names: when the machine everything depends on is
 * down, DNS may well be what is broken.
 */

const ipAddress = z
  .string()
  .trim()
  .refine((value) => isIP(value) !== 0, { message: 'must be an IP address (not a host name: DNS may be what is broken)' });
const port = z.coerce.number().int().min(1).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const seconds = z.coerce.number().positive();
const list = (item: z.ZodType<string, string>) =>
  z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0),
    )
    .pipe(z.array(item));
const booleanish = z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off']).transform((value) => ['1', 'true', 'yes', 'on'].includes(value));
const sha256Fingerprint = z
  .string()
  .trim()
  .transform((value) =>
    value
      .replace(/^sha256:/i, '')
      .replace(/:/g, '')
      .toUpperCase(),
  )
  .refine((value) => /^[0-9A-F]{64}$/.test(value), { message: 'must be a SHA-256 fingerprint: 64 hex digits, colons allowed (AB:CD:...)' });
const sshHostKey = z
  .string()
  .trim()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'must be SHA256:<43 base64 characters>, as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it');
const jsonObject = z.string().transform((value, context) => {
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  context.addIssue({ code: 'custom', message: 'must be a JSON object, e.g. {"model": "..."}' });
  return z.NEVER;
});
const pluginType = z.string().regex(/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/, 'must be a plugin type (claude, ollama, ntfy) or an npm package name');
const absolutePath = z
  .string()
  .regex(/^\/[A-Za-z0-9._/-]*$/, 'must be an absolute path')
  .refine((value) => !value.split('/').includes('..') && (value === '/' || !value.endsWith('/')), { message: 'must be a normal absolute path (no .., no trailing /)' });
const euros = z.coerce.number().positive();
const headerName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9-]+$/, 'must be an HTTP header name');

const EnvSchema = z
  .object({
    BREAKGLASS_LISTEN_HOST: ipAddress.default('127.0.0.1'),
    BREAKGLASS_LISTEN_PORT: z.coerce.number().int().min(0).max(65_535).default(8088),
    BREAKGLASS_DATA_DIR: z.string().min(1).default('./breakglass-data'),

    // Auth: a trusted identity header from the edge proxy, a bearer token, or both.
    BREAKGLASS_API_TOKEN: z.string().min(24, 'must be at least 24 characters (use `openssl rand -hex 32`)').optional(),
    BREAKGLASS_TRUSTED_HEADER: headerName.optional(),
    BREAKGLASS_TRUSTED_PROXIES: list(ipAddress).optional(),
    BREAKGLASS_COOKIE_SECURE: booleanish.default(true),

    // The VM the agent repairs, over SSH.
    BREAKGLASS_TARGET_HOST: ipAddress,
    BREAKGLASS_TARGET_PORT: port.default(22),
    BREAKGLASS_TARGET_USER: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/i, 'must be a user name')
      .default('breakglass'),
    BREAKGLASS_TARGET_KEY_FILE: z.string().min(1),
    BREAKGLASS_TARGET_HOST_KEY_SHA256: sshHostKey.optional(),

    // The agent.
    BREAKGLASS_LLM: pluginType.default('claude'),
    BREAKGLASS_LLM_OPTIONS: jsonObject.optional(),
    BREAKGLASS_SPEND_CAP_SESSION_EUR: euros.optional(),
    BREAKGLASS_SPEND_CAP_MONTH_EUR: euros.optional(),
    BREAKGLASS_READ_ALLOW: list(absolutePath).optional(),
    BREAKGLASS_NOTIFY: pluginType.optional(),
    BREAKGLASS_NOTIFY_OPTIONS: jsonObject.optional(),
    BREAKGLASS_MODEL: z.string().min(1).optional(),
    BREAKGLASS_OLLAMA_HOST: z
      .url({ protocol: /^https?$/ })
      .refine((value) => isIP(new URL(value).hostname.replace(/^\[|\]$/g, '')) !== 0, { message: 'must use an IP address, not a host name' })
      .optional(),
    BREAKGLASS_APPROVAL: booleanish.default(true),
    BREAKGLASS_MAX_CONCURRENT_TURNS: positiveInt.default(2),
    BREAKGLASS_TURN_TIMEOUT_SECONDS: seconds.default(1800),
    BREAKGLASS_MAX_STEPS: positiveInt.default(30),
    BREAKGLASS_COMMAND_TIMEOUT_SECONDS: seconds.default(60),
    BREAKGLASS_OUTPUT_LIMIT_BYTES: positiveInt.default(32 * 1024),
    BREAKGLASS_SSE_KEEPALIVE_SECONDS: seconds.default(15),

    // Power verbs.
    BREAKGLASS_POWER_BACKEND: z.enum(['ssh', 'proxmox-api']).default('ssh'),
    BREAKGLASS_VERB_TIMEOUT_SECONDS: seconds.default(300),
    BREAKGLASS_FORENSICS_TIMEOUT_SECONDS: seconds.default(20),
    BREAKGLASS_VM_NAME: z.string().max(64).default('the VM'),
    // (1) SSH forced command on the hypervisor.
    BREAKGLASS_PVE_SSH_HOST: ipAddress.optional(),
    BREAKGLASS_PVE_SSH_PORT: port.default(22),
    BREAKGLASS_PVE_SSH_USER: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/i, 'must be a user name')
      .default('root'),
    BREAKGLASS_PVE_SSH_KEY_FILE: z.string().min(1).optional(),
    BREAKGLASS_PVE_SSH_HOST_KEY_SHA256: sshHostKey.optional(),
    // (2) Proxmox VE API.
    BREAKGLASS_PVE_API_HOST: ipAddress.optional(),
    BREAKGLASS_PVE_API_PORT: port.default(8006),
    BREAKGLASS_PVE_API_TOKEN_ID: z
      .string()
      .regex(/^[^@\s!=]+@[^@\s!=]+![A-Za-z][A-Za-z0-9._-]*$/, 'must look like user@realm!tokenid')
      .optional(),
    BREAKGLASS_PVE_API_TOKEN_SECRET: z
      .string()
      .regex(/^[0-9a-fA-F-]{8,}$/, 'must be the token UUID')
      .optional(),
    BREAKGLASS_PVE_API_FINGERPRINT: sha256Fingerprint.optional(),
    BREAKGLASS_PVE_NODE: z
      .string()
      .regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, 'must be a Proxmox node name')
      .optional(),
    BREAKGLASS_PVE_VMID: z.coerce.number().int().min(100).max(999_999_999).optional(),
  })
  .superRefine((env, context) => {
    const hasToken = env.BREAKGLASS_API_TOKEN !== undefined;
    const hasHeader = env.BREAKGLASS_TRUSTED_HEADER !== undefined;
    const hasProxies = (env.BREAKGLASS_TRUSTED_PROXIES?.length ?? 0) > 0;
    if (hasHeader !== hasProxies) {
      context.addIssue({
        code: 'custom',
        path: [hasHeader ? 'BREAKGLASS_TRUSTED_PROXIES' : 'BREAKGLASS_TRUSTED_HEADER'],
        message: 'BREAKGLASS_TRUSTED_HEADER and BREAKGLASS_TRUSTED_PROXIES go together: the header is honoured only from those proxy addresses',
      });
    }
    if (!hasToken && !(hasHeader && hasProxies)) {
      context.addIssue({
        code: 'custom',
        path: ['BREAKGLASS_API_TOKEN'],
        message: 'no credential configured: set BREAKGLASS_API_TOKEN, or BREAKGLASS_TRUSTED_HEADER with BREAKGLASS_TRUSTED_PROXIES; breakglass refuses to start open',
      });
    }
    if (env.BREAKGLASS_POWER_BACKEND === 'ssh') {
      for (const key of ['BREAKGLASS_PVE_SSH_HOST', 'BREAKGLASS_PVE_SSH_KEY_FILE'] as const) {
        if (env[key] === undefined) context.addIssue({ code: 'custom', path: [key], message: 'required with BREAKGLASS_POWER_BACKEND=ssh' });
      }
      if (env.BREAKGLASS_PVE_SSH_HOST_KEY_SHA256 === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['BREAKGLASS_PVE_SSH_HOST_KEY_SHA256'],
          message: 'required with BREAKGLASS_POWER_BACKEND=ssh: the hypervisor host key is pinned, never trusted on first use (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host)',
        });
      }
    }
    if (env.BREAKGLASS_POWER_BACKEND === 'proxmox-api' || env.BREAKGLASS_PVE_API_HOST !== undefined) {
      for (const key of ['BREAKGLASS_PVE_API_HOST', 'BREAKGLASS_PVE_API_TOKEN_ID', 'BREAKGLASS_PVE_API_TOKEN_SECRET', 'BREAKGLASS_PVE_NODE', 'BREAKGLASS_PVE_VMID'] as const) {
        if (env[key] === undefined) context.addIssue({ code: 'custom', path: [key], message: 'required with the Proxmox API (BREAKGLASS_POWER_BACKEND=proxmox-api or BREAKGLASS_PVE_API_HOST)' });
      }
      if (env.BREAKGLASS_PVE_API_FINGERPRINT === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['BREAKGLASS_PVE_API_FINGERPRINT'],
          message: 'required with the Proxmox API: the self-signed certificate is pinned by its SHA-256 fingerprint (there is no insecure mode)',
        });
      }
    }
  });

export interface PowerSshConfig {
  host: string;
  port: number;
  user: string;
  keyFile: string;
  hostKeySha256?: string;
}

export interface ProxmoxApiConfig {
  host: string;
  port: number;
  tokenId: string;
  tokenSecret: string;
  fingerprintSha256: string;
  node: string;
  vmid: number;
}

export interface BreakglassConfig {
  listen: { host: string; port: number };
  dataDir: string;
  auth: { token?: string; trustedHeader?: string; trustedProxies: string[]; cookieSecure: boolean };
  target: { host: string; port: number; user: string; keyFile: string; hostKeySha256?: string };
  agent: {
    /** An LLM plugin type from the registry (`claude`, `ollama`) or an npm package exporting one. */
    llm: string;
    /** Options for that plugin (BREAKGLASS_LLM_OPTIONS, plus BREAKGLASS_MODEL / BREAKGLASS_OLLAMA_HOST). */
    llmOptions: Record<string, unknown>;
    model?: string;
    ollamaHost?: string;
    spendCaps: { perSessionEur?: number; perMonthEur?: number };
    readRoots?: string[];
    approval: boolean;
    maxConcurrentTurns: number;
    turnTimeoutMs: number;
    maxSteps: number;
    commandTimeoutMs: number;
    outputLimitBytes: number;
  };
  sseKeepAliveMs: number;
  /** A notifier plugin for the scheduled selftest (`ntfy`), when configured. */
  notify?: { type: string; options: Record<string, unknown> };
  power: {
    backend: 'ssh' | 'proxmox-api';
    verbTimeoutMs: number;
    forensicsTimeoutMs: number;
    vmName: string;
    ssh?: PowerSshConfig;
    api?: ProxmoxApiConfig;
  };
}

/** Reads and validates the environment. Throws a FishError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): BreakglassConfig {
  const present = { ...credentialsFrom(env), ...Object.fromEntries(Object.entries(env).filter(([key, value]) => key.startsWith('BREAKGLASS_') && value !== undefined && value !== '')) };
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const issues = [...parsed.error.issues];
    // Refinements do not run when a field is missing: still say first that there is no credential.
    if (present['BREAKGLASS_API_TOKEN'] === undefined && present['BREAKGLASS_TRUSTED_HEADER'] === undefined && !issues.some((issue) => issue.path[0] === 'BREAKGLASS_API_TOKEN')) {
      issues.unshift({
        code: 'custom',
        path: ['BREAKGLASS_API_TOKEN'],
        message: 'no credential configured: set BREAKGLASS_API_TOKEN, or BREAKGLASS_TRUSTED_HEADER with BREAKGLASS_TRUSTED_PROXIES; breakglass refuses to start open',
        input: undefined,
      } as (typeof issues)[number]);
    }
    throw new FishError({
      code: FishErrorCode.CONFIG_INVALID,
      message: errorMessage('breakglass', `invalid environment: ${formatZodIssues(issues)}`),
    });
  }
  const e = parsed.data;
  return {
    listen: { host: e.BREAKGLASS_LISTEN_HOST, port: e.BREAKGLASS_LISTEN_PORT },
    dataDir: e.BREAKGLASS_DATA_DIR,
    auth: {
      ...(e.BREAKGLASS_API_TOKEN === undefined ? {} : { token: e.BREAKGLASS_API_TOKEN }),
      ...(e.BREAKGLASS_TRUSTED_HEADER === undefined ? {} : { trustedHeader: e.BREAKGLASS_TRUSTED_HEADER }),
      trustedProxies: e.BREAKGLASS_TRUSTED_PROXIES ?? [],
      cookieSecure: e.BREAKGLASS_COOKIE_SECURE,
    },
    target: {
      host: e.BREAKGLASS_TARGET_HOST,
      port: e.BREAKGLASS_TARGET_PORT,
      user: e.BREAKGLASS_TARGET_USER,
      keyFile: e.BREAKGLASS_TARGET_KEY_FILE,
      ...(e.BREAKGLASS_TARGET_HOST_KEY_SHA256 === undefined ? {} : { hostKeySha256: e.BREAKGLASS_TARGET_HOST_KEY_SHA256 }),
    },
    agent: {
      llm: e.BREAKGLASS_LLM,
      llmOptions: {
        ...(e.BREAKGLASS_MODEL === undefined ? {} : { model: e.BREAKGLASS_MODEL }),
        ...(e.BREAKGLASS_OLLAMA_HOST === undefined || e.BREAKGLASS_LLM !== 'ollama' ? {} : { host: e.BREAKGLASS_OLLAMA_HOST }),
        ...(e.BREAKGLASS_LLM === 'claude' && credentialText(env, 'anthropic-api-key') !== undefined ? { apiKey: credentialText(env, 'anthropic-api-key') } : {}),
        ...e.BREAKGLASS_LLM_OPTIONS,
      },
      spendCaps: {
        ...(e.BREAKGLASS_SPEND_CAP_SESSION_EUR === undefined ? {} : { perSessionEur: e.BREAKGLASS_SPEND_CAP_SESSION_EUR }),
        ...(e.BREAKGLASS_SPEND_CAP_MONTH_EUR === undefined ? {} : { perMonthEur: e.BREAKGLASS_SPEND_CAP_MONTH_EUR }),
      },
      ...(e.BREAKGLASS_READ_ALLOW === undefined ? {} : { readRoots: e.BREAKGLASS_READ_ALLOW }),
      ...(e.BREAKGLASS_MODEL === undefined ? {} : { model: e.BREAKGLASS_MODEL }),
      ...(e.BREAKGLASS_OLLAMA_HOST === undefined ? {} : { ollamaHost: e.BREAKGLASS_OLLAMA_HOST }),
      approval: e.BREAKGLASS_APPROVAL,
      maxConcurrentTurns: e.BREAKGLASS_MAX_CONCURRENT_TURNS,
      turnTimeoutMs: e.BREAKGLASS_TURN_TIMEOUT_SECONDS * 1000,
      maxSteps: e.BREAKGLASS_MAX_STEPS,
      commandTimeoutMs: e.BREAKGLASS_COMMAND_TIMEOUT_SECONDS * 1000,
      outputLimitBytes: e.BREAKGLASS_OUTPUT_LIMIT_BYTES,
    },
    sseKeepAliveMs: e.BREAKGLASS_SSE_KEEPALIVE_SECONDS * 1000,
    ...(e.BREAKGLASS_NOTIFY === undefined ? {} : { notify: { type: e.BREAKGLASS_NOTIFY, options: e.BREAKGLASS_NOTIFY_OPTIONS ?? {} } }),
    power: {
      backend: e.BREAKGLASS_POWER_BACKEND,
      verbTimeoutMs: e.BREAKGLASS_VERB_TIMEOUT_SECONDS * 1000,
      forensicsTimeoutMs: e.BREAKGLASS_FORENSICS_TIMEOUT_SECONDS * 1000,
      vmName: e.BREAKGLASS_VM_NAME,
      ...(e.BREAKGLASS_PVE_SSH_HOST !== undefined && e.BREAKGLASS_PVE_SSH_KEY_FILE !== undefined
        ? {
            ssh: {
              host: e.BREAKGLASS_PVE_SSH_HOST!,
              port: e.BREAKGLASS_PVE_SSH_PORT,
              user: e.BREAKGLASS_PVE_SSH_USER,
              keyFile: e.BREAKGLASS_PVE_SSH_KEY_FILE!,
              ...(e.BREAKGLASS_PVE_SSH_HOST_KEY_SHA256 === undefined ? {} : { hostKeySha256: e.BREAKGLASS_PVE_SSH_HOST_KEY_SHA256 }),
            },
          }
        : {}),
      ...(e.BREAKGLASS_PVE_API_HOST !== undefined
        ? {
            api: {
              host: e.BREAKGLASS_PVE_API_HOST!,
              port: e.BREAKGLASS_PVE_API_PORT,
              tokenId: e.BREAKGLASS_PVE_API_TOKEN_ID!,
              tokenSecret: e.BREAKGLASS_PVE_API_TOKEN_SECRET!,
              fingerprintSha256: e.BREAKGLASS_PVE_API_FINGERPRINT!,
              node: e.BREAKGLASS_PVE_NODE!,
              vmid: e.BREAKGLASS_PVE_VMID!,
            },
          }
        : {}),
    },
  };
}

/**
 * Secrets handed over by systemd `LoadCredential=` (or a container secret mount) as files in
 * `$CREDENTIALS_DIRECTORY`: they never sit in the unit file or the environment. File names:
 * `api-token`, `pve-api-token-secret`, `anthropic-api-key`; `target-key` and `pve-ssh-key` are
 * SSH private keys, used by path. A variable set in the environment wins.
 */
export function credentialsFrom(env: Record<string, string | undefined>): Record<string, string> {
  const found: Record<string, string> = {};
  const text = (name: string) => credentialText(env, name);
  const path = (name: string) => {
    const directory = env['CREDENTIALS_DIRECTORY'];
    return directory && existsSync(join(directory, name)) ? join(directory, name) : undefined;
  };
  const token = text('api-token');
  if (token !== undefined) found['BREAKGLASS_API_TOKEN'] = token;
  const secret = text('pve-api-token-secret');
  if (secret !== undefined) found['BREAKGLASS_PVE_API_TOKEN_SECRET'] = secret;
  const targetKey = path('target-key');
  if (targetKey !== undefined) found['BREAKGLASS_TARGET_KEY_FILE'] = targetKey;
  const pveKey = path('pve-ssh-key');
  if (pveKey !== undefined) found['BREAKGLASS_PVE_SSH_KEY_FILE'] = pveKey;
  return found;
}

/** The trimmed text of credential `name`, when `$CREDENTIALS_DIRECTORY/name` exists. */
export function credentialText(env: Record<string, string | undefined>, name: string): string | undefined {
  const directory = env['CREDENTIALS_DIRECTORY'];
  if (!directory) return undefined;
  try {
    const value = readFileSync(join(directory, name), 'utf8').trim();
    return value.length > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}
