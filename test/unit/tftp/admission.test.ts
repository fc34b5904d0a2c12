// Transfer admission: answered transfers hold slots; unanswered ones wait in a
// small pool where the oldest makes room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransferAdmission } from '../../../server/tftp/admission.js';
import { SourceFilter, parseRelayEntry, relayIssues } from '../../../server/config/sources.js';
import { resolveNetworks } from '../../../server/config/networks.js';
import { parseIpv4 } from '../../../server/net/ipv4.js';

test('a flood of unanswered requests evicts only unanswered ones, oldest first', () => {
  const a = new TransferAdmission<string>(2, 3);
  assert.deepEqual(a.admit('real', 'real'), { ok: true });
  assert.equal(a.promote('real'), true);
  const evicted: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = a.admit(`f${i}`, `f${i}`);
    assert.ok(r.ok);
    if (r.evicted) evicted.push(r.evicted);
  }
  assert.deepEqual(evicted, ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6']);
  assert.equal(a.answeredCount, 1);
  assert.equal(a.unansweredCount, 3);
  assert.equal(a.get('real'), 'real');
  // A new real client is admitted (evicting a forger), answers, and holds the second slot.
  assert.deepEqual(a.admit('real2', 'real2'), { ok: true, evicted: 'f7' });
  assert.equal(a.promote('real2'), true);
  // Both answered slots taken: busy, whatever waits.
  assert.deepEqual(a.admit('late', 'late'), { ok: false, reason: 'busy' });
  // A waiting one that answers now finds no slot: the caller ends it.
  assert.equal(a.promote('f8'), false);
  assert.equal(a.get('f8'), undefined);
  assert.equal(a.release('real', 'other'), false, 'released only by its own item');
  assert.equal(a.release('real', 'real'), true);
  assert.deepEqual(a.admit('late', 'late'), { ok: true });
});

test('requests from proven sources are never dropped for unproven ones', () => {
  const a = new TransferAdmission<string>(10, 3);
  a.prove('10.0.0.20');
  const P = '10.0.0.20';
  a.admit('p1', 'p1', P);
  a.admit('f1', 'f1', '10.0.0.150');
  a.admit('p2', 'p2', P);
  // Full: a new unproven request evicts the oldest unproven one, not the older proven one.
  assert.deepEqual(a.admit('f2', 'f2'), { ok: true, evicted: 'f1' });
  assert.deepEqual(a.admit('f3', 'f3'), { ok: true, evicted: 'f2' });
  assert.deepEqual(a.admit('p3', 'p3', P), { ok: true, evicted: 'f3' });
  // Only proven ones wait: an unproven newcomer is refused; a proven one takes the oldest's place.
  assert.deepEqual(a.admit('f4', 'f4'), { ok: false, reason: 'crowded' });
  assert.deepEqual(a.admit('p4', 'p4', P), { ok: true, evicted: 'p1' });
  assert.equal(a.promote('p2'), true);
  assert.deepEqual(a.admit('f5', 'f5'), { ok: true }, 'room again');
});

test('the same key admitted again replaces itself without evicting another', () => {
  const a = new TransferAdmission<number>(4, 2);
  a.admit('x', 1);
  a.admit('y', 2);
  assert.deepEqual(a.admit('x', 3), { ok: true });
  assert.equal(a.get('x'), 3);
  assert.equal(a.get('y'), 2);
});

test('sources: served networks, relays (address or network), loopback when asked', () => {
  const { networks } = resolveNetworks([
    { name: 'in', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1' },
    { name: 'far', cidr: '10.5.0.0/16', serverAddress: '10.0.0.1' },
  ]);
  const f = new SourceFilter(networks, ['192.168.7.1', '172.16.0.0/12'], { loopback: true });
  for (const ok of ['10.0.0.77', '10.5.3.4', '192.168.7.1', '172.20.1.1', '127.0.0.1']) assert.equal(f.allowsText(ok), true, ok);
  for (const no of ['10.0.1.1', '192.168.7.2', '8.8.8.8', '0.146.0.0', 'junk']) assert.equal(f.allowsText(no), false, no);
  assert.equal(new SourceFilter(networks, []).allows(parseIpv4('127.0.0.1')!), false);
  assert.equal(parseRelayEntry('10.9.0.0/16')?.prefix, 16);
  assert.equal(parseRelayEntry('10.9.0.1')?.prefix, 32);
  assert.deepEqual(relayIssues(['10.9.0.1', '10.9.0.1/16', 'relay1']).map((i) => i.path), ['dhcp.relays[1]', 'dhcp.relays[2]']);
});
