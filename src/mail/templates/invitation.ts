import { defineMail, P, SMALL } from './engine.js';

/**
 * A new agent's first link: the same /reset-password/{token} page, worded as a welcome. It names
 * who invited them ("Sam Supervisor (Supervisor)", or the server operator for `deskpass init`),
 * the address to sign in with and the sign-in page, for every sign-in after the first.
 */
export const invitation = defineMail('invitation', {
  view(read, ctx) {
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      // null: a row that names nobody (older ones, or a link the agent asked for again)
      invitedBy: read.actor('invitedByName', 'invitedByRole') ?? (read.flag('invitedByOperator') ? 'The server operator' : null),
      // absent from rows queued before it was recorded: the sign-in line then names no address
      email: read.optionalText('email'),
      link: ctx.resetLinkFor(read.text('tokenId')),
      expiresAt: read.time('expiresAt'),
      signInUrl: `${ctx.publicUrl}/login`,
    };
  },
  subject: (view) => `You're invited to the ${view.accountName} help desk`,
  text: `<% if (it.invitedBy) { %><%= it.invitedBy %> has invited you<% } else { %>You've been invited<% } %> to the <%= it.accountName %> help desk. To get started, set your password:

<%= it.link %>

This link is valid until <%= it.expiresAt %> and works once. If it has expired, ask your administrator for a new invitation.

After that, sign in<% if (it.email) { %> with <%= it.email %><% } %> and the password you chose at:

<%= it.signInUrl %>

If you weren't expecting this invitation, you can ignore this email.
`,
  html: `<p ${P}><% if (it.invitedBy) { %><strong><%= it.invitedBy %></strong> has invited you<% } else { %>You've been invited<% } %> to the <strong><%= it.accountName %></strong> help desk. To get started, set your password.</p>
<%~ include('@button', { url: it.link, label: 'Set your password' }) %>
<p ${P}>This link is valid until <%= it.expiresAt %> and works once. If it has expired, ask your administrator for a new invitation.</p>
<p ${P}>After that, sign in<% if (it.email) { %> with <strong><%= it.email %></strong><% } %> and the password you chose at <a href="<%= it.signInUrl %>" style="color:#0b5cad;word-break:break-all;"><%= it.signInUrl %></a>.</p>
<p ${SMALL}>If you weren't expecting this invitation, you can ignore this email.</p>
`,
});
