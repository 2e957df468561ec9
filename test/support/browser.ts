import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** A headless Chromium for the browser tests, and where its binary came from. */
export interface TestBrowser {
  browser: Browser;
  /** `CHROMIUM_PATH`, `system` or `@sparticuz/chromium`. */
  source: string;
  /** Closes the browser and removes anything unpacked for it. */
  close(): Promise<void>;
}

// Without the background-networking flags Chromium keeps trying to reach Google on a closed network.
const QUIET_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

function systemChromium(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * Launches Chromium from `CHROMIUM_PATH`, else a system chromium, else the build that the
 * `@sparticuz/chromium` devDependency carries in its npm tarball (unpacked into a temporary folder
 * that `close` removes), so a fresh `npm ci` is enough for the browser tests.
 */
export async function launchTestBrowser(): Promise<TestBrowser> {
  const given = process.env.CHROMIUM_PATH;
  if (given) {
    if (!existsSync(given)) throw new Error(`CHROMIUM_PATH is ${given}, which does not exist: point it at a Chromium binary or unset it to use the one from npm`);
    const browser = await chromium.launch({ executablePath: given, args: QUIET_ARGS });
    return { browser, source: 'CHROMIUM_PATH', close: () => browser.close() };
  }
  const system = systemChromium();
  if (system) {
    const browser = await chromium.launch({ executablePath: system, args: QUIET_ARGS });
    return { browser, source: 'system', close: () => browser.close() };
  }

  // @sparticuz/chromium unpacks into os.tmpdir(): point that at a folder of our own for the unpacking.
  const folder = mkdtempSync(join(tmpdir(), 'cipher-nexus-chromium-'));
  const previous = process.env.TMPDIR;
  let executablePath: string;
  let args: string[];
  try {
    process.env.TMPDIR = folder;
    const packaged = (await import('@sparticuz/chromium')).default;
    executablePath = await packaged.executablePath();
    args = packaged.args;
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  } finally {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  }
  const removeFolder = (): void => rmSync(folder, { recursive: true, force: true });
  try {
    const browser = await chromium.launch({ executablePath, args: [...args, ...QUIET_ARGS.filter((flag) => !args.includes(flag) && flag !== '--headless')] });
    return {
      browser,
      source: '@sparticuz/chromium',
      close: async () => {
        await browser.close();
        removeFolder();
      },
    };
  } catch (error) {
    removeFolder();
    throw error;
  }
}
