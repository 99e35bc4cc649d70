#!/usr/bin/env python3
"""Build a real Django project database with known contents.

Used by the `portcullis import django` tests. Run it with the python of the
virtualenv made by ``setup.sh``::

    make_project.py --database /tmp/x/db.sqlite3 --out manifest.json \
        [--dumpdata dump.json] [--dumpdata-natural dump-natural.json]
    make_project.py --database postgres://postgres@127.0.0.1:15432/dbname \
        --out manifest.json

Django is configured in-process (``settings.configure``); no manage.py project
is needed. The script runs ``migrate`` and then creates users (one per
password hasher), groups, permissions, allauth email addresses, DRF tokens,
simplejwt outstanding/blacklisted refresh tokens and an allauth MFA TOTP
authenticator. Everything the Rust tests need to check is written to the
manifest (see README.md for its layout).

For SQLite an existing file at the given path is deleted first. For
PostgreSQL the database must already exist and hold no Django data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from urllib.parse import unquote, urlparse

SECRET_KEY = "django-insecure-portcullis-import-test-key-0123456789"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# Fixed TOTP secret (20 random-looking bytes, base32, no padding needed).
TOTP_SECRET = "JBSWY3DPEHPK3PXPGEZDGNBVGY3TQOJQ"

UTC = dt.timezone.utc
DATE_JOINED = dt.datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)
LAST_LOGIN = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
LAST_LOGIN_WHOLE = dt.datetime(2024, 6, 7, 8, 9, 10, tzinfo=UTC)

# username -> spec. Order matters: it fixes the auto-increment ids (1..N).
USERS = [
    dict(username="pbkdf2_user", password="pbkdf2-secret-1", hasher="pbkdf2_sha256",
         first_name="Pat", last_name="Kdf", last_login=LAST_LOGIN),
    dict(username="pbkdf2sha1_user", password="pbkdf2sha1-secret-2", hasher="pbkdf2_sha1"),
    dict(username="argon2_user", password="argon2-secret-3", hasher="argon2",
         last_login=LAST_LOGIN_WHOLE),
    dict(username="bcryptsha256_user", password="bcryptsha256-secret-4", hasher="bcrypt_sha256"),
    dict(username="bcrypt_user", password="bcrypt-secret-5", hasher="bcrypt"),
    dict(username="scrypt_user", password="scrypt-secret-6", hasher="scrypt",
         last_login=LAST_LOGIN),
    dict(username="unicode_user", password="pässwörd ✓ 1234", hasher="pbkdf2_sha256"),
    dict(username="unusable_user", password=None, hasher=None),
    dict(username="inactive_user", password="inactive-secret-9", hasher="pbkdf2_sha256",
         is_active=False),
    dict(username="staff_user", password="staff-secret-10", hasher="pbkdf2_sha256",
         is_staff=True),
    dict(username="admin_user", password="admin-secret-11", hasher="pbkdf2_sha256",
         is_staff=True, is_superuser=True, first_name="Ada", last_name="Min",
         last_login=LAST_LOGIN_WHOLE),
]

GROUPS = {
    "editors": ["auth.change_user", "auth.view_user"],
    "viewers": ["auth.view_user"],
}
MEMBERSHIPS = {
    "pbkdf2_user": ["editors"],
    "argon2_user": ["viewers", "editors"],
}
DIRECT_PERMISSIONS = {
    "staff_user": ["auth.delete_user"],
}
# (username, email, verified, primary)
EMAIL_ADDRESSES = [
    ("pbkdf2_user", "pbkdf2_user@example.com", True, True),
    ("pbkdf2_user", "pbkdf2_user.alt@example.com", True, False),
    ("argon2_user", "argon2_user@example.com", False, True),
]
DRF_TOKEN_USERS = ["pbkdf2_user", "bcrypt_user"]


def iso(value):
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def database_settings(database: str) -> tuple[dict, str]:
    """Return (DATABASES['default'], kind)."""
    if "://" in database:
        url = urlparse(database)
        if url.scheme not in ("postgres", "postgresql"):
            sys.exit(f"unsupported database URL scheme: {url.scheme!r}")
        return (
            {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": unquote(url.path.lstrip("/")),
                "USER": unquote(url.username or ""),
                "PASSWORD": unquote(url.password or ""),
                "HOST": url.hostname or "",
                "PORT": str(url.port or ""),
            },
            "postgresql",
        )
    return ({"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.abspath(database)}, "sqlite")


def configure(db: dict) -> None:
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS=["*"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        DATABASES={"default": db},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "rest_framework",
            "rest_framework.authtoken",
            "rest_framework_simplejwt.token_blacklist",
            "allauth",
            "allauth.account",
            "allauth.mfa",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "allauth.account.middleware.AccountMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        AUTHENTICATION_BACKENDS=[
            "django.contrib.auth.backends.ModelBackend",
            "allauth.account.auth_backends.AuthenticationBackend",
        ],
        PASSWORD_HASHERS=PASSWORD_HASHERS,
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "rest_framework.authentication.TokenAuthentication",
                "rest_framework_simplejwt.authentication.JWTAuthentication",
            ]
        },
        SIMPLE_JWT={
            "ALGORITHM": "HS256",
            "SIGNING_KEY": SECRET_KEY,
            "ACCESS_TOKEN_LIFETIME": dt.timedelta(minutes=5),
            "REFRESH_TOKEN_LIFETIME": dt.timedelta(days=30),
            "USER_ID_FIELD": "id",
            "USER_ID_CLAIM": "user_id",
        },
        MFA_SUPPORTED_TYPES=["totp", "recovery_codes"],
        LOGGING_CONFIG=None,
    )
    import django

    django.setup()


def ensure_empty_postgres() -> None:
    from django.db import connection

    if "auth_user" in connection.introspection.table_names():
        with connection.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM auth_user")
            (count,) = cur.fetchone()
        if count:
            sys.exit("target PostgreSQL database already has users; use an empty database")


def perm(codename_label: str):
    from django.contrib.auth.models import Permission

    app_label, codename = codename_label.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def self_check(users, refresh) -> None:
    """Fail loudly if the database does not behave the way the manifest says."""
    from django.contrib.auth.hashers import check_password
    from rest_framework_simplejwt.exceptions import TokenError
    from rest_framework_simplejwt.tokens import RefreshToken

    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, validate_totp_code

    for spec in USERS:
        user = users[spec["username"]]
        user.refresh_from_db()
        if spec["password"] is None:
            assert not user.has_usable_password(), spec
        else:
            assert check_password(spec["password"], user.password), spec
            assert not check_password(spec["password"] + "x", user.password), spec
            assert user.password.startswith(spec["hasher"] + "$"), (spec, user.password)
    for r in refresh:
        try:
            RefreshToken(r["token"])  # verifies signature, exp and the blacklist
            ok = True
        except TokenError:
            ok = False
        assert ok == (not r["blacklisted"] and not r["expired"]), r
    auth = Authenticator.objects.get(user=users["scrypt_user"], type="totp")
    import time

    code = format_hotp_value(hotp_value(auth.data["secret"], int(time.time()) // 30))
    assert validate_totp_code(TOTP_SECRET, code)


def build(args) -> dict:
    import django
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import get_hasher, make_password
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP
    from allauth.mfa.utils import encrypt
    from rest_framework.authtoken.models import Token
    from rest_framework_simplejwt.token_blacklist.models import (
        BlacklistedToken,
        OutstandingToken,
    )
    from rest_framework_simplejwt.tokens import RefreshToken
    from rest_framework_simplejwt.utils import datetime_from_epoch

    call_command("migrate", interactive=False, verbosity=0)

    User = get_user_model()
    users = {}
    for spec in USERS:
        user = User(
            username=spec["username"],
            email=f"{spec['username']}@example.com",
            first_name=spec.get("first_name", ""),
            last_name=spec.get("last_name", ""),
            is_active=spec.get("is_active", True),
            is_staff=spec.get("is_staff", False),
            is_superuser=spec.get("is_superuser", False),
            date_joined=DATE_JOINED,
            last_login=spec.get("last_login"),
        )
        if spec["password"] is None:
            user.set_unusable_password()
        else:
            user.password = make_password(spec["password"], hasher=spec["hasher"])
        user.save()
        users[spec["username"]] = user

    for name, perms in GROUPS.items():
        group = Group.objects.create(name=name)
        group.permissions.set([perm(p) for p in perms])
    for username, group_names in MEMBERSHIPS.items():
        users[username].groups.set([Group.objects.get(name=g) for g in group_names])
    for username, perms in DIRECT_PERMISSIONS.items():
        users[username].user_permissions.set([perm(p) for p in perms])

    for username, email, verified, primary in EMAIL_ADDRESSES:
        EmailAddress.objects.create(
            user=users[username], email=email, verified=verified, primary=primary
        )

    drf_tokens = {}
    for username in DRF_TOKEN_USERS:
        drf_tokens[username] = Token.objects.create(user=users[username]).key

    # simplejwt refresh tokens (for_user() records an OutstandingToken row).
    refresh = []
    for username, blacklist in [
        ("pbkdf2_user", False),
        ("pbkdf2_user", True),
        ("argon2_user", False),
    ]:
        token = RefreshToken.for_user(users[username])
        if blacklist:
            token.blacklist()
        refresh.append(dict(username=username, token=str(token), jti=token["jti"],
                            blacklisted=blacklist, expired=False, exp=token["exp"]))
    # An already-expired outstanding token: issued 40 days ago, 30-day lifetime.
    token = RefreshToken()
    token["user_id"] = str(users["bcrypt_user"].pk)
    issued = token.current_time - dt.timedelta(days=40)
    token.set_iat(at_time=issued)
    token.set_exp(from_time=issued)
    OutstandingToken.objects.create(
        user=users["bcrypt_user"], jti=token["jti"], token=str(token),
        created_at=issued, expires_at=datetime_from_epoch(token["exp"]),
    )
    refresh.append(dict(username="bcrypt_user", token=str(token), jti=token["jti"],
                        blacklisted=False, expired=True, exp=token["exp"]))

    # allauth MFA: TOTP (+ recovery codes) for scrypt_user, via allauth's API.
    totp = TOTP.activate(users["scrypt_user"], TOTP_SECRET)
    stored_secret = totp.instance.data["secret"]
    recovery = RecoveryCodes.activate(users["scrypt_user"])

    if args.dumpdata:
        call_command("dumpdata", "contenttypes", "auth", "authtoken", "token_blacklist",
                     "account", "mfa", "--indent", "2", output=args.dumpdata)
    if args.dumpdata_natural:
        call_command("dumpdata", "contenttypes", "auth", "authtoken", "token_blacklist",
                     "account", "mfa", "--indent", "2", "--natural-foreign",
                     "--natural-primary", output=args.dumpdata_natural)

    # ---- manifest -------------------------------------------------------
    verified_emails = {
        (e.user_id, e.email.lower()) for e in EmailAddress.objects.filter(verified=True)
    }
    blacklisted_jtis = set(BlacklistedToken.objects.values_list("token__jti", flat=True))
    for r in refresh:
        assert (r["jti"] in blacklisted_jtis) == r["blacklisted"], r

    self_check(users, refresh)

    spec_by_name = {s["username"]: s for s in USERS}
    manifest_users = []
    for user in User.objects.order_by("id"):
        user.refresh_from_db()
        spec = spec_by_name[user.username]
        direct = sorted(
            f"{p.content_type.app_label}.{p.codename}" for p in user.user_permissions.all()
        )
        via_groups = sorted(
            {
                f"{p.content_type.app_label}.{p.codename}"
                for g in user.groups.all()
                for p in g.permissions.all()
            }
        )
        usable = user.has_usable_password()
        manifest_users.append(
            dict(
                id=user.pk,
                username=user.username,
                email=user.email,
                first_name=user.first_name,
                last_name=user.last_name,
                password=spec["password"],
                password_hash=user.password,
                has_usable_password=usable,
                hasher=user.password.split("$", 1)[0] if usable else None,
                is_active=user.is_active,
                is_staff=user.is_staff,
                is_superuser=user.is_superuser,
                groups=sorted(g.name for g in user.groups.all()),
                permissions=direct,
                group_permissions=via_groups,
                effective_permissions=sorted(set(direct) | set(via_groups)),
                email_verified=(user.pk, user.email.lower()) in verified_emails,
                date_joined=iso(user.date_joined),
                last_login=iso(user.last_login),
            )
        )

    return dict(
        django_version=django.get_version(),
        database=args.database,
        database_engine=args.kind,
        secret_key=SECRET_KEY,
        password_hashers=[h.rsplit(".", 1)[1] for h in PASSWORD_HASHERS],
        pbkdf2_sha256_iterations=get_hasher("pbkdf2_sha256").iterations,
        users=manifest_users,
        groups={name: sorted(p) for name, p in GROUPS.items()},
        email_addresses=[
            dict(username=u, email=e, verified=v, primary=p) for u, e, v, p in EMAIL_ADDRESSES
        ],
        drf_tokens=drf_tokens,
        jwt=dict(
            algorithm="HS256",
            signing_key=SECRET_KEY,
            user_id_claim="user_id",
            user_id_type="string",
            token_type_claim="token_type",
            jti_claim="jti",
            refresh_token_lifetime_seconds=30 * 24 * 3600,
        ),
        refresh_tokens=refresh,
        totp=dict(
            username="scrypt_user",
            secret=TOTP_SECRET,
            stored_secret=stored_secret,
            encrypted=stored_secret != TOTP_SECRET,
            encrypt_is_identity=encrypt(TOTP_SECRET) == TOTP_SECRET,
            digits=6,
            period=30,
            algorithm="SHA1",
        ),
        recovery_codes=dict(
            username="scrypt_user",
            seed=recovery.instance.data["seed"],
            codes=recovery.generate_codes(),
        ),
        mfa_authenticator_types=sorted(
            Authenticator.objects.values_list("type", flat=True)
        ),
        dumpdata=(
            dict(path=args.dumpdata, natural_keys=False,
                 apps=["contenttypes", "auth", "authtoken", "token_blacklist", "account", "mfa"])
            if args.dumpdata else None
        ),
        dumpdata_natural=(
            dict(path=args.dumpdata_natural, natural_keys=True,
                 flags=["--natural-foreign", "--natural-primary"],
                 apps=["contenttypes", "auth", "authtoken", "token_blacklist", "account", "mfa"])
            if args.dumpdata_natural else None
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True,
                        help="SQLite file path or postgres://user[:pw]@host:port/dbname")
    parser.add_argument("--out", required=True, help="manifest JSON output path")
    parser.add_argument("--dumpdata", help="also write dumpdata JSON (plain pks) here")
    parser.add_argument("--dumpdata-natural",
                        help="also write dumpdata JSON with --natural-foreign --natural-primary")
    args = parser.parse_args()

    db, args.kind = database_settings(args.database)
    if args.kind == "sqlite" and os.path.exists(db["NAME"]):
        os.remove(db["NAME"])
    configure(db)
    if args.kind == "postgresql":
        ensure_empty_postgres()

    manifest = build(args)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print(f"wrote {args.out} ({len(manifest['users'])} users, {args.kind})", file=sys.stderr)


if __name__ == "__main__":
    main()
