import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** `SHA256:<base64, no padding>` of a raw SSH public key blob, as OpenSSH prints it. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The host token OpenSSH writes in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export interface KnownHostEntry {
  keyType: string;
  key: Buffer;
  revoked: boolean;
}

function hostPatternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (salt === undefined || hash === undefined) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  // Wildcards and negations are accepted by OpenSSH; a pool pinned to IPs only needs literals,
  // so a pattern with wildcards simply never matches (strict: it cannot vouch for a key).
  return pattern === name;
}

/** The known_hosts entries (not @cert-authority) that name `host:port`. */
export function findKnownHosts(text: string, host: string, port: number): KnownHostEntry[] {
  const name = knownHostsName(host, port);
  const entries: KnownHostEntry[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith('@')) {
      const marker = fields.shift();
      if (marker === '@cert-authority') continue;
      if (marker === '@revoked') revoked = true;
      else continue;
    }
    const [patterns, keyType, keyBase64] = fields;
    if (patterns === undefined || keyType === undefined || keyBase64 === undefined) continue;
    const positive = patterns.split(',').filter((p) => !p.startsWith('!'));
    const negative = patterns
      .split(',')
      .filter((p) => p.startsWith('!'))
      .map((p) => p.slice(1));
    if (negative.some((p) => hostPatternMatches(p, name))) continue;
    if (!positive.some((p) => hostPatternMatches(p, name))) continue;
    entries.push({ keyType, key: Buffer.from(keyBase64, 'base64'), revoked });
  }
  return entries;
}

export function readKnownHosts(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** Appends `name keytype base64` (trust on first use). */
export function appendKnownHost(path: string, host: string, port: number, keyBlob: Buffer): void {
  const keyType = keyTypeOf(keyBlob);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const existing = readKnownHosts(path);
  const prefix = existing === '' || existing.endsWith('\n') ? '' : '\n';
  appendFileSync(path, `${prefix}${knownHostsName(host, port)} ${keyType} ${keyBlob.toString('base64')}\n`, { mode: 0o600 });
}

/** The key type string at the start of an SSH public key blob (`ssh-ed25519` ...). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/** ssh2 `algorithms.serverHostKey` names for a known_hosts key type. */
export function hostKeyAlgorithmsFor(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [keyType];
}
