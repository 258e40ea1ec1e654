import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { FishError, FishErrorCode, errorMessage } from '@fish-sre/core';

/** `::ffff:192.0.2.1` (how a dual-stack socket shows an IPv4 peer) -> `192.0.2.1`; anything else unchanged. */
export function unmapIPv4(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

function familyOf(address: string): 'ipv4' | 'ipv6' | undefined {
  if (isIPv4(address)) return 'ipv4';
  if (isIPv6(address)) return 'ipv6';
  return undefined;
}

/**
 * Builds the check for `approval.trustedProxies`: addresses or CIDR ranges, IPv4 or IPv6, compared
 * as addresses (node:net BlockList), never as strings, so that `127.0.0.1` also covers the same peer
 * seen as `::ffff:127.0.0.1` on a dual-stack socket. A malformed entry is a configuration error.
 */
export function createTrustedPeers(entries: readonly string[]): (peer: string | undefined) => boolean {
  const list = new BlockList();
  for (const entry of entries) {
    const [rawAddress = '', prefixText, extra] = entry.trim().split('/');
    const address = unmapIPv4(rawAddress);
    const family = familyOf(address);
    const prefix = prefixText === undefined ? undefined : Number(prefixText);
    const maxPrefix = family === 'ipv4' ? 32 : 128;
    const mappedPrefix = address !== rawAddress && prefix !== undefined ? prefix - 96 : prefix;
    if (!family || extra !== undefined || (prefixText !== undefined && (!/^\d{1,3}$/.test(prefixText) || mappedPrefix === undefined || mappedPrefix < 0 || mappedPrefix > maxPrefix))) {
      throw new FishError({
        code: FishErrorCode.CONFIG_INVALID,
        message: errorMessage('config', `approval.trustedProxies: "${entry}" is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, ::1, fd00::/8)`),
      });
    }
    if (mappedPrefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, mappedPrefix, family);
  }
  return (peer) => {
    if (!peer) return false;
    const address = unmapIPv4(peer);
    const family = familyOf(address);
    return family !== undefined && list.check(address, family);
  };
}
