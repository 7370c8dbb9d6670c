import type { AdapterPayload } from 'oidc-provider';
import type { AppWithSecret } from '../store/apps.repo.js';

/**
 * An app as oidc-provider's client metadata: authorization code only, RS256 ID tokens, refresh
 * tokens, back-channel logout with sid. A confidential app's `client_secret` here is the stored
 * SHA-256 of its secret (the secret itself is kept nowhere): the provider compares a presented
 * secret's hash with it (see compareClientSecret in provider.ts), and no HMAC algorithm that
 * would use it as a key is enabled.
 */
export function clientMetadataOf({ app, secretHash }: AppWithSecret): AdapterPayload {
  const confidential = app.type === 'confidential';
  return {
    client_id: app.clientId,
    client_name: app.name,
    ...(confidential && secretHash ? { client_secret: secretHash } : {}),
    token_endpoint_auth_method: confidential ? 'client_secret_basic' : 'none',
    application_type: 'web',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: app.redirectUris,
    post_logout_redirect_uris: app.postLogoutRedirectUris,
    ...(app.backchannelLogoutUri ? { backchannel_logout_uri: app.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    id_token_signed_response_alg: 'RS256',
    // the ID token always says when the agent signed in (API.md)
    require_auth_time: true,
  };
}
