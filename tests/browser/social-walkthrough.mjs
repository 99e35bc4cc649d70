// A browser walk-through of social login's redirect flow in headless Chromium (Debian's
// `chromium`), driven by playwright-core. Started by tests/tests/social_login.rs with:
//   FRONTEND  the frontend's origin; its `/` page has the links `#web`, `#session`
//   LOGIN     the name to sign in with at oidc-provider's development login page
//   CHROMIUM  the browser binary (default /usr/bin/chromium)
// For each walk (`web`, `session`, `denied`) a fresh browser profile opens the frontend, follows
// the link to the auth server, signs in (or cancels) at the provider and waits on the frontend for
// the page's `#result` (what its script saw). Prints one JSON object on stdout.
import { chromium } from 'playwright-core';

const frontend = process.env.FRONTEND;
const login = process.env.LOGIN || 'browser-user';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // Root in CI has no user namespaces for Chromium's sandbox.
  args: ['--no-sandbox'],
});

async function walk(link, cancel) {
  const context = await browser.newContext();
  // Everything in the walk is on this machine; the provider's pages import a web font.
  await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort());
  const page = await context.newPage();
  const visited = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) visited.push(frame.url());
  });
  await page.goto(`${frontend}/`);
  await Promise.all([page.waitForNavigation(), page.click(`#${link}`)]);
  for (let step = 0; !page.url().startsWith(`${frontend}/`); step += 1) {
    if (step > 6) throw new Error(`never back on the frontend: ${visited.join(' -> ')}`);
    let submit;
    if (cancel) {
      submit = page.click('a[href$="/abort"]');
    } else if ((await page.locator('input[name=login]').count()) > 0) {
      await page.fill('input[name=login]', login);
      await page.fill('input[name=password]', 'any password');
      submit = page.click('button.login-submit');
    } else {
      submit = page.click('button.login-submit');
    }
    await Promise.all([page.waitForNavigation(), submit]);
  }
  await page.waitForSelector('#result[data-done]', { timeout: 15000 });
  const result = JSON.parse(await page.textContent('#result'));
  const cookies = (await context.cookies()).map(({ name, domain, path, httpOnly, secure, sameSite }) => ({
    name, domain, path, httpOnly, secure, sameSite,
  }));
  const landed = page.url();
  await context.close();
  return { visited, landed, result, cookies };
}

try {
  const out = {
    web: await walk('web', false),
    session: await walk('session', false),
    denied: await walk('web', true),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  await browser.close();
}
