// Which ACME directory URLs Jumpgate may call. The Function contacts the spec's directory itself
// (and every URL the directory names), from inside Azure: a directory on a loopback, link-local or
// private address would let whoever may PUT a stack make the Function send requests to the instance
// metadata service, the Functions host's own endpoints or the private network (server-side request
// forgery). So outside the sandbox the host must be a public DNS name or a public IP address. Names
// are judged by their form only (no DNS lookup here): names that can only be local (localhost,
// single labels, .local, .internal, ...) are refused. Pure; the route and the issuer ask it.
import { BlockList, isIP } from "node:net";

/** Address blocks that are not on the public Internet (IANA special-purpose registries, RFC 6890). */
const NON_PUBLIC = (() => {
  const list = new BlockList();
  const v4: [string, number][] = [
    ["0.0.0.0", 8], // "this network"
    ["10.0.0.0", 8], // private (RFC 1918)
    ["100.64.0.0", 10], // shared address space (carrier-grade NAT)
    ["127.0.0.0", 8], // loopback
    ["169.254.0.0", 16], // link-local: Azure IMDS 169.254.169.254 among them
    ["172.16.0.0", 12], // private
    ["192.0.0.0", 24], // IETF protocol assignments
    ["192.0.2.0", 24], // documentation
    ["192.88.99.0", 24], // 6to4 relay anycast (deprecated)
    ["192.168.0.0", 16], // private
    ["198.18.0.0", 15], // benchmarking
    ["198.51.100.0", 24], // documentation
    ["203.0.113.0", 24], // documentation
    ["224.0.0.0", 4], // multicast
    ["240.0.0.0", 4], // reserved, and the broadcast address
  ];
  for (const [net, prefix] of v4) list.addSubnet(net, prefix, "ipv4");
  const v6: [string, number][] = [
    ["::", 128], // unspecified
    ["::1", 128], // loopback
    ["::", 96], // IPv4-compatible (deprecated)
    ["64:ff9b:1::", 48], // local-use IPv4/IPv6 translation
    ["100::", 64], // discard-only
    ["2001::", 23], // IETF protocol assignments
    ["2001:db8::", 32], // documentation
    ["fc00::", 7], // unique local
    ["fe80::", 10], // link-local
    ["fec0::", 10], // site-local (deprecated)
    ["ff00::", 8], // multicast
  ];
  for (const [net, prefix] of v6) list.addSubnet(net, prefix, "ipv6");
  return list;
})();

/** DNS names that only ever mean something local (RFC 6761, 6762, 8375, ICANN's .internal; Azure's internal DNS). */
const LOCAL_NAME_SUFFIXES = [
  "localhost",
  "local",
  "internal",
  "home.arpa",
  "localdomain",
  "lan",
  "home",
  "corp",
  "intranet",
  "private",
  "test",
  "invalid",
  "example",
  "internal.cloudapp.net",
];

/**
 * Why `url`'s host is not a public host, or undefined when it is one. A URL that does not parse is
 * left to the schema (which requires an https:// URI).
 */
export function nonPublicHostReason(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  // WHATWG URL parsing already turned 2130706433, 0x7f.1 and 127.1 into 127.0.0.1; IPv6 keeps brackets
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 4) return NON_PUBLIC.check(bare, "ipv4") ? `${bare} is not a public IPv4 address` : undefined;
  if (family === 6) {
    const mapped = embeddedIpv4(bare);
    if (mapped !== undefined && NON_PUBLIC.check(mapped, "ipv4")) {
      return `${bare} embeds ${mapped}, which is not a public IPv4 address`;
    }
    return NON_PUBLIC.check(bare, "ipv6") ? `${bare} is not a public IPv6 address` : undefined;
  }
  const name = bare.replace(/\.$/, "");
  if (!name.includes(".")) return `'${name}' is a single-label name, which only resolves on a local network`;
  const suffix = LOCAL_NAME_SUFFIXES.find((s) => name === s || name.endsWith(`.${s}`));
  if (suffix) return `'${name}' is under .${suffix}, which only resolves locally`;
  return undefined;
}

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const groups = expandIpv6(address);
  if (!groups) return undefined;
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  const nat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  if (!mapped && !nat64) return undefined;
  return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join(".");
}

/** The eight 16-bit groups of a valid IPv6 address (with a dotted IPv4 tail or not). */
function expandIpv6(address: string): number[] | undefined {
  let text = address.split("%")[0];
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const octets = tail[1].split(".").map(Number);
    text =
      text.slice(0, -tail[1].length) +
      `${((octets[0] << 8) | octets[1]).toString(16)}:${((octets[2] << 8) | octets[3]).toString(16)}`;
  }
  const [head, rest] = text.split("::");
  const part = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const front = part(head);
  const back = part(rest);
  const groups =
    rest === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}
