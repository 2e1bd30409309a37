/**
 * A real headless browser for tests of what people see: Debian's `chromium` (installed by
 * .ci/run), driven by playwright-core. Nothing is downloaded: playwright-core ships no browser.
 */
import * as fs from 'node:fs';
import { Browser, Page, chromium } from 'playwright-core';

export const CHROMIUM = process.env.SOCKRUN_CHROMIUM ?? '/usr/bin/chromium';

/** Launches chromium headless, with everything that would reach the network turned off. */
export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it), or set SOCKRUN_CHROMIUM`);
  return chromium.launch({
    executablePath: CHROMIUM,
    // --no-sandbox: chromium's sandbox refuses to run as root, which CI machines are.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** What the page complained about: console errors (a CSP violation is one) and uncaught exceptions. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}
