import { isIPv6 } from 'node:net';

/**
 * The source a request's per-address limits count against. An IPv6 client commonly holds a whole /64
 * (one prefix per home or phone), so counting full IPv6 addresses would hand one attacker as many
 * shares of a phone's sends and a code's attempts as it cares to pick: its /64 is one source. An
 * IPv4-mapped IPv6 address (`::ffff:0:0/96`, however spelled) is its IPv4 address. Anything else
 * (API Gateway always gives an address) is kept, cut to 64 characters, so it cannot grow an item.
 */
export function sourceOf(address: string): string {
  if (!isIPv6(address)) return address.slice(0, 64);
  const groups = hextets(address.split('%')[0]!);
  if (groups.slice(0, 6).join(':') === '0:0:0:0:0:ffff') return mappedIPv4(groups.slice(6));
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The IPv4 address of a mapped address's last 32 bits, written either way (`1.2.3.4` or `102:304`). */
function mappedIPv4(tail: string[]): string {
  if (tail.length === 1) return tail[0]!;
  return tail.flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff]).join('.');
}

/** The eight groups of an IPv6 address, without leading zeros, `::` expanded. */
function hextets(address: string): string[] {
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  // An embedded IPv4 tail (::1.2.3.4) fills two groups; only the first four matter here.
  const count = (parts: string[]) => parts.reduce((total, part) => total + (part.includes('.') ? 2 : 1), 0);
  const front = groups(head);
  const back = groups(tail);
  const middle = tail === undefined ? [] : Array<string>(8 - count(front) - count(back)).fill('0');
  return [...front, ...middle, ...back].map((group) => (group.includes('.') ? group : group.toLowerCase().replace(/^0+(?=.)/, '')));
}
