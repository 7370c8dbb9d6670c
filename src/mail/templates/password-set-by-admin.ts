import { defineMail, P, SMALL } from './engine.js';

/** An administrator set the password (option 2). The password itself travels by another channel, never here. */
export const passwordSetByAdmin = defineMail('password_set_by_admin', {
  view(read) {
    return {
      agentName: read.text('agentName'),
      accountName: read.text('accountName'),
      adminName: read.text('adminName'),
      adminEmail: read.text('adminEmail'),
      changedAt: read.time('changedAt'),
      contactName: read.text('contactName'),
      contactEmail: read.text('contactEmail'),
    };
  },
  subject: (view) => `An administrator set a new password for your ${view.accountName} help desk account`,
  text: `<%= it.adminName %> (<%= it.adminEmail %>) set a new password for your <%= it.accountName %> help desk account on <%= it.changedAt %>. You were signed out everywhere; sign in again with the new password.

For your security, this email does not contain the password. It will be shared with you through another channel, such as in person or by phone.

If this was not expected, contact <%= it.contactName %> (<%= it.contactEmail %>).
`,
  html: `<p ${P}><strong><%= it.adminName %></strong> (<%= it.adminEmail %>) set a new password for your <strong><%= it.accountName %></strong> help desk account on <%= it.changedAt %>. You were signed out everywhere; sign in again with the new password.</p>
<p ${P}>For your security, this email does not contain the password. It will be shared with you through another channel, such as in person or by phone.</p>
<p ${SMALL}>If this was not expected, contact <%= it.contactName %> (<%= it.contactEmail %>).</p>
`,
});
