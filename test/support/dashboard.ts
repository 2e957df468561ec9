import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { openStorage, type Storage } from '../../src/core/index.js';
import { issueOperatorCredentials, operatorCredentialsPath } from '../../src/identity/index.js';
import { writeKitFile } from '../../src/identity/kit-file.js';
import { ServerEvents } from '../../src/server/events.js';
import { OperatorAccess, OperatorOrigins, registerOperatorApi } from '../../src/server/index.js';
import { launchTestBrowser, type TestBrowser } from './browser.js';

/** A box on the page, as `getBoundingClientRect` gives it. */
export interface Box {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** A dashboard served from a throwaway database to one Chromium page, with a viewer's token. */
export interface DashboardHarness {
  dir: string;
  storage: Storage;
  events: ServerEvents;
  /** The operator API's server, for tests that cut its sockets. */
  app: FastifyInstance;
  origin: string;
  page: Page;
  viewerToken: string;
  /** Every URL the page requested, to show it fetched nothing from elsewhere. */
  requests: string[];
  pageErrors: string[];
  close(): Promise<void>;
}

/** Starts the operator API on a fresh SQLite database seeded by `seed`, with a viewer `bob`, and opens a page. */
export async function startDashboard(options: { prefix: string; viewport: { width: number; height: number }; seed?: (storage: Storage) => Promise<void> }): Promise<DashboardHarness> {
  const dir = mkdtempSync(join(tmpdir(), options.prefix));
  let storage: Storage | undefined;
  let app: FastifyInstance | undefined;
  let browser: TestBrowser | undefined;
  const close = async (): Promise<void> => {
    await browser?.close();
    await app?.close();
    await storage?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    storage = openStorage({ path: join(dir, 'coordinator.db') });
    await options.seed?.(storage);
    // An operators file with one viewer, as `provision --operators bob` writes it.
    mkdirSync(join(dir, 'server'));
    const issued = issueOperatorCredentials([{ name: 'bob', role: 'viewer' }]);
    writeKitFile(operatorCredentialsPath(dir), issued.credentials, 0o600);
    const events = new ServerEvents();
    app = Fastify();
    await registerOperatorApi(app, { storage, events, access: new OperatorAccess({ credentialsFile: operatorCredentialsPath(dir) }), origins: new OperatorOrigins('127.0.0.1'), audit: async () => undefined });
    const origin = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchTestBrowser();
    const page = await browser.browser.newPage({ viewport: options.viewport });
    const requests: string[] = [];
    const pageErrors: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => pageErrors.push(error.message));
    return { dir, storage, events, app, origin, page, viewerToken: issued.tokens.get('bob') as string, requests, pageErrors, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Logs in through the dashboard's form, as an operator does, and waits for the live socket. */
export async function logIn(page: Page, token: string): Promise<void> {
  await page.getByTestId('login').waitFor();
  await page.getByTestId('login-token').fill(token);
  await page.getByTestId('login-submit').click();
  await page.locator('[data-testid="connection-status"][data-state="live"]').waitFor();
}
