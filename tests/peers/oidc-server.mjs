// A real OpenID provider for the SDK's tests: oidc-provider (pinned in package-lock.json) over HTTPS.
//
//   node oidc-server.mjs --port 0 --cert server.pem --key server.key [--audience URL] [--ttl 300]
//
// Client credentials are enabled for the clients `kei-basic` (client_secret_basic), `kei-post`
// (client_secret_post) and `kei-plan-only` (client_secret_basic, only `kei:plan`); their secrets
// come from the environment (KEI_OIDC_SECRET_BASIC, KEI_OIDC_SECRET_POST, KEI_OIDC_SECRET_PLAN).
// Access tokens are JWTs (resource indicators) for the audience, signed with an RSA key made at
// start; the token TTL, failures of the token endpoint and a clock skew can be changed at run time
// through `POST /__control` (JSON: {ttl, fail: [status, ...], delay, skew, reset}); `GET /__control`
// returns the token requests counted since the last reset. The listening URL is printed as
// `listening <issuer>` on stdout.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    cert: { type: 'string' },
    key: { type: 'string' },
    audience: { type: 'string', default: 'https://kei.test/api' },
    ttl: { type: 'string', default: '300' },
  },
});

const SCOPES = ['kei:plan', 'kei:act', 'kei:observe', 'kei:explain', 'kei:registry', 'kei:bus', 'kei:mcp', 'kei:stream'];
const control = { ttl: Number(args.ttl), fail: [], delay: 0, skew: 0, tokenRequests: 0, byClient: {} };

// A skewed clock for clock-skew scenarios: every timestamp the provider issues moves by `skew` s.
const realNow = Date.now.bind(Date);
Date.now = () => realNow() + control.skew * 1000;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'kei-test-key', use: 'sig', alg: 'RS256' };

function client(id, secret, method, scope) {
  return {
    client_id: id,
    client_secret: secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: method,
    scope,
  };
}

const server = createServer({ cert: readFileSync(args.cert), key: readFileSync(args.key) });
server.listen(Number(args.port), '127.0.0.1', () => {
  const issuer = `https://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      client('kei-basic', process.env.KEI_OIDC_SECRET_BASIC, 'client_secret_basic', SCOPES.join(' ')),
      client('kei-post', process.env.KEI_OIDC_SECRET_POST, 'client_secret_post', SCOPES.join(' ')),
      client('kei-plan-only', process.env.KEI_OIDC_SECRET_PLAN, 'client_secret_basic', 'kei:plan'),
    ],
    scopes: SCOPES,
    jwks: { keys: [signingKey] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => args.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: SCOPES.join(' '),
          audience: args.audience,
          accessTokenTTL: control.ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { ClientCredentials: () => control.ttl },
  });

  provider.use(async (ctx, next) => {
    if (ctx.path === '/__control') {
      if (ctx.method === 'POST') {
        const body = await new Promise((resolve) => {
          let data = '';
          ctx.req.on('data', (chunk) => { data += chunk; });
          ctx.req.on('end', () => resolve(data ? JSON.parse(data) : {}));
        });
        if (body.reset) Object.assign(control, { fail: [], delay: 0, skew: 0, tokenRequests: 0, byClient: {}, ttl: Number(args.ttl) });
        if (body.ttl !== undefined) control.ttl = body.ttl;
        if (body.fail !== undefined) control.fail = [...body.fail];
        if (body.skew !== undefined) control.skew = body.skew;
        if (body.delay !== undefined) control.delay = body.delay;
      }
      ctx.body = {
        ttl: control.ttl, delay: control.delay, skew: control.skew, token_requests: control.tokenRequests, by_client: control.byClient,
      };
      return;
    }
    if (ctx.path === '/token' && ctx.method === 'POST') {
      control.tokenRequests += 1;
      if (control.delay > 0) await new Promise((resolve) => { setTimeout(resolve, control.delay * 1000); });
      const status = control.fail.shift();
      if (status !== undefined) {
        ctx.status = status;
        ctx.set('Content-Type', 'text/html');
        ctx.body = '<html><body>upstream unavailable</body></html>';
        return;
      }
    }
    await next();
    if (ctx.path === '/token' && ctx.oidc?.client) {
      const id = ctx.oidc.client.clientId;
      control.byClient[id] = (control.byClient[id] || 0) + 1;
    }
  });

  server.on('request', provider.callback());
  process.stdout.write(`listening ${issuer}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
