import { test } from 'node:test';
import { TestApp } from './support/harness.js';
test('dbg', async () => {
  const t = await TestApp.start();
  for (const r of t.app.deskpass.routes) console.log(r.method, r.url, r.config.gate ?? '-', r.config.allowedDuringPasswordChange ? 'ALLOW' : '', r.config.allowedWhenTemporaryPasswordExpired ? 'EXPIRED-OK' : '');
  await t.close();
});
