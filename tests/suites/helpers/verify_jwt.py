"""Verifies a siwe-server token with PyJWT (an implementation independent of ours) against the
server's JWKS. Usage: python3 tests/suites/helpers/verify_jwt.py JWKS_URL TOKEN AUDIENCE ISSUER
Prints the claims as JSON and exits 0, or prints the error and exits 1."""

import json
import sys

import jwt

jwks_url, token, audience, issuer = sys.argv[1:5]
try:
    key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=audience, issuer=issuer,
                        options={"require": ["exp", "iat", "sub", "aud", "iss"]})
except Exception as err:  # noqa: BLE001 - the test reads the message
    print(f"{type(err).__name__}: {err}")
    sys.exit(1)
print(json.dumps(claims))
