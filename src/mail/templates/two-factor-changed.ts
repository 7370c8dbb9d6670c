import { defineMail, P, SMALL } from './engine.js';

const CHANGES = ['totp_added', 'totp_replaced', 'totp_removed', 'passkey_added', 'passkey_removed', 'recovery_code_used', 'recovery_codes_regenerated', 'reset_by_admin', 'reset_by_operator'] as const;
type Change = (typeof CHANGES)[number];

/** What happened, in one sentence, for the subject and the first line (never a secret, a code or a key). */
function describe(change: Change, passkey: string | null, by: string | null): { subject: string; what: string } {
  switch (change) {
    case 'totp_added':
      return { subject: 'An authenticator app was added', what: 'An authenticator app was set up as a second factor' };
    case 'totp_replaced':
      return { subject: 'Your authenticator app was replaced', what: 'A new authenticator app replaced the one you had' };
    case 'totp_removed':
      return { subject: 'Your authenticator app was removed', what: 'Your authenticator app was removed' };
    case 'passkey_added':
      return { subject: 'A passkey was added', what: `A passkey${passkey ? ` named "${passkey}"` : ''} was added` };
    case 'passkey_removed':
      return { subject: 'A passkey was removed', what: `The passkey${passkey ? ` "${passkey}"` : ''} was removed` };
    case 'recovery_code_used':
      return { subject: 'A recovery code was used', what: 'A recovery code was used to sign in' };
    case 'recovery_codes_regenerated':
      return { subject: 'New recovery codes were made', what: 'New recovery codes were made; the old ones no longer work' };
    case 'reset_by_admin':
      return { subject: 'Your second factor was reset', what: `${by ?? 'Someone who manages your help desk account'} removed your authenticator app, passkeys and recovery codes` };
    case 'reset_by_operator':
      return { subject: 'Your second factor was reset', what: 'The operator of the server removed your authenticator app, passkeys and recovery codes' };
  }
}

/** Every change to an agent's second factors: the alarm bell if it was not them. */
export const twoFactorChanged = defineMail('two_factor_changed', {
  view(read) {
    const change = read.oneOf('change', CHANGES);
    const by = read.actor('byName', 'byRole');
    const { subject, what } = describe(change, read.optionalText('passkeyName'), by);
    const remaining = read.optionalCount('remaining');
    const reset = change === 'reset_by_admin' || change === 'reset_by_operator';
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      subjectLine: subject,
      what,
      changedAt: read.time('changedAt'),
      remaining: change === 'recovery_code_used' ? remaining : null,
      lastFactor: read.flag('lastFactor'),
      reset,
      ip: reset ? null : read.optionalText('ip'),
      userAgent: reset ? null : read.client('userAgent'),
    };
  },
  subject: (view) => `${view.subjectLine} on your ${view.accountName} help desk account`,
  text: `<%= it.what %> on your <%= it.accountName %> help desk account on <%= it.changedAt %>.
<% if (it.remaining !== null) { %>
You have <%= it.remaining %> recovery code<%= it.remaining === 1 ? '' : 's' %> left.<% if (it.remaining <= 3) { %> Make new ones in My Settings › Two-factor authentication before you run out.<% } %>
<% } %><% if (it.lastFactor) { %>
Your account no longer has a second factor: signing in needs only your password.
<% } %><% if (it.reset) { %>
You were signed out everywhere. Sign in with your password; you can set up a new authenticator app or passkey in My Settings.
<% } %><% if (it.ip || it.userAgent) { %>
Where the change came from:
<% if (it.ip) { %>  IP address: <%= it.ip %>
<% } %><% if (it.userAgent) { %>  Browser: <%= it.userAgent %>
<% } %><% } %>
If this was not you, change your password with Forgot password on the sign-in page right away and contact your administrator:

<%= it.publicUrl %>
`,
  html: `<p ${P}><%= it.what %> on your <strong><%= it.accountName %></strong> help desk account on <%= it.changedAt %>.</p>
<% if (it.remaining !== null) { %><p ${P}>You have <strong><%= it.remaining %></strong> recovery code<%= it.remaining === 1 ? '' : 's' %> left.<% if (it.remaining <= 3) { %> Make new ones in My Settings › Two-factor authentication before you run out.<% } %></p>
<% } %><% if (it.lastFactor) { %><p ${P}>Your account no longer has a second factor: signing in needs only your password.</p>
<% } %><% if (it.reset) { %><p ${P}>You were signed out everywhere. Sign in with your password; you can set up a new authenticator app or passkey in My Settings.</p>
<% } %><% if (it.ip || it.userAgent) { %><p ${SMALL}>Where the change came from:<% if (it.ip) { %><br>IP address: <%= it.ip %><% } %><% if (it.userAgent) { %><br>Browser: <%= it.userAgent %><% } %></p>
<% } %><p ${P}>If this was not you, use <strong>Forgot password</strong> on the <a href="<%= it.publicUrl %>" style="color:#0b5cad;">sign-in page</a> right away and contact your administrator.</p>
`,
});
