import { defineMail, P, SMALL } from './engine.js';

/** Another agent set a one-time password (option 3), named with their role: the agent replaces it at the next sign-in. */
export const passwordChangeRequired = defineMail('password_change_required', {
  view(read) {
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      // "Sam Supervisor (Supervisor)"; the address stays in the payload of older rows but is not
      // shown: the contact below (the Account Administrator) is whom to ask if this was not expected
      by: read.actor('adminName', 'adminRole') ?? read.text('adminName'),
      changedAt: read.time('changedAt'),
      expiresAt: read.time('expiresAt'),
      contactName: read.text('contactName'),
      contactEmail: read.text('contactEmail'),
      loginUrl: read.url('loginUrl'),
    };
  },
  subject: (view) => `Choose a new password for the ${view.accountName} help desk at your next sign-in`,
  text: `<%= it.by %> set a one-time password for your <%= it.accountName %> help desk account on <%= it.changedAt %>. This email does not contain it: it will be shared with you through another channel, such as in person or by phone.

Sign in with the one-time password and you will be asked to choose your own password right away:

<%= it.loginUrl %>

The one-time password stops working on <%= it.expiresAt %>. After that, ask your administrator for a new one, or use Forgot password on the sign-in page.

If this was not expected, contact <%= it.contactName %> (<%= it.contactEmail %>).
`,
  html: `<p ${P}><strong><%= it.by %></strong> set a one-time password for your <strong><%= it.accountName %></strong> help desk account on <%= it.changedAt %>. This email does not contain it: it will be shared with you through another channel, such as in person or by phone.</p>
<p ${P}>Sign in with the one-time password and you will be asked to choose your own password right away.</p>
<%~ include('@button', { url: it.loginUrl, label: 'Sign in' }) %>
<p ${P}>The one-time password stops working on <%= it.expiresAt %>. After that, ask your administrator for a new one, or use <strong>Forgot password</strong> on the sign-in page.</p>
<p ${SMALL}>If this was not expected, contact <%= it.contactName %> (<%= it.contactEmail %>).</p>
`,
});
