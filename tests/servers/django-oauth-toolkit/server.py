"""django-oauth-toolkit on 127.0.0.1, for tests/servers.rs only.

    python server.py [--port N] [--lifetime SECONDS]

Registers test-only clients, scopes, a user and a refresh token (secrets from the environment, see
targets.yaml), prints "listening on http://127.0.0.1:PORT" and serves until --lifetime has passed.
Everything here is the unmodified toolkit except two test-only additions, both marked TEST-ONLY.
/o/authorize/ is the toolkit's own: Django's LoginView (django.contrib.auth) signs the user in at
/accounts/login/, then the toolkit's consent page asks to authorize (tests/it/browser_login.rs logs
in through both in headless Chromium).
"""

import argparse
import os
import socket
import sys
import tempfile
import threading
from datetime import timedelta
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

import django
from django.conf import settings

REDIRECT_URI = "https://client.tokenconf.invalid/cb"

# Django ships LoginView but no template for it: a plain one, as a project would write.
LOGIN_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in</title></head>
<body><h1>Log in</h1>
<form method="post" action="">{% csrf_token %}
{{ form.as_p }}
<input type="hidden" name="next" value="{{ next }}">
<button type="submit" id="log-in">Log in</button>
</form></body></html>
"""


def env(name):
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"django-oauth-toolkit launcher: environment variable {name} is not set")
    return value


def configure(db_path):
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tokenconf-test-only-django-key",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF="__main__",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "oauth2_provider",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "loaders": [
                        ("django.template.loaders.locmem.Loader", {"registration/login.html": LOGIN_TEMPLATE}),
                        "django.template.loaders.app_directories.Loader",
                    ],
                    "context_processors": ["django.template.context_processors.request"],
                },
            }
        ],
        STATIC_URL="/static/",
        LOGIN_URL="/accounts/login/",
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
        ],
        # Requests come in parallel: wait for SQLite's lock instead of failing with "database is locked".
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": db_path,
                "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
            }
        },
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast; test-only
        USE_TZ=True,
        LOGGING_CONFIG=None,
        OAUTH2_PROVIDER={
            "SCOPES": {"read": "Read", "write": "Write"},
            # PKCE_REQUIRED is left at the library's default (required): the suites send S256 on
            # every code flow, and the target declares pkce_required.
            "ROTATE_REFRESH_TOKEN": True,
            "REFRESH_TOKEN_REUSE_PROTECTION": True,
        },
    )
    django.setup()


def authorize_as_test_user(request):
    """TEST-ONLY: sign the fixed user in, then answer with the toolkit's own authorize view as
    its consent form's "Authorize" button would (the clients ask for consent at /o/authorize/)."""
    from django.contrib.auth import get_user_model, login
    from oauth2_provider.views import AuthorizationView

    user = get_user_model().objects.get(username="tokenconf-user")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if request.method == "GET":
        approved = request.GET.copy()
        approved["allow"] = "Authorize"
        request.method = "POST"
        request.POST = approved
    return AuthorizationView.as_view()(request)


def urls():
    from django.contrib.auth.views import LoginView
    from django.urls import include, path
    import oauth2_provider.urls as dot

    return [
        path("accounts/login/", LoginView.as_view()),
        path("o/", include((dot.base_urlpatterns, "oauth2_provider"))),
        path("", include((dot.metadata_urlpatterns, "metadata"))),
        path("test/authorize/", authorize_as_test_user),
    ]


def register():
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application, RefreshToken

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("tokenconf-user", password=env("DOT_USER_PASSWORD"))

    # TEST-ONLY: the toolkit binds one grant type to an application, but suites/oauth2 uses one
    # client for client credentials and the code flow. Our clients allow exactly those two (so the
    # password grant stays refused); other applications keep the toolkit's own rule.
    both = {Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_CLIENT_CREDENTIALS}
    own_rule = Application.allows_grant_type

    def allows_grant_type(self, *grant_types):
        if self.name.startswith("tokenconf"):
            return bool(both.intersection(grant_types))
        return own_rule(self, *grant_types)

    Application.allows_grant_type = allows_grant_type

    def client(client_id, secret):
        return Application.objects.create(
            name=f"tokenconf {client_id}",
            client_id=client_id,
            client_secret=secret,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
            redirect_uris=REDIRECT_URI,
            # The consent page shows at /o/authorize/ (the browser login clicks Authorize).
            skip_authorization=False,
            user=user,
        )

    first = client("tokenconf-dot-client", env("DOT_CLIENT_SECRET"))
    client("tokenconf-dot-second", env("DOT_SECOND_CLIENT_SECRET"))
    # RFC 6749 §2.3.1: characters that form-encoding changes, in both id and secret.
    client("tokenconf special:client+1%", env("DOT_SPECIAL_CLIENT_SECRET"))

    # The refresh token the target supplies to "a refresh token from the target refreshes".
    access = AccessToken.objects.create(
        user=user,
        application=first,
        token="tokenconf-dot-seed-access-" + os.urandom(8).hex(),
        expires=timezone.now() + timedelta(hours=1),
        scope="read",
    )
    RefreshToken.objects.create(
        user=user, application=first, token=env("DOT_REFRESH_TOKEN"), access_token=access
    )


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--lifetime", type=float, default=300.0, help="seconds until it stops")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="tokenconf-dot-")
    configure(os.path.join(workdir, "db.sqlite3"))
    global urlpatterns
    urlpatterns = urls()  # ROOT_URLCONF is this module
    register()

    from django.core.wsgi import get_wsgi_application

    server = make_server(
        "127.0.0.1", args.port, get_wsgi_application(),
        server_class=ThreadingServer, handler_class=QuietHandler,
    )
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Stops by itself, so a test that dies never leaves it running.
    timer = threading.Timer(args.lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
    server.server_close()


urlpatterns = []

if __name__ == "__main__":
    main()
