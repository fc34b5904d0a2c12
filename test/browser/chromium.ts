// Debian's Chromium driven by playwright-core (nothing downloaded at
// install): launch with the flags that keep it off the network, a page
// that records console errors, sign-in, and axe-core's accessibility check.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.RACKBOOT_CHROMIUM ?? '/usr/bin/chromium';

// Without the background-networking flags Chromium keeps trying to reach
// Google's hosts, which this closed network refuses (see the machine notes).
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
];

/** Why the browser tests cannot run here, or undefined. */
export function browserLacks(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `needs Chromium at ${CHROMIUM} (Debian package chromium; .ci/run installs it)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

/** A page in its own context (its own cookies), whose console errors and page errors are kept. */
export class Tab {
  private readonly seen: string[] = [];
  private readonly expected: RegExp[] = [];
  private constructor(readonly context: BrowserContext, readonly page: Page, readonly base: string) {
    page.on('console', (m) => {
      if (m.type() === 'error') this.seen.push(`console: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => this.seen.push(`page error: ${e.message}`));
    // A confirm() is the operator saying yes.
    page.on('dialog', (d) => void d.accept());
  }

  /**
   * Console errors and page errors, but those a test caused on purpose: a
   * refused request is logged by Chromium as a failed resource load.
   */
  get errors(): string[] {
    return this.seen.filter((e) => !this.expected.some((re) => re.test(e)));
  }

  /** A refusal the test provokes: `status` from `path` (exactly) is not an error of the page. */
  expectRefusal(status: number, path: string): void {
    const esc = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.expected.push(new RegExp(`status of ${status} .*\\(https?://[^/]+${esc}\\)$`));
  }

  static async open(browser: Browser, base: string, viewport = { width: 1280, height: 900 }): Promise<Tab> {
    const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
    return new Tab(context, await context.newPage(), base);
  }

  goto(path: string) {
    return this.page.goto(this.base + path);
  }

  async signIn(token: string, next = '/'): Promise<void> {
    await this.goto(`/signin?next=${encodeURIComponent(next)}`);
    await this.page.fill('#token', token);
    await Promise.all([this.page.waitForURL((u) => !u.pathname.startsWith('/signin')), this.page.click('button[type=submit]')]);
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

/** axe-core's violations of impact serious or critical on the page as it is now. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated through the DevTools protocol, so the page's CSP (scripts only from itself) does not stop it.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const result = (await page.evaluate(() =>
    (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: AxeViolation[] }> } }).axe.run(document, { resultTypes: ['violations'] }),
  )) as { violations: AxeViolation[] };
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export const describeViolations = (vs: AxeViolation[]) =>
  vs.map((v) => `${v.id} (${v.impact}): ${v.help}\n${v.nodes.slice(0, 5).map((n) => `  ${n.target.join(' ')}: ${n.failureSummary ?? ''}`).join('\n')}`).join('\n');
