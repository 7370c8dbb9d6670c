import { defineMail, P, SMALL } from './engine.js';

const HOW = ['self_change', 'reset_link', 'required_change', 'invitation'] as const;
const REASONS = ['one_time_password', 'required_by_policy'] as const;

/** What happened, in the words of the agent who did it (the required change is not "from My Settings"). */
function describeHow(how: (typeof HOW)[number], reason: (typeof REASONS)[number] | null): string {
  if (how === 'reset_link') return 'with a password reset link';
  if (how === 'invitation') return 'when you accepted your invitation and chose your first password';
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
      // an invitation had no session to end; a reset signs out everywhere; a self-change keeps its own
      sessions: how === 'invitation' ? '' : how === 'reset_link' ? 'All your sessions were signed out.' : 'All your other sessions were signed out.',
      welcome: how === 'invitation',
      ip: read.optionalText('ip'),
      userAgent: read.client('userAgent'),
    };
  },
  subject: (view) => (view.welcome ? `Welcome to the ${view.accountName} help desk: your password is set` : `Your password for the ${view.accountName} help desk was changed`),
  text: `<% if (it.welcome) { %>Welcome, <%= it.agentName %>. <% } %>The password of your <%= it.accountName %> help desk account was <%= it.welcome ? 'set' : 'changed' %> on <%= it.changedAt %>, <%= it.how %>.<% if (it.sessions) { %> <%= it.sessions %><% } %>
<% if (it.ip || it.userAgent) { %>
Where the change came from:
<% if (it.ip) { %>  IP address: <%= it.ip %>
<% } %><% if (it.userAgent) { %>  Browser: <%= it.userAgent %>
<% } %><% } %>
If this was not you, use Forgot password on the sign-in page right away and contact your administrator:

<%= it.publicUrl %>
`,
  html: `<p ${P}><% if (it.welcome) { %>Welcome, <%= it.agentName %>. <% } %>The password of your <strong><%= it.accountName %></strong> help desk account was <%= it.welcome ? 'set' : 'changed' %> on <%= it.changedAt %>, <%= it.how %>.<% if (it.sessions) { %> <%= it.sessions %><% } %></p>
<% if (it.ip || it.userAgent) { %><p ${SMALL}>Where the change came from:<% if (it.ip) { %><br>IP address: <%= it.ip %><% } %><% if (it.userAgent) { %><br>Browser: <%= it.userAgent %><% } %></p>
<% } %><p ${P}>If this was not you, use <strong>Forgot password</strong> on the <a href="<%= it.publicUrl %>" style="color:#0b5cad;">sign-in page</a> right away and contact your administrator.</p>
`,
});
