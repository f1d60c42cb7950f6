// IPv4 addresses and CIDR blocks as 32-bit integers: parse, contain, overlap, allocate.

export interface Cidr {
  network: number;
  prefix: number;
  /** first and last address of the block */
  first: number;
  last: number;
}

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p, i) => p > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith("0")))) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Parses `a.b.c.d/n`; rejects host bits set (Azure rejects `10.0.0.1/16` as an address prefix). */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const ip = parseIpv4(m[1]);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ip / size) * size;
  if (network !== ip) return undefined;
  return { network, prefix, first: network, last: network + size - 1 };
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return inner.first >= outer.first && inner.last <= outer.last;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/**
 * The lowest free host address of an Azure subnet: Azure reserves the network address, the next
 * three (gateway and DNS) and the broadcast address.
 */
export function firstFreeAzureAddress(subnet: Cidr, used: Set<number>): number | undefined {
  for (let a = subnet.first + 4; a < subnet.last; a++) if (!used.has(a)) return a;
  return undefined;
}

/** Only the canonical form: parseCidr alone would accept " 10.0.0.0/8" and "10.0.0.0/08". */
export function isCanonicalCidr(text: string): boolean {
  const cidr = parseCidr(text);
  return cidr !== undefined && `${formatIpv4(cidr.network)}/${cidr.prefix}` === text;
}
