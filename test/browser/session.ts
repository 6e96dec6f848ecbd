import { after, before } from 'node:test';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSandbox, type Sandbox } from '../../src/app/sandbox.ts';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => Boolean(p));

/** Debian's Chromium (never a downloaded browser); undefined when it is not installed. */
export const chromiumPath = CANDIDATES.find((p) => existsSync(p));
export const skipReason = chromiumPath
  ? false
  : 'no Chromium found (install Debian\'s chromium package: apt-get install chromium, or set CHROMIUM_PATH); the browser tests need a real browser';

/** Screenshots of the main states land here (git-ignored), one folder per test file. */
export function artifactsDir(name: string): string {
  const dir = resolve('test-artifacts', 'browser', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface Session {
  sandbox: Sandbox;
  browser: Browser;
  page: Page;
  /** A photo-like PNG on disk, for file pickers. */
  photo(name: string, color: string): Promise<string>;
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

/** A sandbox with the fixture model in a temp data folder, and a browser page on it, ready. */
async function openSession(artifacts: string): Promise<Session> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xcot-sandbox-browser-'));
  const sandbox = await startSandbox({ dataDir, logLevel: process.env.E2E_LOG ?? 'silent' });
  // Chromium's own sandbox cannot start as root (CI containers); the page it loads is our own.
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
  await page.goto(sandbox.url);
  await page.locator('body[data-ready="true"][data-live="true"]').waitFor();
  return {
    sandbox,
    browser,
    page,
    async photo(name, color) {
      const file = join(dataDir, name);
      await sharp({ create: { width: 160, height: 120, channels: 3, background: color } })
        .composite([{ input: { create: { width: 50, height: 40, channels: 3, background: '#ffffff' } }, left: 10, top: 10 }])
        .png()
        .toFile(file);
      return file;
    },
    async shot(name) {
      await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
    },
    async close() {
      await browser.close().catch(() => {});
      await sandbox.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (pageErrors.length > 0) throw new Error(`the page logged errors:\n${pageErrors.join('\n')}`);
    },
  };
}

/**
 * One session for a test file: opened before its tests (unless the browser tests skip) and closed
 * after them; its members can be used once it is open. Screenshots go to test-artifacts/browser/<name>.
 */
export function sessionPerFile(name: string): Session {
  const artifacts = artifactsDir(name);
  let open: Session | undefined;
  before(async () => {
    if (skipReason) return;
    open = await openSession(artifacts);
    console.log(`screenshots: ${artifacts}`);
  });
  after(async () => {
    await open?.close();
  });
  const current = (): Session => {
    if (!open) throw new Error('the browser session is not open yet');
    return open;
  };
  return {
    get sandbox() { return current().sandbox; },
    get browser() { return current().browser; },
    get page() { return current().page; },
    photo: (file, color) => current().photo(file, color),
    shot: (shotName) => current().shot(shotName),
    close: () => current().close(),
  };
}

/** Drops a file on `selector` the way a drag from the desktop does (a real DataTransfer with a File). */
export async function dropFile(page: Page, selector: string, name: string, bytes: Buffer, type = 'image/png'): Promise<void> {
  const transfer = await page.evaluateHandle(({ name, data, type }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name, { type }));
    return dt;
  }, { name, data: bytes.toString('base64'), type });
  await page.dispatchEvent(selector, 'dragover', { dataTransfer: transfer });
  await page.dispatchEvent(selector, 'drop', { dataTransfer: transfer });
}
