import { defineMail, P, SMALL } from './engine.js';

const HOW = ['self_change', 'reset_link'] as const;

/** After any change the agent made themselves: the alarm bell if it was not them. */
export const passwordChanged = defineMail('password_changed', {
  view(read) {
    const how = read.oneOf('how', HOW);
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      changedAt: read.time('changedAt'),
      how: how === 'self_change' ? 'from My Settings' : 'with a password reset link',
      // a self-change keeps the session it was made from; a reset signs out everywhere
      sessions: how === 'self_change' ? 'All your other sessions were signed out.' : 'All your sessions were signed out.',
      ip: read.optionalText('ip'),
      userAgent: read.client('userAgent'),
    };
  },
  subject: (view) => `Your password for the ${view.accountName} help desk was changed`,
  text: `The password of your <%= it.accountName %> help desk account was changed on <%= it.changedAt %>, <%= it.how %>. <%= it.sessions %>
<% if (it.ip || it.userAgent) { %>
Where the change came from:
<% if (it.ip) { %>  IP address: <%= it.ip %>
<% } %><% if (it.userAgent) { %>  Browser: <%= it.userAgent %>
<% } %><% } %>
If this was not you, use Forgot password on the sign-in page right away and contact your administrator:

<%= it.publicUrl %>
`,
  html: `<p ${P}>The password of your <strong><%= it.accountName %></strong> help desk account was changed on <%= it.changedAt %>, <%= it.how %>. <%= it.sessions %></p>
<% if (it.ip || it.userAgent) { %><p ${SMALL}>Where the change came from:<% if (it.ip) { %><br>IP address: <%= it.ip %><% } %><% if (it.userAgent) { %><br>Browser: <%= it.userAgent %><% } %></p>
<% } %><p ${P}>If this was not you, use <strong>Forgot password</strong> on the <a href="<%= it.publicUrl %>" style="color:#0b5cad;">sign-in page</a> right away and contact your administrator.</p>
`,
});
