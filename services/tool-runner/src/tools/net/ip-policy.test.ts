import { describe, expect, it } from 'vitest';
import { parseFetchUrl } from './guarded-fetch.ts';
import { classifyAddress, parseIPv6, publicAddressesOnly } from './ip-policy.ts';

/** The host the socket would reach, as the WHATWG URL parser canonicalises it. */
const hostOf = (url: string) => parseFetchUrl(url).hostname.replace(/^\[|\]$/g, '');

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['169.254.169.254', 'link_local'],
    ['169.254.0.1', 'link_local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['203.0.113.5', 'documentation'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link_local'],
    ['febf::1', 'link_local'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::127.0.0.1', 'reserved'],
    ['::ffff:0:127.0.0.1', 'reserved'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link_local'],
    ['2002:7f00:1::', 'reserved'],
    ['2001::1', 'reserved'],
    ['2001:db8::1', 'documentation'],
    ['fe80::1%eth0', 'invalid'],
    ['localhost', 'invalid'],
    ['', 'invalid'],
  ])('%s is %s', (address, category) => {
    expect(classifyAddress(address)).toBe(category);
    expect(publicAddressesOnly(address, 80).allowed).toBe(false);
  });

  it.each(['93.184.215.14', '8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBe('public');
      expect(publicAddressesOnly(address, 443)).toEqual({ allowed: true, category: 'public' });
    },
  );

  it('parses IPv6 forms to the same bytes', () => {
    expect(parseIPv6('::ffff:127.0.0.1')).toEqual(parseIPv6('0:0:0:0:0:ffff:7f00:0001'));
    expect(parseIPv6('1::')).toEqual([0, 1, ...new Array(14).fill(0)]);
    expect(parseIPv6('not-an-ip')).toBeUndefined();
  });
});

describe('URL host forms are canonicalised before the check', () => {
  it.each([
    ['http://2130706433/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://0x7f.0.0.1/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://127.0.1/', '127.0.0.1'],
    ['http://017700000001/', '127.0.0.1'],
    ['http://0/', '0.0.0.0'],
    ['http://[::1]:8080/', '::1'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1'],
    ['http://[0:0:0:0:0:ffff:a9fe:a9fe]/', '::ffff:a9fe:a9fe'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254'],
    ['http://0xa9.0xfe.0xa9.0xfe/', '169.254.169.254'],
    ['http://2852039166/', '169.254.169.254'],
    ['http://%31%32%37.0.0.1/', '127.0.0.1'],
  ])('%s reaches %s, which is refused', (url, host) => {
    expect(hostOf(url)).toBe(host);
    expect(publicAddressesOnly(host, 80).allowed).toBe(false);
  });

  it('rejects other schemes and credentials', () => {
    for (const url of ['file:///etc/passwd', 'gopher://127.0.0.1/', 'ftp://example.com/', 'javascript:alert(1)', 'not a url']) {
      expect(() => parseFetchUrl(url), url).toThrow(expect.objectContaining({ code: 'invalid_url' }));
    }
    expect(() => parseFetchUrl('http://user:pw@example.com/')).toThrow(expect.objectContaining({ code: 'invalid_url' }));
  });
});
