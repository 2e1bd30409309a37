/**
 * GET / on the admin port: the status page (issue 18), a static file shipped beside this module
 * (status.html, copied into dist/ by the build) that renders GET /status in the browser.
 *
 * Read once, at the first request, and kept: a flood of page loads costs no disk I/O. Served with
 * a Content-Security-Policy that allows only the page's own <style> and <script> (by hash) and
 * requests to its own origin: even if some app text ever reached the page as markup, no script
 * of it could run and nothing could be loaded from elsewhere.
 */
import { createHash } from 'node:crypto';
import fs = require('node:fs');
import path = require('node:path');

export const STATUS_PAGE_FILE = path.join(__dirname, 'status.html');

export interface StatusPage {
  body: string;
  headers: Record<string, string>;
}

let cached: StatusPage | undefined;

/** The page and its headers; throws when the file is missing from the installed package. */
export function statusPage(): StatusPage {
  if (!cached) {
    const html = fs.readFileSync(STATUS_PAGE_FILE, 'utf8');
    cached = { body: html, headers: pageHeaders(html) };
  }
  return cached;
}

/** Headers for `html`: its inline <script> and <style> blocks are the only code the policy allows. */
export function pageHeaders(html: string): Record<string, string> {
  const code = html.replace(/<!--[\s\S]*?-->/g, '');
  const hashes = (tag: string) => [...code.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))]
    .map((m) => `'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`).join(' ') || "'none'";
  const csp = [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': csp,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
}
