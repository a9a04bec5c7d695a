"""Authlib (PyPI) as a relying party against the real binary: discovery, authorization code +
PKCE (S256) after a real SIWE sign-in, token (client_secret_basic), the ID token checked as
Authlib's own OpenID clients do (joserfc against the JWKS, then CodeIDToken: iss, aud, exp, nonce,
at_hash), userinfo, refresh, revocation and introspection.
Usage: python3 tests/suites/oidc/authlib_client.py BASE_URL (run by tests/suites/oidc/oidc.sh)"""

import os
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken, UserInfo
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from person import Person

# The server under test listens on plain http on loopback.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
base = sys.argv[1]
CLIENT_ID = "authlib"
# A client added by `siwe-server clients add` (oidc.sh), which printed this secret.
SECRET = os.environ["AUTHLIB_CLIENT_SECRET"]
REDIRECT_URI = "http://127.0.0.1/callback/authlib"

meta = requests.get(f"{base}/.well-known/openid-configuration").json()
assert meta["issuer"] == base, meta["issuer"]
keys = KeySet.import_key_set(requests.get(meta["jwks_uri"]).json())


def id_token_claims(token, nonce):
    """What Authlib's OpenIDMixin.parse_id_token does with an ID token."""
    decoded = jwt.decode(
        token["id_token"],
        key=keys,
        registry=JWSRegistry(algorithms=meta["id_token_signing_alg_values_supported"]),
    )
    claims = CodeIDToken(
        decoded.claims,
        decoded.header,
        {"iss": {"values": [meta["issuer"]]}},
        {"nonce": nonce, "client_id": CLIENT_ID, "access_token": token["access_token"]},
    )
    claims.validate(leeway=60)
    return decoded.header, claims


person = Person(base)
person.sign_in()
oauth = OAuth2Session(
    CLIENT_ID,
    SECRET,
    scope="openid profile email offline_access",
    redirect_uri=REDIRECT_URI,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
verifier = generate_token(48)
nonce = generate_token(20)
url, state = oauth.create_authorization_url(
    meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
)
callback, _ = person.walk(url)
assert callback.startswith(REDIRECT_URI + "?"), callback
token = oauth.fetch_token(
    meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
)
header, claims = id_token_claims(token, nonce)
assert header["alg"] == "RS256", header

info = UserInfo(oauth.get(meta["userinfo_endpoint"]).json())
assert info["sub"] == claims["sub"], (info, claims)
assert info["eth_address"] == person.wallet.address, info
assert "address" not in info, info

refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
assert refreshed["refresh_token"] != token["refresh_token"], "rotated"
_, again = id_token_claims(refreshed, None)
assert again["sub"] == claims["sub"]

revoked = oauth.revoke_token(
    meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token"
)
assert revoked.status_code == 200, revoked.text
try:
    oauth.refresh_token(meta["token_endpoint"], refresh_token=refreshed["refresh_token"])
    raise AssertionError("a revoked refresh token still works")
except OAuthError as e:
    assert e.error == "invalid_grant", e.error
introspected = oauth.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"])
assert introspected.json() == {"active": False}, introspected.text

print(f"authlib: signed in as {info['preferred_username']} (sub {claims['sub']}), refreshed, revoked")
