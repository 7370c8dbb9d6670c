import { defineMail, P, SMALL } from './engine.js';

/** Another agent set the password (option 2), named with their role. The password itself travels by another channel, never here. */
export const passwordSetByAdmin = defineMail('password_set_by_admin', {
  view(read) {
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      // "Sam Supervisor (Supervisor)"; the address stays in the payload of older rows but is not
      // shown: the contact below (the Account Administrator) is whom to ask if this was not expected
      by: read.actor('adminName', 'adminRole') ?? read.text('adminName'),
      changedAt: read.time('changedAt'),
      contactName: read.text('contactName'),
      contactEmail: read.text('contactEmail'),
    };
  },
  subject: (view) => `A new password was set for your ${view.accountName} help desk account`,
  text: `<%= it.by %> set a new password for your <%= it.accountName %> help desk account on <%= it.changedAt %>. You were signed out everywhere; sign in again with the new password.

For your security, this email does not contain the password. It will be shared with you through another channel, such as in person or by phone.

If this was not expected, contact <%= it.contactName %> (<%= it.contactEmail %>).
`,
  html: `<p ${P}><strong><%= it.by %></strong> set a new password for your <strong><%= it.accountName %></strong> help desk account on <%= it.changedAt %>. You were signed out everywhere; sign in again with the new password.</p>
<p ${P}>For your security, this email does not contain the password. It will be shared with you through another channel, such as in person or by phone.</p>
<p ${SMALL}>If this was not expected, contact <%= it.contactName %> (<%= it.contactEmail %>).</p>
`,
});
