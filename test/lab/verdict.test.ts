// bench/boot's verdict against issue 9's bar (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, verdict } from './verdict.js';

test('median: odd, even, non-finite samples dropped, none', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([NaN, 5, 1]), 3);
  assert.ok(Number.isNaN(median([NaN])));
});

test('TFTP: no slower than the reference (as printed), else missed', () => {
  const ok = verdict({ variant: 'web-blade-tftp', reference: 'dnsmasq-web-blade', transport: 'tftp', samples: [3.5, 3.7, 4.0], refSamples: [3.7, 3.6, 3.9] });
  assert.equal(ok.met, true, ok.line);
  assert.match(ok.line, /1\.00x dnsmasq-web-blade's .*runs 3\.50-4\.00 s vs 3\.60-3\.90 s.*: met$/);
  const miss = verdict({ variant: 'web-blade-tftp', reference: 'dnsmasq-web-blade', transport: 'tftp', samples: [4.04, 2.82, 4.61], refSamples: [3.68, 7.25, 2.9] });
  assert.equal(miss.met, false);
  assert.match(miss.line, /1\.10x .*MISSED$/);
});

test('HTTP: strictly faster; a side without figures is no verdict', () => {
  assert.equal(verdict({ variant: 'h', reference: 'r', transport: 'http', samples: [0.74], refSamples: [3.68] }).met, true);
  assert.equal(verdict({ variant: 'h', reference: 'r', transport: 'http', samples: [3.68], refSamples: [3.68] }).met, false, 'equal is not faster');
  const none = verdict({ variant: 'h', reference: 'r', transport: 'http', samples: [NaN], refSamples: [3] });
  assert.equal(none.met, undefined);
  assert.match(none.line, /no figure$/);
});
