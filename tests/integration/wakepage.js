// Drives headless Chromium against a sleeping app with the waiting page
// on: prints one JSON line with what the browser saw, and leaves two
// screenshots (waking.png, ready.png) in the given directory.
//   node wakepage.js URL TOKEN OUTDIR
'use strict';
const { chromium } = require('playwright-core');

async function main() {
  const [url, token, out] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update',
      '--disable-sync'],
  });
  const seen = {};
  try {
    const page = await browser.newPage();
    const first = await page.goto(url, { waitUntil: 'domcontentloaded' });
    seen.firstStatus = first.status();
    seen.firstTitle = await page.title();
    seen.firstHeading = await page.textContent('h1').catch(() => '');
    await page.screenshot({ path: out + '/waking.png' });
    await page.waitForFunction(
      (t) => document.body && document.body.innerText.includes(t),
      token, { timeout: 60000 });
    seen.finalText = (await page.textContent('body')).trim();
    seen.finalUrl = page.url();
    await page.screenshot({ path: out + '/ready.png' });
  } catch (e) {
    seen.error = String(e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
}

main();
