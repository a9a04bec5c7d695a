# JupyterHub logging people in through siwe-server, configured as oauthenticator's documentation
# says for GenericOAuthenticator (the copy-paste setup in docs/oidc.md is this file). The URLs and
# ports come from the environment here because the test picks free ports; in a real setup they are
# literals: SIWE = "https://id.example.org", HUB = "https://jupyter.example.org".
import os

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)
SIWE = os.environ["SIWE_BASE"]
HUB = os.environ["HUB_URL"]

c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.client_id = "jupyterhub"
c.GenericOAuthenticator.client_secret = os.environ["HUB_CLIENT_SECRET"]
c.GenericOAuthenticator.oauth_callback_url = f"{HUB}/hub/oauth_callback"
c.GenericOAuthenticator.authorize_url = f"{SIWE}/oidc/authorize"
c.GenericOAuthenticator.token_url = f"{SIWE}/oidc/token"
c.GenericOAuthenticator.userdata_url = f"{SIWE}/oidc/userinfo"
c.GenericOAuthenticator.scope = ["openid", "profile"]
c.GenericOAuthenticator.username_claim = "preferred_username"
c.GenericOAuthenticator.login_service = "Ethereum wallet"
# Everybody who can sign in with a wallet may use the hub (or list them in allowed_users).
c.GenericOAuthenticator.allow_all = True

# The test's own settings: loopback ports, and the hub page after login instead of spawning a
# notebook server (the login is what is tested).
c.JupyterHub.bind_url = HUB
c.JupyterHub.hub_port = int(os.environ["HUB_INTERNAL_PORT"])
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ['HUB_PROXY_API_PORT']}"
c.JupyterHub.redirect_to_server = False
