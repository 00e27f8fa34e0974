// The live status page of `muster serve` in a real browser (headless Chromium driven by
// puppeteer-core): it lists the members with their shards and heartbeat ages, shows a
// killed member leave (a `-node` line, its row gone, its shard quarantined) without a
// reload, and leaves a screenshot in build/screenshots/status-page.png.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Proc, spawnMember } from './helpers/proc.js';
import { type RedisServer, useRedis } from './helpers/redis.js';
import { serve } from './helpers/serve.js';

// The page's DOM, as the functions run inside the browser see it.
declare const document: { querySelector(selector: string): { textContent: string | null } | null };

const test = suite<{ redis: RedisServer }>('status page');
useRedis(test);

const SHOTS = fileURLToPath(new URL('../screenshots/', import.meta.url));

/** The Chromium binary: CHROMIUM_PATH, else the first of the usual names on the PATH. */
function chromium(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // not this one
    }
  }
  throw new Error('the status page test needs Chromium: apt-get install -y chromium (or set CHROMIUM_PATH)');
}

test('members, heartbeat ages and a killed member leaving, live in Chromium', async ({ redis }) => {
  const s = await serve(redis.url, ['--group', 'web', '--node-id', 'status-svc', '--heartbeat', '200ms', '--timeout', '1500ms']);
  const members: Proc[] = [];
  let browser: Browser | undefined;
  try {
    for (const id of ['web-1', 'web-2']) {
      members.push(await spawnMember({ redis: redis.url, group: 'web', nodeId: id, heartbeat: 200, timeout: 1500, meta: { port: 3000 + members.length } }));
    }
    browser = await puppeteer.launch({
      executablePath: chromium(),
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.setViewport({ width: 1100, height: 720 });
    await page.goto(s.base + '/', { waitUntil: 'domcontentloaded' });
    for (const id of ['status-svc', 'web-1', 'web-2']) await page.waitForSelector(`tr[data-member="${id}"]`, { timeout: 10_000 });
    await page.waitForFunction(() => document.querySelector('#conn')?.textContent === 'live', { timeout: 5000 });
    assert.is(await page.$eval('#group', (e) => e.textContent), 'web');
    // Heartbeat ages are shown and stay fresh for live members.
    const age = await page.$eval('tr[data-member="web-1"] td:nth-child(3)', (e) => e.textContent ?? '');
    assert.match(age, /ms ago|s ago/);
    const shardOf1 = members[0]!.events.find((e) => e.e === 'joined')!.shard as number;
    assert.is(await page.$eval('tr[data-member="web-1"] td:nth-child(2)', (e) => e.textContent), String(shardOf1));

    await members[0]!.kill();
    // Without a reload: the -node line comes, the row goes, the shard shows in quarantine.
    await page.waitForSelector('li[data-kind="-node"][data-id="web-1"]', { timeout: 10_000 });
    await page.waitForFunction(() => !document.querySelector('tr[data-member="web-1"]'), { timeout: 10_000 });
    await page.waitForFunction(
      (shard) => document.querySelector(`tr[data-shard="${shard}"]`)?.textContent?.includes('quarantined') ?? false,
      { timeout: 10_000 },
      shardOf1,
    );
    assert.match(await page.$eval('li[data-kind="-node"][data-id="web-1"]', (e) => e.textContent ?? ''), 'timeout');
    assert.ok(await page.$('tr[data-member="web-2"]'), 'the survivor stays');
    assert.equal(pageErrors, []);

    mkdirSync(SHOTS, { recursive: true });
    const file = SHOTS + 'status-page.png';
    await page.screenshot({ path: file, fullPage: true });
    const png = readFileSync(file);
    assert.equal([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    assert.ok(png.length > 10_000, `screenshot of ${png.length} bytes`);
    console.log(`  status page screenshot: ${file}`);
  } finally {
    await browser?.close();
    for (const m of members) await m.kill();
    s.child.kill('SIGTERM');
    await s.exited;
  }
});

test.run();
