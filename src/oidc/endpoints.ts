/**
 * Where the provider's endpoints live, under PUBLIC_URL. Clients find them in discovery; the
 * portal shows them to the help desk's administrator for clients that are typed in by hand
 * (osTicket's OAuth2 plugin). Discovery itself is at the issuer's well-known address.
 */
export const OIDC_ROUTES = {
  authorization: '/oidc/auth',
  token: '/oidc/token',
  userinfo: '/oidc/userinfo',
  jwks: '/oidc/jwks',
  end_session: '/oidc/session/end',
  revocation: '/oidc/token/revocation',
  introspection: '/oidc/token/introspection',
} as const;

export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** The interaction (sign-in) page the authorization endpoint sends a browser to: the portal's. */
export const INTERACTION_PATH = '/interaction';

export interface ProviderEndpoints {
  issuer: string;
  discovery: string;
  authorization: string;
  token: string;
  userinfo: string;
  jwks: string;
  endSession: string;
  revocation: string;
  introspection: string;
}

export function providerEndpoints(publicUrl: string): ProviderEndpoints {
  const at = (path: string) => `${publicUrl}${path}`;
  return {
    issuer: publicUrl,
    discovery: at(DISCOVERY_PATH),
    authorization: at(OIDC_ROUTES.authorization),
    token: at(OIDC_ROUTES.token),
    userinfo: at(OIDC_ROUTES.userinfo),
    jwks: at(OIDC_ROUTES.jwks),
    endSession: at(OIDC_ROUTES.end_session),
    revocation: at(OIDC_ROUTES.revocation),
    introspection: at(OIDC_ROUTES.introspection),
  };
}
