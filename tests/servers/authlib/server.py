"""Authlib's Flask authorization server on 127.0.0.1, for tests/servers.rs only.

    python server.py [--port N] [--lifetime SECONDS]

Authlib is a library: the grants, the PKCE extension, client authentication, revocation
(RFC 7009) and introspection (RFC 7662) endpoints are its own; this file supplies only the storage
(in memory) and test-only clients, scopes, a user and a refresh token (secrets from the
environment, see targets.yaml). Prints "listening on http://127.0.0.1:PORT" and serves until
--lifetime has passed. The one test-only route is marked TEST-ONLY.
"""

import argparse
import os
import sys
import threading
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, request
from werkzeug.serving import make_server

REDIRECT_URI = "https://client.tokenconf.invalid/cb"
SCOPES = {"read", "write"}
ISSUER = "https://authlib.tokenconf.invalid"


def env(name):
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"authlib launcher: environment variable {name} is not set")
    return value


class User:
    def __init__(self, user_id, name):
        self.id = user_id
        self.name = name

    def get_user_id(self):
        return self.id


class Client(ClientMixin):
    def __init__(self, client_id, secret):
        self.client_id = client_id
        self.client_secret = secret

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return REDIRECT_URI

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        return " ".join(s for s in scope_to_list(scope) if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == REDIRECT_URI

    def check_client_secret(self, client_secret):
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method, endpoint):
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "client_credentials", "refresh_token")


class Token(TokenMixin):
    def __init__(self, client, user, data):
        self.client = client
        self.user = user
        self.access_token = data["access_token"]
        self.refresh_token = data.get("refresh_token")
        self.scope = data.get("scope", "")
        self.issued_at = int(time.time())
        self.expires_in = int(data.get("expires_in", 0))
        self.access_revoked = False
        self.refresh_revoked = False

    def check_client(self, client):
        return self.client.client_id == client.get_client_id()

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self):
        return self.access_revoked

    def get_user(self):
        return self.user

    def get_client(self):
        return self.client


class Code:
    def __init__(self, code, client, user, redirect_uri, scope, challenge, method):
        self.code = code
        self.client_id = client.client_id
        self.user = user
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.code_challenge = challenge
        self.code_challenge_method = method
        self.expires_at = time.time() + 60

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.clients = {}
        self.codes = {}
        self.by_access = {}
        self.by_refresh = {}

    def save_token(self, data, req):
        token = Token(req.client, req.user, data)
        with self.lock:
            self.by_access[token.access_token] = token
            if token.refresh_token:
                self.by_refresh[token.refresh_token] = token


store = Store()


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    def save_authorization_code(self, code, req):
        payload = req.payload
        with store.lock:
            store.codes[code] = Code(
                code, req.client, req.user, payload.redirect_uri, req.scope,
                payload.data.get("code_challenge"), payload.data.get("code_challenge_method"),
            )

    def query_authorization_code(self, code, client):
        with store.lock:
            item = store.codes.get(code)
        if item and item.client_id == client.client_id and time.time() < item.expires_at:
            return item
        return None

    def delete_authorization_code(self, authorization_code):
        with store.lock:
            store.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class RefreshTokenGrant(grants.RefreshTokenGrant):
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation (RFC 9700 §4.14.2)

    def authenticate_refresh_token(self, refresh_token):
        with store.lock:
            token = store.by_refresh.get(refresh_token)
        if token and not token.refresh_revoked:
            return token
        return None

    def authenticate_user(self, refresh_token):
        return refresh_token.user

    def revoke_old_credential(self, refresh_token):
        refresh_token.refresh_revoked = True
        refresh_token.access_revoked = True


def query_token(token_string, token_type_hint):
    with store.lock:
        if token_type_hint == "refresh_token":
            return store.by_refresh.get(token_string) or store.by_access.get(token_string)
        return store.by_access.get(token_string) or store.by_refresh.get(token_string)


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        return query_token(token_string, token_type_hint)

    def revoke_token(self, token, req):
        token.access_revoked = True
        if req.form.get("token_type_hint") != "access_token":
            token.refresh_revoked = True


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        return query_token(token_string, token_type_hint)

    def check_permission(self, token, client, req):
        return token.check_client(client)

    def introspect_token(self, token):
        out = {
            "active": True,
            "client_id": token.client.client_id,
            "token_type": "Bearer",
            "scope": token.scope,
            "iss": ISSUER,
            "exp": token.issued_at + token.expires_in,
            "iat": token.issued_at,
        }
        if token.user:
            out["sub"] = token.user.id
            out["username"] = token.user.name
        return out


class Issuer(IssuerParameter):
    """RFC 9207: Authlib's iss extension; the issuer is where this server listens."""

    def get_issuer(self):
        return request.host_url.rstrip("/")


def create_app():
    app = Flask(__name__)
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_SCOPES_SUPPORTED"] = sorted(SCOPES)
    server = AuthorizationServer(
        app, query_client=lambda cid: store.clients.get(cid), save_token=store.save_token
    )
    # The library's default. Authlib requires PKCE of public clients only (at the token endpoint),
    # so for these confidential clients it is optional: the target does not declare pkce_required.
    # RFC 9207 as a grant extension: as a server extension (register_extension) Authlib 1.9.10
    # registers a hook its authorization server never runs.
    server.register_grant(AuthorizationCodeGrant, [CodeChallenge(), Issuer()])
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)

    user = User("tokenconf-user-1", "tokenconf-user")

    @app.post("/oauth/token")
    def token():
        return server.create_token_response()

    @app.post("/oauth/revoke")
    def revoke():
        return server.create_endpoint_response(Revocation.ENDPOINT_NAME)

    @app.post("/oauth/introspect")
    def introspect():
        return server.create_endpoint_response(Introspection.ENDPOINT_NAME)

    @app.get("/.well-known/oauth-authorization-server")
    def metadata():
        # RFC 8414 §3: Authlib validates metadata (authlib.oauth2.rfc8414) but serves none; the
        # document lists what create_app registers. The issuer is where this server listens.
        issuer = request.host_url.rstrip("/")
        doc = AuthorizationServerMetadata({
            "issuer": issuer,
            "authorization_endpoint": issuer + "/oauth/authorize",
            "token_endpoint": issuer + "/oauth/token",
            "revocation_endpoint": issuer + "/oauth/revoke",
            "introspection_endpoint": issuer + "/oauth/introspect",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": Revocation.CLIENT_AUTH_METHODS,
            "introspection_endpoint_auth_methods_supported": Introspection.CLIENT_AUTH_METHODS,
            "code_challenge_methods_supported": ["S256", "plain"],
            "authorization_response_iss_parameter_supported": True,
            "scopes_supported": sorted(SCOPES),
        })
        doc.validate()
        return dict(doc)

    @app.get("/oauth/authorize")
    def authorize():
        # Without a test-only sign-in there is no user: Authlib's answer for the consent refused.
        return server.create_authorization_response(grant_user=None)

    @app.get("/test/authorize")
    def authorize_as_test_user():
        """TEST-ONLY: the fixed user approves at once; Authlib's own code redirect."""
        return server.create_authorization_response(request, grant_user=user)

    for cid, secret in [
        ("tokenconf-authlib-client", env("AUTHLIB_CLIENT_SECRET")),
        ("tokenconf-authlib-second", env("AUTHLIB_SECOND_CLIENT_SECRET")),
        # RFC 6749 §2.3.1: characters that form-encoding changes, in both id and secret.
        ("tokenconf special:client+1%", env("AUTHLIB_SPECIAL_CLIENT_SECRET")),
    ]:
        store.clients[cid] = Client(cid, secret)

    # The refresh token the target supplies to "a refresh token from the target refreshes".
    first = store.clients["tokenconf-authlib-client"]
    seed = Token(first, user, {
        "access_token": "tokenconf-authlib-seed-" + os.urandom(8).hex(),
        "refresh_token": env("AUTHLIB_REFRESH_TOKEN"),
        "scope": "read",
        "expires_in": 3600,
    })
    store.by_access[seed.access_token] = seed
    store.by_refresh[seed.refresh_token] = seed
    return app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--lifetime", type=float, default=300.0, help="seconds until it stops")
    args = parser.parse_args()

    server = make_server("127.0.0.1", args.port, create_app(), threaded=True)
    # Stops by itself, so a test that dies never leaves it running.
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
