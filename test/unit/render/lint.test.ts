// The syntax checks behind `templates check`: a bpbatch parser (bpbatch
// cannot run here) and lighter checks of PXELINUX, iPXE and GRUB output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lintConfig, parseBpbatch, tokenizeBpbatch } from '../../../server/render/lint.js';

test('bpbatch: the paper-style script parses into Set and LinuxBoot with their strings', () => {
  const script = [
    '# comment',
    '',
    ':start',
    'Set CacheNever = "ON"',
    'LinuxBoot "boot/blade1/kernel" "console=ttyS0 motd=\\"a b\\"" "boot/blade1/initrd"',
  ].join('\n');
  const { statements, issues } = parseBpbatch(script);
  assert.deepEqual(issues, []);
  assert.deepEqual(
    statements.map((s) => [s.line, s.command, s.args.map((a) => a.value)]),
    [
      [4, 'Set', ['CacheNever', '=', 'ON']],
      [5, 'LinuxBoot', ['boot/blade1/kernel', 'console=ttyS0 motd="a b"', 'boot/blade1/initrd']],
    ],
  );
});

test('bpbatch: every syntax error is reported with its line', () => {
  const script = ['Set CacheNever "ON"', 'LinuxBoot "k" "unterminated', 'LinuxBot "k"', 'LinuxBoot kernel', 'LinuxBoot "" "x"', ': bad label', 'Log "a"b'].join('\n');
  const { issues } = parseBpbatch(script);
  assert.deepEqual(
    issues.map((i) => i.line),
    [1, 2, 3, 4, 5, 6, 7],
    JSON.stringify(issues),
  );
  assert.match(issues[0]!.message, /Set NAME = "value"/);
  assert.match(issues[1]!.message, /unterminated string/);
  assert.match(issues[2]!.message, /unknown command 'LinuxBot'/);
  assert.match(issues[4]!.message, /kernel file name is empty/);
});

test('bpbatch tokenizer: escapes, numbers, operators', () => {
  assert.deepEqual(tokenizeBpbatch('If "$a" == "b\\\\c" goto 12'), [
    { kind: 'word', value: 'If' },
    { kind: 'string', value: '$a' },
    { kind: 'op', value: '==' },
    { kind: 'string', value: 'b\\c' },
    { kind: 'word', value: 'goto' },
    { kind: 'number', value: 12 },
  ]);
  assert.throws(() => tokenizeBpbatch('Set x = {'), /unexpected character/);
});

test('kernel command line longer than the kernel keeps is flagged in every loader', () => {
  const long = 'x=' + 'a'.repeat(2100);
  assert.match(lintConfig('bpbatch', `LinuxBoot "k" "${long}" "i"`)[0]!.message, /2102 bytes/);
  assert.match(lintConfig('pxelinux', `LABEL a\n  KERNEL k\n  APPEND ${long}`)[0]!.message, /bytes/);
  assert.match(lintConfig('grub', `menuentry 'a' {\n  linux /k ${long}\n}`)[0]!.message, /bytes/);
  // iPXE: the arguments after the kernel's URI, options and a trailing "|| goto" left out.
  const ipxe = lintConfig('ipxe', `#!ipxe\n:retry\nkernel --name kernel http://x/k initrd=initrd ${long} || goto retry\ninitrd http://x/i\nboot\n`);
  assert.equal(ipxe.length, 1);
  assert.equal(ipxe[0]!.line, 3);
  assert.match(ipxe[0]!.message, /the kernel command line is \d+ bytes/);
  assert.match(lintConfig('ipxe', '#!ipxe\nimgargs kernel a="b\nboot\n')[0]!.message, /unbalanced double quote/);
  assert.deepEqual(lintConfig('ipxe', '#!ipxe\nkernel --name kernel http://x/k initrd=initrd console=ttyS0 || goto retry\nchain http://x/next.ipxe\n'), []);
});

test('PXELINUX, iPXE and GRUB checks', () => {
  assert.deepEqual(lintConfig('pxelinux', '# c\nDEFAULT a\nPROMPT 0\nLABEL a\n  KERNEL k\n  INITRD i\n  APPEND x=1\n'), []);
  assert.match(lintConfig('pxelinux', 'DEFAULT a\nKERNAL k\n')[0]!.message, /unknown PXELINUX keyword 'KERNAL'/);
  assert.deepEqual(lintConfig('ipxe', '#!ipxe\nboot\n'), []);
  assert.match(lintConfig('ipxe', '\n#!ipxe\n')[0]!.message, /must start with the line #!ipxe/);
  assert.deepEqual(lintConfig('grub', "set a=1\nmenuentry 'x { y' {\n  linux /k 'a=\"b c\"'\n}\n"), []);
  assert.deepEqual(lintConfig('grub', "menuentry 'x' {\n  linux /k\n").map((i) => i.message), ["1 '{' never closed"]);
  assert.deepEqual(lintConfig('grub', "echo 'oops\n").map((i) => i.message), ["unterminated ' quote"]);
});
