/**
 * This machine's own interface addresses (`os.networkInterfaces()`), canonical, read again at most every few
 * seconds: interfaces come and go (DHCP, containers), and a request to one of them reaches this server's other
 * listeners however public the address looks.
 */
import { networkInterfaces } from 'node:os';
import { canonicalAddress } from './address-class.ts';

const REFRESH_MS = 5_000;
let cached: { at: number; set: ReadonlySet<string> } | undefined;

/** Canonical addresses of every interface of this machine. */
export function ownAddresses(now: number = Date.now()): ReadonlySet<string> {
  if (cached && now - cached.at < REFRESH_MS) return cached.set;
  const set = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) {
      const a = canonicalAddress(info.address);
      if (a) set.add(a);
    }
  }
  cached = { at: now, set };
  return set;
}
