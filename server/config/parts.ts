// Which parts of a config failed the schema. The semantic checks run on every
// part that passed, so independent problems are reported together: a typo in
// networks[0] must not hide a bad range in networks[1]. A part is one entry of
// a list of entries (networks[i], groups[i], nodes[i]) or a whole top-level
// section (dhcp, nfs, director, ...).
import type { ConfigIssue } from './errors.js';
import type { Config } from './loaded.js';

/** Top-level lists whose entries are judged one by one. */
export const ENTRY_LISTS = ['networks', 'groups', 'nodes'] as const;
export type EntryList = (typeof ENTRY_LISTS)[number];

const PATH_HEAD = /^([^.[\]]+)(?:\[(\d+)\])?/;

export class FailedParts {
  /** Top-level keys that failed as a whole (every entry, for a list). */
  private readonly sections = new Set<string>();
  private readonly entries = new Map<string, Set<number>>();
  /** An issue without a key path: nothing can be trusted. */
  private everything = false;

  /** @param defaults every top-level key's default (what view() puts in place of a failed section) */
  constructor(
    issues: readonly ConfigIssue[],
    private readonly data: Record<string, unknown>,
    private readonly defaults: Readonly<Record<string, unknown>>,
  ) {
    for (const { path } of issues) this.add(path);
  }

  private add(path: string): void {
    const m = PATH_HEAD.exec(path);
    if (!m) return void (this.everything = true);
    const key = m[1]!;
    if (m[2] === undefined || !(ENTRY_LISTS as readonly string[]).includes(key)) return void this.sections.add(key);
    const set = this.entries.get(key) ?? new Set<number>();
    set.add(Number(m[2]));
    this.entries.set(key, set);
  }

  get none(): boolean {
    return !this.everything && this.sections.size === 0 && this.entries.size === 0;
  }

  /** The whole section failed (for a list: the list itself, not one entry). */
  section(key: string): boolean {
    return this.everything || this.sections.has(key);
  }

  /** Entry i of a list failed, or the list as a whole. */
  entry(key: EntryList, i: number): boolean {
    return this.section(key) || (this.entries.get(key)?.has(i) ?? false);
  }

  /** Any part of the section failed: a check that reads all of it cannot run. */
  any(key: string): boolean {
    return this.section(key) || (this.entries.get(key)?.size ?? 0) > 0;
  }

  /**
   * A failed entry of `key` may be the one called `name`: a reference to it
   * cannot be judged (saying "no network 'inside'" when networks[0] named
   * inside has a typo would be a second report of the same problem).
   */
  mayName(key: EntryList, name: string): boolean {
    if (this.section(key)) return true;
    const list = this.data[key];
    if (!Array.isArray(list)) return false;
    for (const i of this.entries.get(key) ?? []) {
      const entryName: unknown = (list[i] as { name?: unknown } | undefined)?.name;
      if (typeof entryName !== 'string' || entryName === name) return true;
    }
    return false;
  }

  /**
   * The config the semantic checks see: a failed section is replaced by its
   * defaults (only so that deriving paths and the like cannot trip over it;
   * the checks that read it do not run). Failed list entries stay in place so
   * indexes in key paths stay right; every reader of a list skips them with
   * entry().
   */
  view(): Config {
    // The schema passed: the data is the Config the schema describes (main/config-schema.ts checks the two agree).
    if (this.none) return this.data as unknown as Config;
    const out: Record<string, unknown> = { ...this.data };
    for (const [key, def] of Object.entries(this.defaults)) {
      if (this.section(key)) out[key] = structuredClone(def);
    }
    // The schema failed somewhere, so this is not proven to be a Config; see the comment above.
    return out as unknown as Config;
  }
}
