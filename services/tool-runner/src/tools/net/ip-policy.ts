import { isIPv4, isIPv6 } from 'node:net';

/** What kind of address an IP is, as far as reaching it from a server is concerned. */
export type AddressCategory =
  | 'public'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link_local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'reserved'
  | 'invalid';

/** A policy's answer for one address. */
export interface AddressVerdict {
  allowed: boolean;
  category: AddressCategory;
}

/**
 * Decides whether the runner may connect to `address` (a canonical IP string, as DNS or the URL
 * parser produce) on `port`. The default allows public unicast addresses only. A different policy
 * can only be passed in code (tests), never configured from the environment.
 */
export type AddressPolicy = (address: string, port: number) => AddressVerdict;

function parseIPv4(address: string): number[] | undefined {
  if (!isIPv4(address)) return undefined;
  return address.split('.').map(Number);
}

/** 16 bytes of an IPv6 address (with or without an embedded dotted IPv4 tail); zone ids are refused. */
export function parseIPv6(address: string): number[] | undefined {
  if (address.includes('%') || !isIPv6(address)) return undefined;
  let text = address.toLowerCase();
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    const v4 = parseIPv4(maybeV4);
    if (!v4) return undefined;
    tail.push(...v4);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = groups(left);
  const rest = right === undefined ? [] : groups(right);
  const zeros = right === undefined ? 0 : 8 - head.length - rest.length;
  const words = [...head, ...new Array<number>(zeros).fill(0), ...rest];
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffff)) return undefined;
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

function inV4(ip: number[], base: [number, number, number, number], bits: number): boolean {
  const value = ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
  const net = ((base[0] << 24) | (base[1] << 16) | (base[2] << 8) | base[3]) >>> 0;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (value & mask) === (net & mask);
}

/** Special-purpose IPv4 ranges (IANA registry, RFC 6890 and successors), most specific first. */
const IPV4_RANGES: Array<[[number, number, number, number], number, AddressCategory]> = [
  [[255, 255, 255, 255], 32, 'broadcast'],
  [[0, 0, 0, 0], 8, 'unspecified'],
  [[10, 0, 0, 0], 8, 'private'],
  [[100, 64, 0, 0], 10, 'shared'],
  [[127, 0, 0, 0], 8, 'loopback'],
  [[169, 254, 0, 0], 16, 'link_local'],
  [[172, 16, 0, 0], 12, 'private'],
  [[192, 0, 0, 0], 24, 'reserved'],
  [[192, 0, 2, 0], 24, 'documentation'],
  [[192, 88, 99, 0], 24, 'reserved'],
  [[192, 168, 0, 0], 16, 'private'],
  [[198, 18, 0, 0], 15, 'reserved'],
  [[198, 51, 100, 0], 24, 'documentation'],
  [[203, 0, 113, 0], 24, 'documentation'],
  [[224, 0, 0, 0], 4, 'multicast'],
  [[240, 0, 0, 0], 4, 'reserved'],
];

function classifyV4Bytes(ip: number[]): AddressCategory {
  for (const [base, bits, category] of IPV4_RANGES) if (inV4(ip, base, bits)) return category;
  return 'public';
}

function startsWith(bytes: number[], prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const bit = 0x80 >> (i & 7);
    if ((bytes[byte]! & bit) !== (prefix[byte]! & bit)) return false;
  }
  return true;
}

const v6 = (address: string) => parseIPv6(address)!;

function classifyV6Bytes(b: number[]): AddressCategory {
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zeros(0, 16)) return 'unspecified';
  if (zeros(0, 15) && b[15] === 1) return 'loopback';
  // ::ffff:a.b.c.d reaches the IPv4 host a.b.c.d on a dual-stack socket: judge the IPv4 address.
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return classifyV4Bytes(b.slice(12));
  // Deprecated IPv4-compatible (::a.b.c.d) and SIIT (::ffff:0:a.b.c.d) forms: never needed.
  if (zeros(0, 12) || (zeros(0, 8) && b[8] === 0xff && b[9] === 0xff && zeros(10, 12))) return 'reserved';
  // NAT64 well-known prefix: the packet goes to the embedded IPv4 address.
  if (startsWith(b, v6('64:ff9b::'), 96)) {
    const embedded = classifyV4Bytes(b.slice(12));
    return embedded === 'public' ? 'public' : embedded;
  }
  if (startsWith(b, v6('64:ff9b:1::'), 48)) return 'private';
  if (startsWith(b, v6('100::'), 64)) return 'reserved';
  if (startsWith(b, v6('2001:db8::'), 32)) return 'documentation';
  // IETF protocol assignments (Teredo 2001::/32 among them) and 6to4 (2002::/16, tunnels to IPv4).
  if (startsWith(b, v6('2001::'), 23)) return 'reserved';
  if (startsWith(b, v6('2002::'), 16)) return 'reserved';
  if (startsWith(b, v6('fc00::'), 7)) return 'private';
  if (startsWith(b, v6('fe80::'), 10)) return 'link_local';
  if (startsWith(b, v6('fec0::'), 10)) return 'private';
  if (startsWith(b, v6('ff00::'), 8)) return 'multicast';
  if (startsWith(b, v6('2000::'), 3)) return 'public';
  return 'reserved';
}

/** The category of an IP address string; anything that is not a plain IPv4 or IPv6 address is `invalid`. */
export function classifyAddress(address: string): AddressCategory {
  const v4 = parseIPv4(address);
  if (v4) return classifyV4Bytes(v4);
  const bytes = parseIPv6(address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address);
  if (bytes) return classifyV6Bytes(bytes);
  return 'invalid';
}

/** The default policy: public unicast addresses only, on any port. */
export const publicAddressesOnly: AddressPolicy = (address) => {
  const category = classifyAddress(address);
  return { allowed: category === 'public', category };
};
