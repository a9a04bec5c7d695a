"""Signs in to a running siwe-server with a fresh key, using eth-account (an implementation
independent of ours), and prints the bearer token.
Usage: python3 tests/suites/api-fuzz/sign_in.py BASE_URL"""

import datetime
import json
import sys
import urllib.request

from eth_account import Account
from eth_account.messages import encode_defunct

base = sys.argv[1]
account = Account.create()
with urllib.request.urlopen(f"{base}/api/auth/nonce") as resp:
    params = json.load(resp)
issued_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
message = (
    f"{params['domain']} wants you to sign in with your Ethereum account:\n{account.address}\n\n"
    f"{params['statement']}\n\nURI: {params['uri']}\nVersion: {params['version']}\n"
    f"Chain ID: 1\nNonce: {params['nonce']}\nIssued At: {issued_at}"
)
signature = account.sign_message(encode_defunct(text=message)).signature.hex()
request = urllib.request.Request(
    f"{base}/api/auth/verify",
    data=json.dumps({"message": message, "signature": signature}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(request) as resp:
    print(json.load(resp)["token"])
