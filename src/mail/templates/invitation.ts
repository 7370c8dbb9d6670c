import { defineMail, P, SMALL } from './engine.js';

/** A new agent's first link: the same /reset-password/{token} page, worded as a welcome. */
export const invitation = defineMail('invitation', {
  view(read, ctx) {
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      invitedByName: read.optionalText('invitedByName'),
      link: ctx.resetLinkFor(read.text('tokenId')),
      expiresAt: read.time('expiresAt'),
    };
  },
  subject: (view) => `You're invited to the ${view.accountName} help desk`,
  text: `<% if (it.invitedByName) { %><%= it.invitedByName %> has invited you<% } else { %>You've been invited<% } %> to the <%= it.accountName %> help desk. To get started, set your password:

<%= it.link %>

This link is valid until <%= it.expiresAt %> and works once. If it has expired, ask your administrator for a new invitation.

If you weren't expecting this invitation, you can ignore this email.
`,
  html: `<p ${P}><% if (it.invitedByName) { %><strong><%= it.invitedByName %></strong> has invited you<% } else { %>You've been invited<% } %> to the <strong><%= it.accountName %></strong> help desk. To get started, set your password.</p>
<%~ include('@button', { url: it.link, label: 'Set your password' }) %>
<p ${P}>This link is valid until <%= it.expiresAt %> and works once. If it has expired, ask your administrator for a new invitation.</p>
<p ${SMALL}>If you weren't expecting this invitation, you can ignore this email.</p>
`,
});
