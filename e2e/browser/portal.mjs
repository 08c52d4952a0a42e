// The portal in a real browser: headless Chromium driven by playwright-core
// against a real `herald all` with real SDK devices connected. Started by
// TestPortalInABrowser (e2e/portal_test.go), which prepares the app, its
// users and devices, and afterwards checks what the devices received.
//
// Each step prints "ok <step>" or fails the run with what it saw; results
// the Go test checks are printed as "result <name> <value>" lines.
// Screenshots of every page go to $SHOTS.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('BASE');
const app = env('APP');
const password = env('PASSWORD');
const tagged = Number(env('TAGGED'));
const away = Number(env('AWAY'));
const shots = env('SHOTS');
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run', '--disable-component-update', '--disable-sync'],
});
const problems = [];
const refusalsExpected = new Set(); // addresses a step expects to be refused
const appURL = (p) => `${base}/portal/apps/${app}/${p}`;

function step(name) {
  console.log(`ok ${name}`);
}

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    // A failed load is reported with its address by the response handler.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console error on ${page.url()}: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document' && !refusalsExpected.has(r.url())) problems.push(`${r.status()} for ${r.url()} on ${page.url()}`);
  });
  page.on('dialog', (d) => d.accept()); // cancel and delete ask for confirmation
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function login(page, email) {
  await page.goto(`${base}/portal/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Your apps' }).waitFor();
}

// counter reads a figure of the live funnel.
async function counter(page, key) {
  const text = await page.locator(`[data-counter="${key}"]`).first().textContent();
  return Number(text.replace(/[^0-9]/g, ''));
}

// waitCounter waits for a figure of the funnel, updated by the page's
// event stream: the page is never reloaded.
async function waitCounter(page, key, ok, what, timeout = 30000) {
  const start = Date.now();
  for (;;) {
    const n = await counter(page, key);
    if (ok(n)) return n;
    if (Date.now() - start > timeout) throw new Error(`${what}: ${key} is ${n} after ${timeout} ms`);
    await page.waitForTimeout(100);
  }
}

async function compose(page, { title, content, tag, rate }) {
  await page.goto(appURL('compose'));
  if (title) await page.getByLabel('Title').fill(title);
  await page.getByLabel('Content').fill(content);
  if (tag) {
    await page.getByLabel('Devices that match every condition below').check();
    await page.getByLabel('Tagged any of').fill(tag);
  }
  if (rate) {
    await page.getByLabel('At a rate').check();
    await page.getByLabel('Messages per second').fill(String(rate));
  }
}

try {
  // Marketer: a tag push, its live funnel reaching every tagged device.
  const marketer = await newPage();
  await login(marketer, env('MARKETER'));
  await shot(marketer, 'overview');
  step('log in');

  await compose(marketer, { title: 'Spring sale', content: '20% off today only', tag: 'vip' });
  await marketer.getByLabel('Extras (JSON)').fill('{"promo": ');
  await marketer.locator('[data-error-for="extras"]').filter({ hasText: /./ }).waitFor({ timeout: 5000 });
  await marketer.getByLabel('Extras (JSON)').fill('{"promo": "spring"}');
  await marketer.waitForFunction(() => document.querySelector('[data-error-for="extras"]').textContent === '', null, { timeout: 5000 });
  step('extras validated as typed');
  const estimate = marketer.getByText(new RegExp(`Estimated audience: ${tagged} devices?`));
  await estimate.waitFor({ timeout: 10000 });
  await shot(marketer, 'compose');
  step('live audience estimate');

  await marketer.getByRole('button', { name: 'Send now' }).click();
  await marketer.getByRole('heading', { name: 'Delivery funnel' }).waitFor();
  const tagPush = (await marketer.locator('dt:text("Message id") + dd code').textContent()).trim();
  console.log(`result tag_push ${tagPush}`);
  await waitCounter(marketer, 'delivered', (n) => n === tagged, 'the tag push');
  await marketer.locator('[data-counter="targeted"]', { hasText: String(tagged) }).waitFor();
  await shot(marketer, 'message');
  step('funnel reaches delivered = tagged devices');

  // A push at a time in each device's own zone, listed with its next firing.
  await compose(marketer, { content: 'Good morning' });
  await marketer.getByText('Or schedule it').click();
  await marketer.getByLabel('Schedule name').fill('Morning hello');
  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);
  await marketer.getByLabel('Date and time').fill(`${tomorrow}T09:00`);
  await marketer.getByLabel("At this time in each device's own time zone", { exact: false }).check();
  await marketer.getByRole('button', { name: 'Save schedule' }).click();
  await marketer.getByText('Morning hello').first().waitFor();
  await marketer.goto(appURL('schedules'));
  const row = marketer.getByRole('row', { name: /Morning hello/ });
  await row.waitFor();
  const rowText = await row.textContent();
  if (!rowText.includes(tomorrow)) throw new Error(`the schedule's row does not show its next firing on ${tomorrow}: ${rowText}`);
  await shot(marketer, 'schedules');
  step('device-local schedule listed with its next firing');

  // A slow push canceled while it is sent: the copies waiting for the
  // devices (all away) are withdrawn.
  await compose(marketer, { title: 'Slow', content: 'One device a second', tag: 'away', rate: 1 });
  await marketer.getByRole('button', { name: 'Send now' }).click();
  await marketer.getByRole('heading', { name: 'Delivery funnel' }).waitFor();
  const slowPush = (await marketer.locator('dt:text("Message id") + dd code').textContent()).trim();
  console.log(`result slow_push ${slowPush}`);
  await waitCounter(marketer, 'stored_offline', (n) => n >= 1, 'the slow push');
  await marketer.getByRole('button', { name: 'Cancel push' }).click();
  await marketer.getByRole('heading', { name: 'Delivery funnel' }).waitFor();
  const withdrawn = await waitCounter(marketer, 'withdrawn', (n) => n > 0, 'the canceled push');
  await marketer.locator('[data-live-state]', { hasText: 'canceled' }).waitFor();
  if (withdrawn > away) throw new Error(`canceled push: withdrawn ${withdrawn} of ${away} devices`);
  console.log(`result slow_withdrawn ${withdrawn}`);
  await shot(marketer, 'message-canceled');
  step('cancel mid-send withdraws the rest');

  // A segment and its estimated size.
  await marketer.goto(appURL('segments'));
  await marketer.getByLabel('Name', { exact: true }).fill('VIP customers');
  await marketer.getByLabel(/^Tags/).fill('vip');
  await marketer.getByRole('button', { name: 'Create segment' }).click();
  await marketer.goto(appURL('segments'));
  const seg = marketer.getByRole('row', { name: /VIP customers/ });
  await seg.waitFor();
  if (!(await seg.textContent()).includes(String(tagged))) throw new Error(`segment row: ${await seg.textContent()}, want an estimate of ${tagged}`);
  await shot(marketer, 'segments');
  step('segment with its estimate');

  for (const p of ['messages', 'tags', 'devices']) {
    await marketer.goto(appURL(p));
    await shot(marketer, p);
  }
  await marketer.goto(appURL('devices?by=tag&q=vip'));
  await shot(marketer, 'devices-by-tag');

  await marketer.getByRole('button', { name: 'Log out' }).click();
  await marketer.getByRole('heading', { name: 'Log in to Herald' }).waitFor();
  await marketer.goto(appURL('compose'));
  await marketer.getByRole('heading', { name: 'Log in to Herald' }).waitFor();
  step('log out');

  // Viewer: can look, cannot send — not even by posting the form itself.
  const viewer = await newPage();
  await login(viewer, env('VIEWER'));
  await viewer.goto(appURL('compose'));
  if (await viewer.getByRole('button', { name: 'Send now' }).count()) throw new Error('a viewer sees Send now');
  refusalsExpected.add(appURL('compose'));
  const answer = await viewer.evaluate(async (url) => {
    const csrf = document.querySelector('input[name="csrf"]').value;
    const body = new URLSearchParams({ csrf, action: 'send', content: 'forged', audience: 'all', time_to_live: '60' });
    const r = await fetch(url, { method: 'POST', body });
    return { status: r.status, text: await r.text() };
  }, appURL('compose'));
  if (!/needs the marketer role/.test(answer.text)) throw new Error(`a viewer's send: ${answer.status}, the page does not say it needs the marketer role`);
  await shot(viewer, 'viewer-compose');
  step('a viewer cannot send');

  // Owner: settings and the audit log of what the marketer did.
  const owner = await newPage();
  await login(owner, env('OWNER'));
  await owner.goto(appURL('settings'));
  await owner.getByRole('heading', { name: 'Members and roles' }).waitFor();
  await shot(owner, 'settings');
  await owner.goto(appURL('audit'));
  await owner.getByText('POST /v1/push').first().waitFor();
  await shot(owner, 'audit');
  step('owner settings and audit log');

  // Narrow screens.
  await owner.setViewportSize({ width: 375, height: 800 });
  await owner.goto(appURL('compose'));
  const overflow = await owner.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) throw new Error(`the compose page is ${overflow} px wider than a 375 px screen`);
  await shot(owner, 'compose-375');
  step('usable at 375 px');
} catch (e) {
  problems.unshift(String(e.stack || e));
}
await browser.close();
if (problems.length) {
  for (const p of problems) console.log(`FAIL ${p}`);
  process.exit(1);
}
console.log('PASS');
