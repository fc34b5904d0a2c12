// A FAT16 file system image ("superfloppy": no partition table) holding a
// few files, for UEFI HTTP boot of a RAM disk: the firmware downloads an
// .img, mounts it and starts \EFI\BOOT\BOOTX64.EFI from it. Pure: files in,
// image bytes out. 8.3 names only (no long names), one cluster = one sector,
// so the image is FAT16 from about 2 MiB of data up (smaller images are
// padded to that: FAT12's 12-bit entries are not written here).
const SECTOR = 512;
const ROOT_ENTRIES = 512;
const RESERVED = 1;
const FATS = 2;
/** FAT16 needs at least this many clusters (fewer is FAT12 by definition). */
const MIN_CLUSTERS = 4096;
const MAX_CLUSTERS = 65_524;

export interface FatFile {
  /** Path components, 8.3 names ("EFI", "BOOT", "BOOTX64.EFI"). */
  path: string[];
  data: Buffer;
}

/** An 8.3 name in its 11-byte directory form; throws on a name that does not fit. */
export function shortName(name: string): Buffer {
  const m = /^([A-Z0-9_~!#$%&'()@^`{}-]{1,8})(?:\.([A-Z0-9_~!#$%&'()@^`{}-]{1,3}))?$/.exec(name.toUpperCase());
  if (!m) throw new Error(`'${name}' is not an 8.3 file name`);
  return Buffer.from(m[1]!.padEnd(8) + (m[2] ?? '').padEnd(3), 'latin1');
}

interface Dir {
  dirs: Map<string, Dir>;
  files: Map<string, { data: Buffer; cluster?: number }>;
  /** First cluster, once laid out (the root has none). */
  cluster?: number;
}

function tree(files: FatFile[]): Dir {
  const root: Dir = { dirs: new Map(), files: new Map() };
  for (const f of files) {
    let d = root;
    for (const part of f.path.slice(0, -1)) {
      const key = part.toUpperCase();
      let next = d.dirs.get(key);
      if (!next) d.dirs.set(key, (next = { dirs: new Map(), files: new Map() }));
      d = next;
    }
    const name = f.path[f.path.length - 1]!.toUpperCase();
    shortName(name);
    if (d.files.has(name) || d.dirs.has(name)) throw new Error(`${f.path.join('/')} is there twice`);
    d.files.set(name, { data: f.data });
  }
  return root;
}

const clustersFor = (bytes: number) => Math.max(1, Math.ceil(bytes / SECTOR));
/** Bytes of a directory's entries: '.', '..' and one per child. */
const dirBytes = (d: Dir) => (2 + d.dirs.size + d.files.size) * 32;

function entry(name: Buffer, attr: number, cluster: number, size: number): Buffer {
  const e = Buffer.alloc(32);
  name.copy(e, 0);
  e[11] = attr;
  // 2026-01-01 00:00 (a fixed stamp: the same files make the same image).
  const date = ((2026 - 1980) << 9) | (1 << 5) | 1;
  e.writeUInt16LE(date, 16);
  e.writeUInt16LE(date, 18);
  e.writeUInt16LE(date, 24);
  e.writeUInt16LE(cluster & 0xffff, 26);
  e.writeUInt32LE(size, 28);
  return e;
}

export function fatImage(files: FatFile[], label = 'RACKBOOT'): Buffer {
  const root = tree(files);
  // Lay out clusters: directories first (depth-first), then the files.
  const dirs: Dir[] = [];
  const walk = (d: Dir) => {
    for (const sub of d.dirs.values()) {
      dirs.push(sub);
      walk(sub);
    }
  };
  walk(root);
  let next = 2;
  for (const d of dirs) {
    d.cluster = next;
    next += clustersFor(dirBytes(d));
  }
  const allFiles = (d: Dir): Array<{ data: Buffer; cluster?: number }> => [...d.files.values(), ...[...d.dirs.values()].flatMap(allFiles)];
  const everyFile = allFiles(root);
  for (const f of everyFile) {
    // An empty file has no cluster (0).
    f.cluster = f.data.length ? next : 0;
    if (f.data.length) next += clustersFor(f.data.length);
  }
  const clusters = Math.max(MIN_CLUSTERS, next - 2);
  if (clusters > MAX_CLUSTERS) throw new Error(`${clusters} clusters do not fit FAT16 with ${SECTOR}-byte clusters`);
  const fatSectors = Math.ceil(((clusters + 2) * 2) / SECTOR);
  const rootSectors = (ROOT_ENTRIES * 32) / SECTOR;
  const dataStart = RESERVED + FATS * fatSectors + rootSectors;
  const total = dataStart + clusters;
  const img = Buffer.alloc(total * SECTOR);

  // Boot sector with the BIOS parameter block.
  img.set([0xeb, 0x3c, 0x90], 0);
  img.write('RACKBOOT', 3, 'latin1');
  img.writeUInt16LE(SECTOR, 11);
  img[13] = 1; // sectors per cluster
  img.writeUInt16LE(RESERVED, 14);
  img[16] = FATS;
  img.writeUInt16LE(ROOT_ENTRIES, 17);
  if (total < 0x10000) img.writeUInt16LE(total, 19);
  else img.writeUInt32LE(total, 32);
  img[21] = 0xf8; // fixed disk
  img.writeUInt16LE(fatSectors, 22);
  img.writeUInt16LE(32, 24); // sectors per track
  img.writeUInt16LE(64, 26); // heads
  img[36] = 0x80;
  img[38] = 0x29; // extended boot signature
  img.writeUInt32LE(0x52424f54, 39); // volume serial "RBOT"
  img.write(label.toUpperCase().slice(0, 11).padEnd(11), 43, 'latin1');
  img.write('FAT16   ', 54, 'latin1');
  img[510] = 0x55;
  img[511] = 0xaa;

  // The allocation table: media and end-of-chain marks, then each object's chain.
  const fat = Buffer.alloc(fatSectors * SECTOR);
  fat.writeUInt16LE(0xfff8, 0);
  fat.writeUInt16LE(0xffff, 2);
  const chain = (first: number, n: number) => {
    for (let i = 0; i < n; i++) fat.writeUInt16LE(i === n - 1 ? 0xffff : first + i + 1, (first + i) * 2);
  };
  const clusterOffset = (c: number) => (dataStart + c - 2) * SECTOR;

  const entries = (d: Dir): Buffer[] => [
    ...[...d.dirs].map(([name, sub]) => entry(shortName(name), 0x10, sub.cluster!, 0)),
    ...[...d.files].map(([name, f]) => entry(shortName(name), 0x20, f.cluster!, f.data.length)),
  ];
  // Root directory: the volume label, then the entries.
  const rootAt = (RESERVED + FATS * fatSectors) * SECTOR;
  const rootList = [entry(Buffer.from(label.toUpperCase().slice(0, 11).padEnd(11), 'latin1'), 0x08, 0, 0), ...entries(root)];
  if (rootList.length > ROOT_ENTRIES) throw new Error('too many entries in the root directory');
  rootList.forEach((e, i) => e.copy(img, rootAt + i * 32));
  const writeDir = (d: Dir, parentCluster: number) => {
    const list = [entry(Buffer.from('.          ', 'latin1'), 0x10, d.cluster!, 0), entry(Buffer.from('..         ', 'latin1'), 0x10, parentCluster, 0), ...entries(d)];
    list.forEach((e, i) => e.copy(img, clusterOffset(d.cluster!) + i * 32));
    chain(d.cluster!, clustersFor(dirBytes(d)));
    for (const sub of d.dirs.values()) writeDir(sub, d.cluster!);
  };
  for (const sub of root.dirs.values()) writeDir(sub, 0);
  for (const f of everyFile) {
    if (!f.data.length) continue;
    f.data.copy(img, clusterOffset(f.cluster!));
    chain(f.cluster!, clustersFor(f.data.length));
  }
  for (let i = 0; i < FATS; i++) fat.copy(img, (RESERVED + i * fatSectors) * SECTOR);
  return img;
}
