import { Eta } from 'eta/core';
import { PayloadReader } from './payload.js';

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export interface RenderContext {
  publicUrl: string;
  /** full link for a reset-token row id */
  resetLinkFor(tokenId: string): string;
  /** the recipient's IANA zone for the times in the email (the agent's own, else the help desk's); UTC when unset */
  timeZone?: string;
}

/** What every email's layout shows. */
export interface BaseView {
  agentName: string;
  accountName: string;
}

/**
 * One email: how to read its payload, its subject, and its two bodies as Eta templates.
 * In `html`, `<%= %>` escapes (the default, so forgetting is safe); `<%~ %>` is for partials only.
 */
export interface MailDefinition<V extends BaseView> {
  view(read: PayloadReader, ctx: RenderContext): V;
  subject(view: V): string;
  text: string;
  html: string;
}

export interface CompiledMail {
  render(template: string, payload: Record<string, unknown>, ctx: RenderContext): RenderedMail;
}

// autoTrim off: in plain text every newline written in a template is a newline in the email.
const htmlEngine = new Eta({ autoEscape: true, autoTrim: false, cache: true });
const textEngine = new Eta({ autoEscape: false, autoTrim: false, cache: true });

/** Inline styles (what mail clients honour), shared by the HTML templates. */
export const P = 'style="margin:0 0 16px;"';
export const SMALL = 'style="margin:0 0 16px;font-size:13px;color:#57606a;"';

htmlEngine.loadTemplate(
  '@layout',
  `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.subject %></title>
</head>
<body style="margin:0;padding:0;background:#f4f5f7;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;padding:24px 12px;">
<tr><td align="center">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border:1px solid #e1e4e8;border-radius:8px;">
<tr><td style="padding:32px;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:15px;line-height:1.55;color:#24292f;">
<p ${P}>Hello <%= it.agentName %>,</p>
<%~ it.body %>
</td></tr>
</table>
<p style="max-width:560px;margin:16px auto 0;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:12px;line-height:1.5;color:#6a737d;">
Sent by Deskpass for the <%= it.accountName %> help desk. We never ask for your password by email.
</p>
</td></tr>
</table>
</body>
</html>
`,
);

// A button for clients that render it, and the same address in clear for those that don't.
htmlEngine.loadTemplate(
  '@button',
  `<p style="margin:24px 0;"><a href="<%= it.url %>" style="display:inline-block;padding:12px 22px;background:#0b5cad;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600;">
<%= it.label %></a></p>
<p ${SMALL}>If the button does not work, copy this address into your browser:<br>
<a href="<%= it.url %>" style="color:#0b5cad;word-break:break-all;"><%= it.url %></a></p>
`,
);

textEngine.loadTemplate(
  '@layout',
  `Hello <%= it.agentName %>,

<%~ it.body %>
--
Sent by Deskpass for the <%= it.accountName %> help desk. We never ask for your password by email.
`,
);

/** Compiles one email's templates once, at module load, so a template typo fails the first import. */
export function defineMail<V extends BaseView>(name: string, definition: MailDefinition<V>): CompiledMail {
  const templateName = `@mail/${name}`;
  htmlEngine.loadTemplate(templateName, `<% layout('@layout') %>${definition.html}`);
  textEngine.loadTemplate(templateName, `<% layout('@layout') %>${definition.text}`);
  return {
    render(template, payload, ctx) {
      const view = definition.view(new PayloadReader(template, payload, ctx.timeZone), ctx);
      const subject = definition.subject(view);
      const data = { ...view, subject, publicUrl: ctx.publicUrl };
      return {
        subject,
        text: textEngine.render(templateName, data),
        html: htmlEngine.render(templateName, data),
      };
    },
  };
}
