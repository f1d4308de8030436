// A real OpenID Provider (panva/oidc-provider) for the end-to-end tests, on loopback only.
// Clients register through dynamic registration (RFC 7591); users sign in through the
// provider's development login form (any login name; the accounts below have claims).
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT || 0);
const host = '127.0.0.1';
const issuer = `http://${host}:${port}`;

// COGNITO_STYLE=1: serve Cognito's paths and claim quirks (token_use, string email_verified,
// cognito:groups in the ID token) so the Cognito preset can be driven end to end.
const cognito = process.env.COGNITO_STYLE === '1';

const accounts = {
  ada: { email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace' },
  eve: { email: 'eve@example.com', email_verified: false, name: 'Eve Unverified' },
};

const configuration = {
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  claims: {
    openid: cognito ? ['sub', 'token_use', 'cognito:groups', 'cognito:username'] : ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // Cognito puts the scope claims in the ID token; a plain OP sends them from userinfo.
  conformIdTokenClaims: !cognito,
  routes: cognito
    ? { authorization: '/oauth2/authorize', token: '/oauth2/token', userinfo: '/oauth2/userInfo', jwks: '/.well-known/jwks.json', end_session: '/logout', registration: '/reg' }
    : undefined,
  pkce: { required: () => true },
  cookies: { keys: ['portal-sso-test-only-cookie-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const claims = { sub: id, ...(accounts[id] || { email: `${id}@example.com`, email_verified: true, name: id }) };
        if (cognito) {
          Object.assign(claims, { token_use: 'id', 'cognito:groups': ['support-customers'], 'cognito:username': id, email_verified: String(claims.email_verified) });
        }
        return claims;
      },
    };
  },
  async loadExistingGrant(ctx) {
    // Consent is implied for test clients: no consent screen between login and callback.
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
};
if (!configuration.routes) delete configuration.routes;
const provider = new Provider(issuer, configuration);
provider.proxy = false;

const server = provider.listen(port, host, () => {
  const address = server.address();
  console.log(`READY http://${host}:${address.port}`);
});
