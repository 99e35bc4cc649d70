// Passkeys in headless Chromium (Debian's `chromium`) with a virtual authenticator (the DevTools
// protocol's WebAuthn domain), driven by playwright-core. Started by tests/tests/passkeys.rs with:
//   FRONTEND  the frontend's origin (the relying party's allowed origin); its `/` page defines
//             window.api(method, path, body, bearer) and window.webauthn helpers
//   USERNAME, PASSWORD  an existing account
//   CHROMIUM  the browser binary (default /usr/bin/chromium)
// The walk: sign in with the password, register a passkey, sign out (drop the tokens), sign in
// passwordless with the passkey, list, rename and delete it, and try a sign-in with it again.
// Prints one JSON object with every step's status and body.
import { chromium } from 'playwright-core';

const frontend = process.env.FRONTEND;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});

try {
  const context = await browser.newContext();
  await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort());
  const page = await context.newPage();
  await page.goto(`${frontend}/`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const steps = await page.evaluate(
    async ({ username, password }) => window.walk(username, password),
    { username: process.env.USERNAME, password: process.env.PASSWORD },
  );
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  steps.authenticator = credentials.map(({ isResidentCredential, rpId, signCount }) => ({
    isResidentCredential, rpId, signCount,
  }));
  process.stdout.write(`${JSON.stringify(steps)}\n`);
} finally {
  await browser.close();
}
