// Connection counts read from the engines' own output: conntrack -L lines as
// conntrack-tools 1.4.7 prints them (taken from a namespace with a DNAT rule
// and one open and one closed connection), and ipvsadm -Ln's table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConntrack, parseIpvsadmList } from '../../../server/director/connections.js';

test('conntrack: entries count for the real server they were NATed to, established apart from the rest', () => {
  const out = [
    'tcp      6 431999 ESTABLISHED src=192.168.100.2 dst=192.168.100.100 sport=60608 dport=80 src=10.0.0.11 dst=192.168.100.2 sport=80 dport=60608 [ASSURED] mark=0 use=1',
    'tcp      6 119 TIME_WAIT src=192.168.100.2 dst=192.168.100.100 sport=60598 dport=80 src=10.0.0.11 dst=192.168.100.2 sport=80 dport=60598 [ASSURED] mark=0 use=1',
    'tcp      6 118 SYN_SENT src=192.168.100.2 dst=192.168.100.100 sport=60700 dport=80 [UNREPLIED] src=10.0.0.12 dst=192.168.100.2 sport=80 dport=60700 mark=0 use=1',
    'udp      17 29 src=192.168.100.2 dst=192.168.100.100 sport=5353 dport=53 src=10.0.0.12 dst=192.168.100.2 sport=53 dport=5353 mark=0 use=1',
    'conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.',
    '',
  ].join('\n');
  const c = parseConntrack(out);
  assert.deepEqual(Object.fromEntries(c), {
    '10.0.0.11:80': { active: 1, inactive: 1 },
    '10.0.0.12:80': { active: 0, inactive: 1 },
    '10.0.0.12:53': { active: 1, inactive: 0 },
  });
  assert.equal(parseConntrack('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n').size, 0);
});

test('ipvsadm -Ln: each service and real server with ActiveConn and InActConn', () => {
  const out = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.1.100:80 wlc persistent 300
  -> 10.0.0.11:80                 Masq    1      12         3
  -> 10.0.0.12:80                 Masq    0      2          40
UDP  192.168.1.100:53 rr
  -> 10.0.0.11:53                 Masq    1      0          7
`;
  const t = parseIpvsadmList(out);
  assert.deepEqual([...t.keys()], ['192.168.1.100:80/tcp', '192.168.1.100:53/udp']);
  assert.deepEqual(t.get('192.168.1.100:80/tcp')!.get('10.0.0.12:80'), { active: 2, inactive: 40 });
  assert.deepEqual(t.get('192.168.1.100:53/udp')!.get('10.0.0.11:53'), { active: 0, inactive: 7 });
});
