"""A person with a wallet and a browser-less cookie jar (requests): signs in to siwe-server with a
real EIP-4361 signature (eth-account, independent of our code), then walks an authorization
request the way a browser would (following redirects, answering the consent page's form) until it
leaves the server. The Python twin of person.mjs."""

import datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import requests
from eth_account import Account
from eth_account.messages import encode_defunct


class Person:
    def __init__(self, base):
        self.base = base
        self.wallet = Account.create()
        self.http = requests.Session()

    def sign_in(self):
        params = self.http.get(f"{self.base}/api/auth/nonce").json()
        issued_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        message = (
            f"{params['domain']} wants you to sign in with your Ethereum account:\n"
            f"{self.wallet.address}\n\n{params['statement']}\n\nURI: {params['uri']}\n"
            f"Version: {params['version']}\nChain ID: {(params.get('chainIds') or [1])[0]}\n"
            f"Nonce: {params['nonce']}\nIssued At: {issued_at}"
        )
        signature = self.wallet.sign_message(encode_defunct(text=message)).signature.hex()
        if not signature.startswith("0x"):
            signature = "0x" + signature
        resp = self.http.post(
            f"{self.base}/api/auth/verify",
            json={"message": message, "signature": signature},
            headers={"Origin": self.base},
        )
        assert resp.status_code == 200, f"sign-in: {resp.status_code} {resp.text}"
        return resp.json()

    def walk(self, url, decision="allow", within=()):
        """Opens `url` as a browser would: follows redirects on this server (and on the origins
        `within`, e.g. an app's own hops) and answers its consent page with `decision`. Returns
        (url, None) for the first redirect elsewhere (an app's redirect_uri), or (url, response)
        for the first other answer."""
        inside = {self.base, *within}
        resp = self.http.get(url, allow_redirects=False)
        for _ in range(12):
            if 300 <= resp.status_code < 400:
                url = urljoin(url, resp.headers["Location"])
                if _origin(url) not in inside:
                    return url, None
                assert urlsplit(url).path != "/login", f"sent to the login page: {url}"
                resp = self.http.get(url, allow_redirects=False)
            elif resp.status_code == 200 and _origin(url) == self.base:
                form = parse_form(resp.text, decision)
                assert form, f"a page without a form at {url}:\n{resp.text[:2000]}"
                url = urljoin(url, form["action"])
                resp = self.http.post(
                    url, data=form["fields"], headers={"Origin": self.base}, allow_redirects=False
                )
            else:
                return url, resp
        raise AssertionError("too many hops")


def _origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms = []
        self._button = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": attrs, "fields": {}, "buttons": []})
        elif not self.forms:
            return
        elif tag == "input" and (attrs.get("type") or "text").lower() == "hidden":
            if attrs.get("name"):
                self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
        elif tag == "input" and (attrs.get("type") or "").lower() == "submit":
            self.forms[-1]["buttons"].append({**attrs, "text": ""})
        elif tag == "button":
            self._button = {**attrs, "text": ""}
            self.forms[-1]["buttons"].append(self._button)

    def handle_data(self, data):
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag):
        if tag == "button":
            self._button = None


def parse_form(page, choice):
    """The page's POST form: action and fields (hidden inputs, plus the button whose name, value
    or text contains `choice`; or the only button of the only form)."""
    parser = _Forms()
    parser.feed(page)
    forms = [f for f in parser.forms if (f["attrs"].get("method") or "get").lower() == "post"]

    def with_button(form, button):
        fields = dict(form["fields"])
        if button.get("name"):
            fields[button["name"]] = button.get("value") or ""
        return {"action": form["attrs"].get("action") or "", "fields": fields}

    for form in forms:
        for button in form["buttons"]:
            words = [button.get("name"), button.get("value"), button["text"].strip()]
            if any(w and choice in w.lower() for w in words):
                return with_button(form, button)
    if len(forms) == 1 and len(forms[0]["buttons"]) == 1:
        return with_button(forms[0], forms[0]["buttons"][0])
    return None
