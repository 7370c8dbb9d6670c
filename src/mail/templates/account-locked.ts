import { defineMail, P, SMALL } from './engine.js';

/** Sign-in locked after too many failures: tells the agent how long, and the way out that needs no waiting. */
export const accountLocked = defineMail('account_locked', {
  view(read) {
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      lockedUntil: read.time('lockedUntil'),
      ip: read.optionalText('ip'),
      userAgent: read.client('userAgent'),
      /** which door locked: unknown devices (the owner's own browsers still work), one device, or one session */
      door: read.optionalText('door') ?? 'unknown_devices',
      /** the failures were wrong second factors after a right password: whoever made them knows the password */
      knowsPassword: read.optionalText('cause') === 'second_factor',
    };
  },
  subject: (view) => (view.door === 'session' ? `Password re-entry is locked in one of your ${view.accountName} help desk sessions` : `Sign-in to your ${view.accountName} help desk account is locked for now`),
  text: `<% if (it.door === 'session') { %>After too many wrong <%= it.knowsPassword ? 'codes' : 'passwords' %>, confirming it is you is locked until <%= it.lockedUntil %> in one signed-in session of your <%= it.accountName %> help desk account. Signing in elsewhere still works.
<% } else { %>After too many failed sign-in attempts, sign-in to your <%= it.accountName %> help desk account is locked until <%= it.lockedUntil %><% if (it.door === 'unknown_devices') { %> on browsers and apps that have not signed in to it before. Where you have signed in before, you can still sign in as usual<% } %>.
<% } %><% if (it.ip || it.userAgent) { %>
The last attempt came from:
<% if (it.ip) { %>  IP address: <%= it.ip %>
<% } %><% if (it.userAgent) { %>  Browser: <%= it.userAgent %>
<% } %><% } %>
To unlock it now, use Forgot password on the sign-in page and choose a new password:

<%= it.publicUrl %>

<% if (it.knowsPassword) { %>The password was right and the second step was wrong each time. If these attempts were not yours, someone knows your password<% if (it.door === 'session') { %> and has one of your sessions<% } %>: change your password now (it signs out every session) and tell your administrator.
<% } else { %>If these attempts were not yours, someone may be guessing your password: tell your administrator.
<% } %>`,
  html: `<% if (it.door === 'session') { %><p ${P}>After too many wrong <%= it.knowsPassword ? 'codes' : 'passwords' %>, confirming it is you is locked until <%= it.lockedUntil %> in one signed-in session of your <strong><%= it.accountName %></strong> help desk account. Signing in elsewhere still works.</p>
<% } else { %><p ${P}>After too many failed sign-in attempts, sign-in to your <strong><%= it.accountName %></strong> help desk account is locked until <%= it.lockedUntil %><% if (it.door === 'unknown_devices') { %> on browsers and apps that have not signed in to it before. Where you have signed in before, you can still sign in as usual<% } %>.</p>
<% } %><% if (it.ip || it.userAgent) { %><p ${SMALL}>The last attempt came from:<% if (it.ip) { %><br>IP address: <%= it.ip %><% } %><% if (it.userAgent) { %><br>Browser: <%= it.userAgent %><% } %></p>
<% } %><p ${P}>To unlock it now, use <strong>Forgot password</strong> on the <a href="<%= it.publicUrl %>" style="color:#0b5cad;">sign-in page</a> and choose a new password.</p>
<% if (it.knowsPassword) { %><p ${P}><strong>The password was right and the second step was wrong each time.</strong> If these attempts were not yours, someone knows your password<% if (it.door === 'session') { %> and has one of your sessions<% } %>: change your password now (it signs out every session) and tell your administrator.</p>
<% } else { %><p ${SMALL}>If these attempts were not yours, someone may be guessing your password: tell your administrator.</p>
<% } %>`,
});
