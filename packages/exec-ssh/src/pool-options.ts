import { z } from 'zod';
import type { Logger } from '@fish-sre/core';

/** How the pool decides whether the key a server presents is the right one. */
export const HostKeyPolicySchema = z.union([
  z.object({ knownHostsPath: z.string().min(1) }).strict(),
  z.object({ fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'expected SHA256:<43 base64 characters> as `ssh-keygen -lf` prints it') }).strict(),
  z.object({ trustOnFirstUse: z.literal(true), knownHostsPath: z.string().min(1) }).strict(),
]);
export type HostKeyPolicy = z.infer<typeof HostKeyPolicySchema>;

export const SshTargetSchema = z
  .object({
    /** An IP address (no DNS: a name could be redirected). */
    host: z.union([z.ipv4(), z.ipv6()]),
    port: z.number().int().min(1).max(65535).default(22),
    username: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, 'expected a POSIX user name'),
    privateKey: z.string().min(1).optional(),
    privateKeyPath: z.string().min(1).optional(),
    passphrase: z.string().optional(),
    hostKey: HostKeyPolicySchema,
  })
  .strict()
  .refine((target) => (target.privateKey === undefined) !== (target.privateKeyPath === undefined), {
    message: 'give exactly one of privateKey or privateKeyPath',
  });
export type SshTarget = z.output<typeof SshTargetSchema>;
export type SshTargetInput = z.input<typeof SshTargetSchema>;

export const TARGET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const SshPoolOptionsSchema = z.strictObject({
  targets: z.record(z.string().regex(TARGET_NAME_PATTERN, 'target names are letters, digits, . _ -'), SshTargetSchema),
  /** SSH-level keep-alive on pooled connections (0 disables). @default 15000 */
  keepAliveIntervalMs: z.number().int().min(0).default(15_000),
  /** A connection with no open channel is closed after this long. @default 300000 */
  idleCloseMs: z.number().int().min(1).default(300_000),
  /** TCP connect + handshake + authentication must finish within this. @default 10000 */
  connectTimeoutMs: z.number().int().min(1).default(10_000),
});
export type SshPoolOptionsInput = z.input<typeof SshPoolOptionsSchema> & {
  logger?: Logger;
  /**
   * Called when an exec request has been written to the connection (benchmarks measure the
   * client-side overhead up to this point). No ssh2 type crosses this boundary.
   */
  onExecSent?: (target: string) => void;
};

/** Why a connection attempt failed, in the words `fish-sre doctor` prints. */
export type SshFailureKind = 'unreachable' | 'timeout' | 'auth-refused' | 'host-key-mismatch' | 'host-key-unknown' | 'connection-lost' | 'channel-refused';
