import { defineMail, P, SMALL } from './engine.js';

const HOW = ['self_change', 'reset_link', 'required_change'] as const;
const REASONS = ['one_time_password', 'required_by_policy'] as const;

/** What happened, in the words of the agent who did it (the required change is not "from My Settings"). */
function describeHow(how: (typeof HOW)[number], reason: (typeof REASONS)[number] | null): string {
  if (how === 'reset_link') return 'with a password reset link';
  if (how === 'self_change') return 'from My Settings';
  return reason === 'one_time_password'
    ? 'when you replaced the one-time password your administrator set with a password of your own'
    : 'when you replaced a password that had expired or no longer met the password policy, as asked at sign-in';
}

/** After any change the agent made themselves: the alarm bell if it was not them. */
export const passwordChanged = defineMail('password_changed', {
  view(read) {
    const how = read.oneOf('how', HOW);
    const reason = how === 'required_change' ? (read.optionalText('reason') === 'one_time_password' ? 'one_time_password' : 'required_by_policy') : null;
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      changedAt: read.time('changedAt'),
      how: describeHow(how, reason),
      // a self-change (the required one too) keeps the session it was made from; a reset signs out everywhere
      sessions: how === 'reset_link' ? 'All your sessions were signed out.' : 'All your other sessions were signed out.',
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
