// A small ELF reader: what a RAM disk builder needs from a binary (its
// program interpreter, DT_NEEDED libraries, RPATH/RUNPATH) and from a kernel
// module (the .modinfo section: name, depends, aliases). Pure and
// bounds-checked: a truncated or hostile file gives an error result, never
// an exception or an out-of-range read.

export interface ElfDynamicInfo {
  class: 32 | 64;
  machine: number;
  /** ET_EXEC 2, ET_DYN 3, ET_REL 1. */
  type: number;
  interpreter: string | null;
  needed: string[];
  rpath: string[];
  runpath: string[];
}

export type ElfResult<T> = { ok: true; value: T } | { ok: false; error: string };

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

class Reader {
  constructor(readonly b: Buffer, readonly is64: boolean, readonly le: boolean) {}
  private need(off: number, n: number): void {
    if (!Number.isSafeInteger(off) || off < 0 || off + n > this.b.length) throw new ElfBounds(off, n);
  }
  u16(off: number): number {
    this.need(off, 2);
    return this.le ? this.b.readUInt16LE(off) : this.b.readUInt16BE(off);
  }
  u32(off: number): number {
    this.need(off, 4);
    return this.le ? this.b.readUInt32LE(off) : this.b.readUInt32BE(off);
  }
  u64(off: number): number {
    this.need(off, 8);
    const v = this.le ? this.b.readBigUInt64LE(off) : this.b.readBigUInt64BE(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfBounds(off, 8);
    return Number(v);
  }
  /** Address-sized word. */
  word(off: number): number {
    return this.is64 ? this.u64(off) : this.u32(off);
  }
  cstr(off: number, limit = this.b.length): string {
    this.need(off, 1);
    const end = this.b.indexOf(0, off);
    if (end < 0 || end > limit) throw new ElfBounds(off, 1);
    return this.b.toString('utf8', off, end);
  }
}

class ElfBounds extends Error {
  constructor(off: number, n: number) {
    super(`truncated or corrupt ELF (read of ${n} bytes at ${off})`);
  }
}

interface Header {
  r: Reader;
  type: number;
  machine: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

function header(b: Buffer): Header {
  if (b.length < 52 || b.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const cls = b[4];
  const data = b[5];
  if (cls !== 1 && cls !== 2) throw new Error(`unknown ELF class ${cls}`);
  if (data !== 1 && data !== 2) throw new Error(`unknown ELF data encoding ${data}`);
  const r = new Reader(b, cls === 2, data === 1);
  const is64 = cls === 2;
  return {
    r,
    type: r.u16(16),
    machine: r.u16(18),
    phoff: r.word(is64 ? 32 : 28),
    shoff: r.word(is64 ? 40 : 32),
    phentsize: r.u16(is64 ? 54 : 42),
    phnum: r.u16(is64 ? 56 : 44),
    shentsize: r.u16(is64 ? 58 : 46),
    shnum: r.u16(is64 ? 60 : 48),
    shstrndx: r.u16(is64 ? 62 : 50),
  };
}

interface Phdr {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

function programHeaders(h: Header): Phdr[] {
  const { r } = h;
  const out: Phdr[] = [];
  if (h.phnum > 4096) throw new Error(`implausible program header count ${h.phnum}`);
  for (let i = 0; i < h.phnum; i++) {
    const o = h.phoff + i * h.phentsize;
    out.push(
      r.is64
        ? { type: r.u32(o), offset: r.u64(o + 8), vaddr: r.u64(o + 16), filesz: r.u64(o + 32) }
        : { type: r.u32(o), offset: r.u32(o + 4), vaddr: r.u32(o + 8), filesz: r.u32(o + 16) },
    );
  }
  return out;
}

/** File offset of a virtual address, through the PT_LOAD segments (as the loader maps them). */
function vaddrToOffset(phdrs: Phdr[], addr: number): number | undefined {
  for (const p of phdrs) if (p.type === PT_LOAD && addr >= p.vaddr && addr < p.vaddr + p.filesz) return p.offset + (addr - p.vaddr);
  return undefined;
}

/** Interpreter and dynamic dependencies of an executable or shared object. */
export function readElfDynamic(b: Buffer): ElfResult<ElfDynamicInfo> {
  try {
    const h = header(b);
    const { r } = h;
    const phdrs = programHeaders(h);
    const info: ElfDynamicInfo = { class: r.is64 ? 64 : 32, machine: h.machine, type: h.type, interpreter: null, needed: [], rpath: [], runpath: [] };
    const interp = phdrs.find((p) => p.type === PT_INTERP);
    if (interp) info.interpreter = r.cstr(interp.offset, interp.offset + interp.filesz);
    const dyn = phdrs.find((p) => p.type === PT_DYNAMIC);
    if (!dyn) return { ok: true, value: info };
    const entSize = r.is64 ? 16 : 8;
    const entries: Array<[number, number]> = [];
    for (let o = dyn.offset; o + entSize <= dyn.offset + dyn.filesz; o += entSize) {
      const tag = r.word(o);
      if (tag === DT_NULL) break;
      entries.push([tag, r.word(o + entSize / 2)]);
    }
    const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
    const strsz = entries.find(([t]) => t === DT_STRSZ)?.[1] ?? 0;
    if (strtabAddr === undefined) return { ok: true, value: info };
    const strtab = vaddrToOffset(phdrs, strtabAddr);
    if (strtab === undefined) throw new Error('DT_STRTAB outside every loaded segment');
    const str = (off: number) => {
      if (off >= strsz) throw new Error(`dynamic string offset ${off} past DT_STRSZ ${strsz}`);
      return r.cstr(strtab + off, strtab + strsz);
    };
    for (const [tag, val] of entries) {
      if (tag === DT_NEEDED) info.needed.push(str(val));
      else if (tag === DT_RPATH) info.rpath.push(...str(val).split(':').filter(Boolean));
      else if (tag === DT_RUNPATH) info.runpath.push(...str(val).split(':').filter(Boolean));
    }
    return { ok: true, value: info };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

/** The bytes of a named section (relocatable objects such as kernel modules have no program headers). */
export function readElfSection(b: Buffer, name: string): ElfResult<Buffer | null> {
  try {
    const h = header(b);
    const { r } = h;
    if (h.shnum === 0) return { ok: true, value: null };
    if (h.shnum > 65535 || h.shstrndx >= h.shnum) throw new Error('bad section header table');
    const sec = (i: number) => {
      const o = h.shoff + i * h.shentsize;
      return r.is64
        ? { name: r.u32(o), offset: r.u64(o + 24), size: r.u64(o + 32), type: r.u32(o + 4) }
        : { name: r.u32(o), offset: r.u32(o + 16), size: r.u32(o + 20), type: r.u32(o + 4) };
    };
    const shstr = sec(h.shstrndx);
    for (let i = 0; i < h.shnum; i++) {
      const s = sec(i);
      if (r.cstr(shstr.offset + s.name, shstr.offset + shstr.size) !== name) continue;
      if (s.type === 8 /* SHT_NOBITS */) return { ok: true, value: Buffer.alloc(0) };
      if (s.offset + s.size > b.length) throw new ElfBounds(s.offset, s.size);
      return { ok: true, value: b.subarray(s.offset, s.offset + s.size) };
    }
    return { ok: true, value: null };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

export interface ModInfo {
  name: string | null;
  depends: string[];
  aliases: string[];
  /** Modules whose symbols are used only softly (soft deps: "pre: x y"). */
  softdeps: string[];
}

/** The key=value strings of a kernel module's .modinfo section. */
export function readModInfo(b: Buffer): ElfResult<ModInfo> {
  const sec = readElfSection(b, '.modinfo');
  if (!sec.ok) return sec;
  if (!sec.value) return { ok: false, error: 'no .modinfo section (not a kernel module)' };
  const info: ModInfo = { name: null, depends: [], aliases: [], softdeps: [] };
  for (const kv of sec.value.toString('utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i < 0) continue;
    const k = kv.slice(0, i);
    const v = kv.slice(i + 1);
    if (k === 'name') info.name = v;
    else if (k === 'depends') info.depends.push(...v.split(',').filter(Boolean));
    else if (k === 'alias') info.aliases.push(v);
    else if (k === 'softdep') for (const w of v.split(/\s+/)) if (w && !w.endsWith(':')) info.softdeps.push(w);
  }
  return { ok: true, value: info };
}

/** The kernel release of an x86 bzImage (from its setup header), e.g. "6.1.0-53-cloud-amd64". */
export function bzImageVersion(b: Buffer): string | null {
  // "HdrS" at 0x202; kernel_version (a pointer, minus 0x200) at 0x20e.
  if (b.length < 0x210 || b.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  const off = b.readUInt16LE(0x20e) + 0x200;
  if (off >= b.length) return null;
  const end = b.indexOf(0, off);
  if (end < 0 || end - off > 256) return null;
  return b.toString('latin1', off, end).split(' ')[0] || null;
}
