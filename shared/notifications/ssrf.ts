import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { ValidationError } from '../errors.ts';

/**
 * The SSRF guard of webhook targets: a target's host is resolved, and every address it resolves
 * to must be public (ipaddr.js's `unicast` range: not private, loopback, link-local, unique-local,
 * multicast, carrier-grade NAT, reserved, nor an IPv6 form embedding an IPv4 one, whose IPv4 is
 * judged instead). Loopback is accepted only where the local runtime allows it (an `npm start`
 * setting no AWS stage has). The caller then connects to the address checked here, not to the name
 * again: a second resolution could answer another address (DNS rebinding).
 */

export interface CheckedTarget {
  url: URL;
  /** The address to connect to. */
  address: string;
  family: 4 | 6;
}

export interface TargetPolicy {
  allowLoopback: boolean;
}

/** Why a target URL is refused before any resolution, or undefined. */
export function urlProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http or https URL';
  if (url.username || url.password) return 'must not carry credentials';
  if (url.hostname === '') return 'must name a host';
  return undefined;
}

/** Why an address may not be called, or undefined when it may. */
export function addressProblem(address: string, policy: TargetPolicy): string | undefined {
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  // `::ffff:10.0.0.1` is 10.0.0.1: judged as the IPv4 address it carries.
  const parsed = ipaddr.process(address);
  const range = parsed.range();
  if (range === 'unicast') return undefined;
  if (range === 'loopback' && policy.allowLoopback) return undefined;
  const carried = parsed.toString();
  return `${carried === address ? address : `${address} (${carried})`} is a ${range} address`;
}

/**
 * Resolves the target's host and checks every address; throws a ValidationError naming `field`
 * when the URL, the name or an address is refused.
 */
export async function checkTarget(raw: string, policy: TargetPolicy, field: string): Promise<CheckedTarget> {
  const problem = urlProblem(raw);
  if (problem) throw ValidationError.field(field, problem);
  const url = new URL(raw);
  // `[::1]` is written with brackets in a URL, without them as an address.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: Array<{ address: string; family: number }>;
  try {
    addresses = await lookup(host, { all: true, verbatim: true });
  } catch (err) {
    throw ValidationError.field(
      field,
      `host ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (addresses.length === 0) throw ValidationError.field(field, `host ${host} does not resolve`);
  for (const { address } of addresses) {
    const refused = addressProblem(address, policy);
    if (refused) throw ValidationError.field(field, `refused target: ${refused}`);
  }
  const first = addresses[0]!;
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
