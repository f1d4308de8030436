// A real OpenID Provider (panva/oidc-provider) for the end-to-end tests, on loopback only.
// Clients register through dynamic registration (RFC 7591); users sign in through the
// provider's development login form (any login name; the accounts below have claims).
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT || 0);
const host = '127.0.0.1';
const issuer = `http://${host}:${port}`;

const accounts = {
  ada: { email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace' },
  eve: { email: 'eve@example.com', email_verified: false, name: 'Eve Unverified' },
};

const provider = new Provider(issuer, {
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  pkce: { required: () => true },
  cookies: { keys: ['portal-sso-test-only-cookie-key'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, ...(accounts[id] || { email: `${id}@example.com`, email_verified: true, name: id }) };
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
});
provider.proxy = false;

const server = provider.listen(port, host, () => {
  const address = server.address();
  console.log(`READY http://${host}:${address.port}`);
});
