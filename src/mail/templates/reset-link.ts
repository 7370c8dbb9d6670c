import { defineMail, P, SMALL } from './engine.js';
import { formatHours } from './format.js';

const PURPOSES = ['self_service', 'admin', 'permissions_grew', 'operator_recovery'] as const;

/** A reset link, worded by who asked for it: the agent, a named agent ("Sam Supervisor (Supervisor)"), or the server operator. */
export const resetLink = defineMail('reset_link', {
  view(read, ctx) {
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      purpose: read.oneOf('purpose', PURPOSES),
      // always named for 'admin' and 'permissions_grew'; the fallback is for a malformed row only
      sentBy: read.actor('sentByName', 'sentByRole') ?? 'Someone who manages your help desk account',
      link: ctx.resetLinkFor(read.text('tokenId')),
      expiresAt: read.time('expiresAt'),
      lifetime: formatHours(read.hours('lifetimeHours')),
    };
  },
  subject: (view) => `Reset your password for the ${view.accountName} help desk`,
  text: `<% if (it.purpose === 'self_service') { %>Someone asked to reset the password of your <%= it.accountName %> help desk account. If it was not you, ignore this email: your password stays as it is.<% } else if (it.purpose === 'admin') { %><%= it.sentBy %> sent you this link to choose a new password for your <%= it.accountName %> help desk account.<% } else if (it.purpose === 'permissions_grew') { %><%= it.sentBy %> gave your <%= it.accountName %> help desk account more permissions. The password someone else had set for you no longer works: choose your own, which only you know.<% } else { %>The server operator issued a recovery link so you can choose a new password for your <%= it.accountName %> help desk account.<% } %>

Choose a new password:

<%= it.link %>

This link is valid for <%= it.lifetime %>, until <%= it.expiresAt %>, and works once. When you choose a new password, you are signed out everywhere.
<% if (it.purpose !== 'self_service') { %>
If you weren't expecting this email, contact your administrator.
<% } %>`,
  html: `<% if (it.purpose === 'self_service') { %><p ${P}>Someone asked to reset the password of your <strong><%= it.accountName %></strong> help desk account.</p>
<% } else if (it.purpose === 'admin') { %><p ${P}><strong><%= it.sentBy %></strong> sent you this link to choose a new password for your <strong><%= it.accountName %></strong> help desk account.</p>
<% } else if (it.purpose === 'permissions_grew') { %><p ${P}><strong><%= it.sentBy %></strong> gave your <strong><%= it.accountName %></strong> help desk account more permissions. The password someone else had set for you no longer works: choose your own, which only you know.</p>
<% } else { %><p ${P}>The server operator issued a recovery link so you can choose a new password for your <strong><%= it.accountName %></strong> help desk account.</p>
<% } %><%~ include('@button', { url: it.link, label: 'Choose a new password' }) %>
<p ${P}>This link is valid for <%= it.lifetime %>, until <%= it.expiresAt %>, and works once. When you choose a new password, you are signed out everywhere.</p>
<% if (it.purpose === 'self_service') { %><p ${SMALL}>If it was not you, ignore this email: your password stays as it is.</p>
<% } else { %><p ${SMALL}>If you weren't expecting this email, contact your administrator.</p>
<% } %>`,
});
