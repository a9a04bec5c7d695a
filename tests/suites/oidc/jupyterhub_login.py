"""A real self-hosted application logs a wallet user in through siwe-server: JupyterHub (PyPI)
with oauthenticator's GenericOAuthenticator and configurable-http-proxy (npm), configured by
tests/suites/oidc/jupyterhub_config.py as oauthenticator's documentation says. A person with a
cookie jar signs in to siwe-server with a wallet, opens the hub's login, goes through
/oidc/authorize (and the consent page) and back, and ends on the hub's page showing the user named
by the `preferred_username` claim.
Usage: python3 tests/suites/oidc/jupyterhub_login.py SIWE_BASE HUB_URL (run by oidc.sh)"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from person import Person

here = Path(__file__).resolve().parent
siwe, hub = sys.argv[1], sys.argv[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


work = tempfile.mkdtemp(prefix="siwe-jupyterhub-")
log = open(Path(work) / "jupyterhub.log", "w")
env = {
    **os.environ,
    "SIWE_BASE": siwe,
    "HUB_URL": hub,
    "HUB_CLIENT_SECRET": "jupyterhub-secret-0123456789abcdefghijklm",
    "HUB_INTERNAL_PORT": str(free_port()),
    "HUB_PROXY_API_PORT": str(free_port()),
    "CONFIGPROXY_AUTH_TOKEN": os.urandom(16).hex(),
    # configurable-http-proxy from this suite's node_modules.
    "PATH": f"{here / 'node_modules' / '.bin'}{os.pathsep}{os.environ['PATH']}",
}
hub_process = subprocess.Popen(
    [sys.executable, "-m", "jupyterhub", "-f", str(here / "jupyterhub_config.py")],
    cwd=work,
    env=env,
    stdout=log,
    stderr=subprocess.STDOUT,
)
try:
    for _ in range(600):  # up to a minute on a busy machine
        try:
            if requests.get(f"{hub}/hub/api", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert hub_process.poll() is None, "JupyterHub stopped"
        time.sleep(0.1)
    else:
        raise AssertionError("JupyterHub did not start")

    person = Person(siwe)
    person.sign_in()
    hub_origin = "{0.scheme}://{0.netloc}".format(urlsplit(hub))
    url, page = person.walk(f"{hub}/hub/oauth_login", within=[hub_origin])
    assert page is not None and page.status_code == 200, f"{url}: {page and page.status_code}"
    assert urlsplit(url).path == "/hub/home", url
    # The hub names the user by the preferred_username claim, lower-cased as JupyterHub does.
    shown = person.wallet.address.lower()
    assert shown in page.text.lower(), f"the hub page does not show {shown}:\n{page.text[:3000]}"
    print(f"jupyterhub: logged in as {shown}")
except BaseException:
    log.flush()
    print((Path(work) / "jupyterhub.log").read_text()[-6000:], file=sys.stderr)
    raise
finally:
    hub_process.terminate()
    try:
        hub_process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        hub_process.kill()
    shutil.rmtree(work, ignore_errors=True)
