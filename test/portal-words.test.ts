import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { launchBrowser, newVisitor, screenshot, signInThroughPage, startPortal } from './support/portal.js';
import { insertAuditEvent } from '../src/store/audit.repo.js';

// One verb for signing in (issue 12, item 10): "sign in", "signed in", "sign-in", "sign out" in
// every page and email. "login" stays in URLs, identifiers and API codes, and in the one label
// the seed data names: "Require a change of password during next login".

const SEED_LABEL = 'Require a change of password during next login';
const OTHER_VERB = /\blog ?in\b|\blogged in\b|\blog on\b|\blogs? (?:\w+ )?out\b|\blogged out\b/i;
const WEB = join('src', 'http', 'web');

function filesUnder(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(ext))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** What a view shows: its text between tags, without Eta code, tag attributes or the seed label. */
function viewText(source: string): string {
  return source
    .replace(/<%[\s\S]*?%>/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replaceAll(SEED_LABEL, ' ');
}

/** The string literals of a page module that read as words (they hold a space): labels, titles, flash messages. */
function sentences(source: string): string[] {
  const literals = source.match(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g) ?? [];
  return literals.filter((literal) => / /.test(literal)).map((literal) => literal.replaceAll(SEED_LABEL, ' ').replace(/https?:\/\/\S+|\/[a-z][\w/-]*/g, ' '));
}

describe('one verb for signing in', () => {
  test('no view and no page module says "log in", "logged in", "log on" or "logs out" (the seed label and URLs aside)', () => {
    const views = filesUnder(join(WEB, 'views'), '.eta');
    assert.ok(views.length > 20, 'the views are found');
    for (const file of views) {
      const text = viewText(readFileSync(file, 'utf8'));
      assert.doesNotMatch(text, OTHER_VERB, file);
    }
    const modules = [...readdirSync(WEB).filter((f) => f.endsWith('.ts')).map((f) => join(WEB, f)), join('src', 'oidc', 'pages.ts'), ...filesUnder(join(WEB, 'assets'), '.js')];
    for (const file of modules) {
      for (const sentence of sentences(readFileSync(file, 'utf8'))) assert.doesNotMatch(sentence, OTHER_VERB, `${file}: ${sentence.slice(0, 120)}`);
    }
  });

  test('the sweep itself catches the other verb', () => {
    assert.match(viewText('<p>Please log in again.</p>'), OTHER_VERB);
    assert.match(viewText('<p>You were logged out</p>'), OTHER_VERB);
    assert.match(sentences("flash('Zammad logs agents out')").join(), OTHER_VERB);
    assert.doesNotMatch(viewText(`<a href="/login">Sign in</a><label>${SEED_LABEL}</label>`), OTHER_VERB);
    assert.doesNotMatch(sentences("redirect(`/login${next}`); 'login.succeeded'").join(), OTHER_VERB);
  });
});

describe('agent portal: the words of signing in and out, in Chromium', () => {
  let t: TestApp;
  let origin: string;
  let browser: Browser;
  let owner: Page;
  const cspViolations: string[] = [];

  before(async () => {
    ({ t, origin } = await startPortal());
    await t.setup();
    browser = await launchBrowser();
    ({ page: owner } = await newVisitor(browser, cspViolations));
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  test('the sign-in page signs in', async () => {
    await owner.goto(`${origin}/login`);
    assert.match(await owner.title(), /Sign in/);
    assert.doesNotMatch(await owner.locator('body').innerText(), OTHER_VERB);
    await screenshot(owner, 'words-sign-in');
    await signInThroughPage(owner, origin, OWNER.email, OWNER.password);
    assert.notEqual(new URL(owner.url()).pathname, '/login', 'signed in');
  });

  test('the Zammad preset says Zammad signs agents out when their Deskpass session ends', async () => {
    await owner.goto(`${origin}/manage/apps/new`);
    const zammad = owner.locator('.preset-choice', { hasText: 'Zammad' });
    assert.match(await zammad.innerText(), /Zammad signs agents out when their Deskpass session ends/);
    assert.doesNotMatch(await owner.locator('main').innerText(), OTHER_VERB);
    await screenshot(owner, 'words-app-presets');
  });

  test('the audit log says an agent was signed out of an app', async () => {
    const db = t.app.deskpass.deps.db;
    const account = await db.selectFrom('accounts').select('id').executeTakeFirstOrThrow();
    const ownerRow = await db.selectFrom('agents').select('id').where('email', '=', OWNER.email).executeTakeFirstOrThrow();
    // the event a back-channel logout writes (oidc/logout-delivery.ts), stored as it would be
    await insertAuditEvent(db, { accountId: account.id, type: 'app.logged_out', actorAgentId: null, targetAgentId: ownerRow.id, context: { method: 'oidc', ip: null, userAgent: null }, details: {}, at: t.clock.now() });
    await owner.goto(`${origin}/manage/audit`);
    const log = await owner.locator('main').innerText();
    assert.match(log, /Signed out of an app \(back-channel\)/);
    assert.doesNotMatch(log, OTHER_VERB);
    await screenshot(owner, 'words-audit');
    assert.deepEqual(cspViolations, []);
  });
});
