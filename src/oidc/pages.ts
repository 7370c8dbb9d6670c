/**
 * The few pages the provider itself answers (errors, the sign-out confirmation, signed out),
 * in the portal's look. Everything else a person sees on the way to an app is a portal page.
 */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · Deskpass</title>
<link rel="stylesheet" href="/assets/layout.css">
<link rel="stylesheet" href="/assets/forms.css">
</head>
<body class="shape-narrow">
<main id="main" class="main">
  <div class="desk-title"><span class="brand-mark" aria-hidden="true">D</span><span class="desk-name">Deskpass</span><span class="desk-sub">Agent portal</span></div>
  <div class="card">
${body}
  </div>
</main>
<footer class="site-footer">Deskpass · agent accounts and passwords</footer>
</body>
</html>`;
}

const SENTENCES: Record<string, string> = {
  invalid_request: 'The help desk sent a sign-in request Deskpass cannot accept.',
  invalid_client: 'This help desk is not registered with Deskpass (or no longer is).',
  invalid_redirect_uri: 'The help desk asked to return to an address that is not registered for it.',
  unauthorized_client: 'This help desk may not sign in this way.',
  access_denied: 'Signing in to the help desk was cancelled.',
  login_required: 'You need to sign in first.',
  invalid_scope: 'The help desk asked for something Deskpass does not provide.',
  unsupported_response_type: 'The help desk asked for a kind of sign-in Deskpass does not support.',
  server_error: 'Something went wrong on our side. Try again in a moment.',
  session_not_found: 'This sign-in request has expired. Go back to the help desk and sign in again.',
};

export function errorPage(error: string, description: string): string {
  const sentence = SENTENCES[error] ?? 'The help desk sign-in could not continue.';
  return page(
    'Sign-in problem',
    `    <h1>Could not sign you in to the help desk</h1>
    <p>${escapeHtml(sentence)}</p>
    <p class="hint">Details for the help desk administrator: <code>${escapeHtml(error)}</code>${description ? ` — ${escapeHtml(description)}` : ''}</p>
    <div class="form-actions"><a class="btn btn-secondary" href="/">Go to Deskpass</a></div>`,
  );
}

/** RP-initiated logout: the library's form (its xsrf field) with Deskpass's wording; it ends the Deskpass session and every app's. */
export function logoutPage(form: string, appName: string | null): string {
  const from = appName ? ` from ${escapeHtml(appName)}` : '';
  return page(
    'Sign out',
    `    <h1>Sign out of Deskpass?</h1>
    <p>You asked to sign out${from}. Signing out ends your Deskpass session and signs you out of every help desk you opened with it.</p>
    ${form}
    <div class="form-actions">
      <button class="btn btn-primary" type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Sign out everywhere</button>
      <a class="btn btn-secondary" href="/">Stay signed in</a>
    </div>`,
  );
}

export function loggedOutPage(): string {
  return page('Signed out', `    <h1>You are signed out</h1>
    <p>Your Deskpass session has ended, and with it your sessions in the help desks you opened.</p>
    <div class="form-actions"><a class="btn btn-primary" href="/login">Sign in again</a></div>`);
}
