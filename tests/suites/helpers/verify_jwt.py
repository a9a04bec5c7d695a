"""Verifies a siwe-server token with PyJWT (an implementation independent of ours) against the
server's JWKS. Usage: python3 tests/suites/helpers/verify_jwt.py JWKS_URL TOKEN AUDIENCE ISSUER [MOVED_SECS [ALG]]
MOVED_SECS moves the verifier's clock as far as the test moved the server's (default 0); ALG is
the one algorithm accepted (default EdDSA; RS256 for OpenID Connect tokens).
Prints the claims as JSON and exits 0, or prints the error and exits 1."""

import datetime
import json
import sys

import jwt
import jwt.api_jwt

jwks_url, token, audience, issuer = sys.argv[1:5]
moved = datetime.timedelta(seconds=float(sys.argv[5]) if len(sys.argv) > 5 else 0)
algorithm = sys.argv[6] if len(sys.argv) > 6 else "EdDSA"


class MovedClock(datetime.datetime):
    """The system time plus `moved`: what PyJWT (2.15, pinned) checks exp and iat against."""

    @classmethod
    def now(cls, tz=None):
        return datetime.datetime.now(tz) + moved


jwt.api_jwt.datetime = MovedClock
try:
    key = jwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key, algorithms=[algorithm], audience=audience, issuer=issuer,
                        options={"require": ["exp", "iat", "sub", "aud", "iss"]})
except Exception as err:  # noqa: BLE001 - the test reads the message
    print(f"{type(err).__name__}: {err}")
    sys.exit(1)
print(json.dumps(claims))
