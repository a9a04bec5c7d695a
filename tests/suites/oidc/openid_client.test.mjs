// openid-client (a certified OpenID relying-party library) against the real binary: discovery,
// authorization code + PKCE after a real SIWE sign-in, ID tokens checked by the library against
// the JWKS (RS256 and EdDSA), userinfo, refresh with rotation, revocation, introspection and
// RP-initiated logout, with client_secret_basic, client_secret_post and a public client.
// The clients are those of tests/suites/oidc/config.toml. Run by tests/suites/oidc/oidc.sh,
// which sets SIWE_BASE to the server's URL.

import { test } from "node:test";
import assert from "node:assert/strict";
import * as client from "openid-client";
import { Person, parseForm } from "./person.mjs";

const base = process.env.SIWE_BASE;
if (!base) throw new Error("SIWE_BASE is not set: run tests/suites/oidc/oidc.sh");
const SCOPE = "openid profile email wallets offline_access";
const SIGNED_OUT = "http://127.0.0.1/signed-out";

/** Discovery for one of the configured clients, as an app would do it at start. */
function discover(id, auth, metadata = {}) {
  return client.discovery(new URL(base), id, metadata, auth, { execute: [client.allowInsecureRequests] });
}
const basic = () => discover("rp-basic", client.ClientSecretBasic("rp-basic-secret-0123456789abcdefghijkl"));
const post = () =>
  discover("rp-post", client.ClientSecretPost("rp-post-secret-0123456789abcdefghijklmn"), {
    id_token_signed_response_alg: "EdDSA",
  });
const pub = () => discover("rp-public", client.None());

/** The whole front channel: authorization URL with PKCE, state and nonce, then the code grant. */
async function signInTo(config, person, redirectUri, scope = SCOPE) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  const callback = await person.authorize(url.href);
  assert.equal(callback.origin + callback.pathname, redirectUri);
  assert.equal(callback.searchParams.get("iss"), base, "RFC 9207 iss in the response");
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
}

const header = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString());

/** The error code a failed grant or request carries (openid-client's ResponseBodyError). */
async function errorOf(promise) {
  try {
    await promise;
  } catch (e) {
    return e.error ?? e.code ?? e.message;
  }
  return "no error";
}

test("discovery names the endpoints, S256 and both signing algorithms", async () => {
  const meta = (await basic()).serverMetadata();
  assert.equal(meta.issuer, base);
  for (const [key, path] of [
    ["authorization_endpoint", "/oidc/authorize"],
    ["token_endpoint", "/oidc/token"],
    ["userinfo_endpoint", "/oidc/userinfo"],
    ["revocation_endpoint", "/oidc/revoke"],
    ["introspection_endpoint", "/oidc/introspect"],
    ["end_session_endpoint", "/oidc/logout"],
    ["jwks_uri", "/.well-known/jwks.json"],
  ]) {
    assert.equal(meta[key], base + path, key);
  }
  assert.deepEqual(meta.response_types_supported, ["code"]);
  assert.deepEqual(meta.code_challenge_methods_supported, ["S256"]);
  assert.ok(meta.id_token_signing_alg_values_supported.includes("RS256"));
  assert.ok(meta.id_token_signing_alg_values_supported.includes("EdDSA"));
  for (const method of ["client_secret_basic", "client_secret_post", "none"]) {
    assert.ok(meta.token_endpoint_auth_methods_supported.includes(method), method);
  }
});

test("client_secret_basic: code + PKCE, RS256 ID token, userinfo, introspection, refresh rotation", async () => {
  const config = await basic();
  const person = new Person(base);
  await person.signIn();
  const tokens = await signInTo(config, person, "http://127.0.0.1/callback/basic");

  assert.equal(header(tokens.id_token).alg, "RS256");
  assert.equal(header(tokens.access_token).typ, "at+jwt");
  const claims = tokens.claims();
  assert.equal(claims.aud, "rp-basic");
  assert.ok(claims.auth_time > 0, "auth_time");
  assert.ok(claims.amr?.includes("pop"), "amr pop");
  assert.ok(tokens.refresh_token, "offline_access gives a refresh token");
  assert.equal(tokens.token_type.toLowerCase(), "bearer");

  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.eth_address, person.wallet.address);
  assert.ok(info.preferred_username, "preferred_username");
  assert.ok(Array.isArray(info.wallets), "wallets");
  assert.equal(info.address, undefined, "never the postal address claim");

  const active = await client.tokenIntrospection(config, tokens.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, "rp-basic");
  assert.equal(active.sub, claims.sub);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, "rotated");
  assert.equal(refreshed.claims().sub, claims.sub, "a new ID token for the same person");
  await client.fetchUserInfo(config, refreshed.access_token, claims.sub);

  // The old one again: refused, and the whole family ends (the new one too).
  assert.equal(await errorOf(client.refreshTokenGrant(config, tokens.refresh_token)), "invalid_grant");
  assert.equal(await errorOf(client.refreshTokenGrant(config, refreshed.refresh_token)), "invalid_grant");
  assert.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, false);
});

test("client_secret_post: EdDSA ID token and a pairwise subject", async () => {
  const person = new Person(base);
  await person.signIn();
  const viaPost = await signInTo(await post(), person, "http://127.0.0.1/callback/post");
  assert.equal(header(viaPost.id_token).alg, "EdDSA");
  const viaBasic = await signInTo(await basic(), person, "http://127.0.0.1/callback/basic");
  assert.notEqual(viaPost.claims().sub, viaBasic.claims().sub, "pairwise: apps cannot correlate");
  const again = await signInTo(await post(), person, "http://127.0.0.1/callback/post");
  assert.equal(again.claims().sub, viaPost.claims().sub, "pairwise subjects are stable");
});

test("public client: none + PKCE", async () => {
  const config = await pub();
  const person = new Person(base);
  await person.signIn();
  const tokens = await signInTo(config, person, "http://127.0.0.1/callback/public", "openid profile");
  const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
  assert.equal(info.eth_address, person.wallet.address);
  assert.equal(info.email, undefined, "no email without the email scope");
});

test("revocation of the refresh token ends the grant", async () => {
  const config = await basic();
  const person = new Person(base);
  await person.signIn();
  const tokens = await signInTo(config, person, "http://127.0.0.1/callback/basic");
  await client.tokenRevocation(config, tokens.refresh_token);
  assert.equal(await errorOf(client.refreshTokenGrant(config, tokens.refresh_token)), "invalid_grant");
  assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false);
  const userinfo = await fetch(`${base}/oidc/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(userinfo.status, 401);
  // Unknown tokens are fine to revoke (RFC 7009).
  await client.tokenRevocation(config, "not-a-token");
});

test("consent denied: access_denied goes back with the state", async () => {
  const config = await basic();
  const person = new Person(base);
  await person.signIn();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: "http://127.0.0.1/callback/basic",
    scope: "openid",
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: "S256",
    state,
  });
  const callback = await person.authorize(url.href, "deny");
  assert.equal(callback.searchParams.get("error"), "access_denied");
  assert.equal(callback.searchParams.get("state"), state);
});

test("prompt=none without a session: login_required", async () => {
  const config = await basic();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: "http://127.0.0.1/callback/basic",
    scope: "openid",
    prompt: "none",
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: "S256",
    state,
  });
  const callback = await new Person(base).authorize(url.href);
  assert.equal(callback.searchParams.get("error"), "login_required");
  assert.equal(callback.searchParams.get("state"), state);
});

test("RP-initiated logout: GET shows a page, the form's POST ends the session and goes back", async () => {
  const config = await basic();
  const person = new Person(base);
  await person.signIn();
  const tokens = await signInTo(config, person, "http://127.0.0.1/callback/basic");
  const state = client.randomState();
  const url = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: SIGNED_OUT,
    state,
  });

  const page = await person.fetch(url.href);
  assert.equal(page.status, 200);
  assert.ok(await person.signedIn(), "GET changes nothing");
  const form = parseForm(await page.text(), "sign out");
  assert.ok(form, "the page has a sign-out form");
  const done = await person.postForm(new URL(form.action, url).href, form.fields);
  assert.ok(done.status >= 300 && done.status < 400, `POST answers a redirect, not ${done.status}`);
  const back = new URL(done.headers.get("location"));
  assert.equal(back.origin + back.pathname, SIGNED_OUT);
  assert.equal(back.searchParams.get("state"), state);
  assert.equal(await person.signedIn(), false, "signed out here");
});
