"""`fapiao login | logout | whoami` and `fapiao admin principals | keys | sessions`: sessions for people, and the
administration of who may call the register. Clients and rich are imported when a command runs."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from .audit import _instant
from .examples import examples
from .lifecycle import _usage

ROLES = ("verifier", "taxpayer", "tax-officer", "auditor", "admin")


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    login = commands.add_parser(
        "login",
        help="log in with a password and a one-time code; keeps the session",
        **examples(
            "fapiao login --username alice", "fapiao login --username alice --password-stdin --code 123456 < pw"
        ),
    )
    common(login)
    login.add_argument("--username", help="your login name (asked for when not given)")
    login.add_argument("--code", metavar="TOTP", help="the 6-digit code of your authenticator app (asked for)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    login.set_defaults(handler=_login, command=login.prog)

    logout = commands.add_parser("logout", help="end the session and forget its tokens", **examples("fapiao logout"))
    common(logout)
    logout.set_defaults(handler=_logout, command=logout.prog)

    whoami = commands.add_parser(
        "whoami", help="the principal your credentials stand for", **examples("fapiao whoami", "fapiao whoami --json")
    )
    common(whoami)
    whoami.set_defaults(handler=_whoami, command=whoami.prog)

    admin = commands.add_parser(
        "admin",
        help="principals, logins, API keys and sessions (ADMIN)",
        **examples(
            "fapiao admin principals create acme --role taxpayer --tax-id 91110108MA01ABCD0B",
            'fapiao admin keys create acme --description "ERP"',
        ),
    )
    admin.set_defaults(handler=_usage(admin))
    groups = admin.add_subparsers(title="admin commands", metavar="COMMAND")
    _add_principal_commands(groups, common)
    _add_key_commands(groups, common)
    sessions = groups.add_parser("sessions", help="login sessions", **examples("fapiao admin sessions revoke acme"))
    sessions.set_defaults(handler=_usage(sessions))
    revoke = sessions.add_subparsers(title="sessions commands", metavar="COMMAND").add_parser(
        "revoke", help="end every session of a principal", **examples("fapiao admin sessions revoke acme")
    )
    common(revoke)
    revoke.add_argument("principal")
    revoke.set_defaults(handler=_revoke_sessions, command=revoke.prog)


def _coverage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tax-id", action="append", default=None, dest="tax_ids", help="a taxpayer's tax id (repeat)")
    parser.add_argument("--region", action="append", default=None, dest="regions", help="a 4-digit region (repeat)")
    parser.add_argument("--display-name")
    parser.add_argument("--rate-limit", type=float, metavar="PER_SECOND", help="requests/s across the fleet")
    parser.add_argument("--certificate-name", help="client certificate common name for mutual TLS")


def _add_principal_commands(groups: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    principals = groups.add_parser(
        "principals",
        help="who may call the register",
        **examples("fapiao admin principals list --role taxpayer", "fapiao admin principals get acme"),
    )
    principals.set_defaults(handler=_usage(principals))
    commands = principals.add_subparsers(title="principals commands", metavar="COMMAND")

    create = commands.add_parser(
        "create",
        help="a new principal",
        **examples(
            "fapiao admin principals create acme --role taxpayer --tax-id 91110108MA01ABCD0B --rate-limit 50",
            "fapiao admin principals create tibet-office --role tax-officer --region 5400",
        ),
    )
    common(create)
    create.add_argument("id")
    create.add_argument("--role", required=True, choices=ROLES)
    _coverage(create)
    create.set_defaults(handler=_create_principal, command=create.prog)

    listing = commands.add_parser(
        "list", help="principals, by id", **examples("fapiao admin principals list --role auditor --limit 0")
    )
    common(listing)
    listing.add_argument("--role", choices=ROLES)
    listing.add_argument("--limit", type=int, default=100, metavar="N", help="print at most N (0: all)")
    listing.set_defaults(handler=_list_principals, command=listing.prog)

    get = commands.add_parser("get", help="one principal", **examples("fapiao admin principals get acme --json"))
    common(get)
    get.add_argument("id")
    get.set_defaults(handler=_get_principal, command=get.prog)

    update = commands.add_parser(
        "update",
        help="change a principal; only the options given change",
        **examples(
            "fapiao admin principals update acme --disable   # its credentials stop working at once",
            "fapiao admin principals update acme --tax-id 91110108MA01ABCD0B --tax-id 91310101MA1FPX1234",
        ),
    )
    common(update)
    update.add_argument("id")
    update.add_argument("--role", choices=ROLES)
    _coverage(update)
    state = update.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_true", help="its credentials stop working at once")
    state.add_argument("--enable", action="store_true")
    update.set_defaults(handler=_update_principal, command=update.prog)

    login = commands.add_parser(
        "set-login",
        help="give a principal a password login (prints its TOTP secret)",
        **examples("fapiao admin principals set-login acme --username alice"),
    )
    common(login)
    login.add_argument("id")
    login.add_argument("--username", required=True)
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    login.set_defaults(handler=_set_login, command=login.prog)


def _add_key_commands(groups: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    keys = groups.add_parser(
        "keys", help="API keys of machine clients", **examples('fapiao admin keys create acme --description "ERP"')
    )
    keys.set_defaults(handler=_usage(keys))
    commands = keys.add_subparsers(title="keys commands", metavar="COMMAND")

    create = commands.add_parser(
        "create",
        help="a new API key (its secret is shown once)",
        **examples('fapiao admin keys create acme --description "ERP" --expires 2027-01-01'),
    )
    common(create)
    create.add_argument("principal")
    create.add_argument("--description", default="")
    create.add_argument("--expires", type=_instant, metavar="TIME", help="when it stops working (ISO 8601)")
    create.set_defaults(handler=_create_key, command=create.prog)

    listing = commands.add_parser("list", help="a principal's API keys", **examples("fapiao admin keys list acme"))
    common(listing)
    listing.add_argument("principal")
    listing.set_defaults(handler=_list_keys, command=listing.prog, limit=0)

    revoke = commands.add_parser(
        "revoke",
        help="revoke an API key: it stops working at once everywhere",
        **examples("fapiao admin keys revoke 42"),
    )
    common(revoke)
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_revoke_key, command=revoke.prog)


def _secret(prompt: str, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


# --- sessions -------------------------------------------------------------------------------------------------


def _login(options: argparse.Namespace) -> int:
    from ..access_client import AuthClient
    from ..credentials import StoredCredentials, default_credentials_path, write_credentials
    from .json_output import data_json, message_data
    from .session import run

    username = options.username or input("username: ").strip()
    password = _secret("password: ", options.password_stdin)
    code = options.code or input("one-time code: ").strip()

    def call(client: AuthClient) -> int:
        answer = client.login(username, password, code)
        tokens = answer.tokens
        path = default_credentials_path()
        write_credentials(
            path,
            StoredCredentials(
                target=options.target,
                access_token=tokens.access_token,
                access_token_expire_time=tokens.access_token_expire_time.ToJsonString(),
                refresh_token=tokens.refresh_token,
                principal_id=answer.principal.id,
            ),
        )
        if options.json:
            print(data_json({"principal": message_data(answer.principal), "credentials_file": str(path)}))
        else:
            role = answer.principal.role
            print(f"logged in as {answer.principal.id} ({_role_name(role)}); session kept in {path} (0600)")
        return 0

    return run(options, call, AuthClient)


def _logout(options: argparse.Namespace) -> int:
    from ..access_client import AuthClient
    from ..credentials import default_credentials_path
    from .json_output import data_json
    from .session import run

    def call(client: AuthClient) -> int:
        client.logout()
        path = default_credentials_path()
        path.unlink(missing_ok=True)
        print(data_json({"logged_out": True, "credentials_file": str(path)}) if options.json else "logged out")
        return 0

    return run(options, call, AuthClient)


def _whoami(options: argparse.Namespace) -> int:
    from ..access_client import AuthClient
    from .session import run, show

    def call(client: AuthClient) -> int:
        principal = client.caller()
        return show(options, principal, lambda console: console.print(_describe(principal), markup=False))

    return run(options, call, AuthClient)


def _role_name(role: int) -> str:
    from fapiao.v1 import access_pb2

    return access_pb2.Role.Name(role).removeprefix("ROLE_")


def _describe(principal: Any) -> str:
    parts = [f"{principal.id} ({_role_name(principal.role)})"]
    if principal.display_name:
        parts.append(principal.display_name)
    if principal.tax_ids:
        parts.append("tax ids " + ", ".join(principal.tax_ids))
    if principal.regions:
        parts.append("regions " + ", ".join(principal.regions))
    if principal.rate_limit:
        parts.append(f"{principal.rate_limit:g}/s")
    if principal.username:
        parts.append(f"login {principal.username}")
    if principal.certificate_name:
        parts.append(f"certificate {principal.certificate_name}")
    if principal.disabled:
        parts.append("DISABLED")
    return " - ".join(parts)


# --- principals -----------------------------------------------------------------------------------------------


def _changes(options: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("tax_ids", "regions", "display_name", "rate_limit", "certificate_name"):
        value = getattr(options, name)
        if value is not None:
            fields[name] = value
    if getattr(options, "role", None):
        fields["role"] = options.role
    return fields


def _create_principal(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .session import run, show

    def call(client: AdminClient) -> int:
        created = client.create_principal(options.id, **_changes(options))
        return show(options, created, lambda console: console.print(f"created {_describe(created)}", markup=False))

    return run(options, call, AdminClient)


def _list_principals(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .session import run, show_many

    def call(client: AdminClient) -> int:
        found = client.list_principals(
            options.role or 0, page_size=min(options.limit + 1, 1000) if options.limit else 0
        )
        return show_many(options, found, lambda shown: "\n".join(_describe(p) for p in shown), "principals")

    return run(options, call, AdminClient)


def _get_principal(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .session import run, show

    def call(client: AdminClient) -> int:
        found = client.get_principal(options.id)
        return show(options, found, lambda console: console.print(_describe(found), markup=False))

    return run(options, call, AdminClient)


def _update_principal(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .session import run, show

    fields = _changes(options)
    if options.disable or options.enable:
        fields["disabled"] = options.disable
    if not fields:
        print(f"{options.command}: name something to change", file=sys.stderr)
        return 2

    def call(client: AdminClient) -> int:
        updated = client.update_principal(options.id, **fields)
        return show(options, updated, lambda console: console.print(f"now {_describe(updated)}", markup=False))

    return run(options, call, AdminClient)


def _set_login(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .session import run, show

    password = _secret(f"password for {options.username}: ", options.password_stdin)

    def call(client: AdminClient) -> int:
        answer = client.set_login(options.id, options.username, password)

        def human(console: Any) -> None:
            console.print(f"{options.username} logs in as {options.id}; its sessions so far have ended.", markup=False)
            console.print(f"enrol this in an authenticator app (shown once):\n  {answer.totp_uri}", markup=False)

        return show(options, answer, human)

    return run(options, call, AdminClient)


def _revoke_sessions(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .json_output import data_json
    from .session import run

    def call(client: AdminClient) -> int:
        ended = client.revoke_sessions(options.principal)
        if options.json:
            print(data_json({"principal_id": options.principal, "sessions_ended": ended}))
        else:
            print(f"ended {ended} session(s) of {options.principal}")
        return 0

    return run(options, call, AdminClient)


# --- API keys -------------------------------------------------------------------------------------------------


def _describe_key(key: Any) -> str:
    state = "revoked" if key.HasField("revoke_time") else "active"
    expires = f", expires {key.expire_time.ToJsonString()}" if key.HasField("expire_time") else ""
    return f"{key.id} of {key.principal_id}: {state}{expires} - {key.description or 'no description'}"


def _create_key(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .session import run, show

    def call(client: AdminClient) -> int:
        answer = client.create_api_key(options.principal, options.description, options.expires)

        def human(console: Any) -> None:
            console.print(f"{_describe_key(answer.key)}\nits secret, shown once:", markup=False)
            console.print(answer.secret, markup=False, soft_wrap=True)

        return show(options, answer, human)

    return run(options, call, AdminClient)


def _list_keys(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .session import run, show_many

    def call(client: AdminClient) -> int:
        found = client.list_api_keys(options.principal)
        return show_many(options, found, lambda shown: "\n".join(_describe_key(k) for k in shown), "API keys")

    return run(options, call, AdminClient)


def _revoke_key(options: argparse.Namespace) -> int:
    from ..access_client import AdminClient
    from .session import run, show

    def call(client: AdminClient) -> int:
        key = client.revoke_api_key(options.key_id)
        return show(options, key, lambda console: console.print(_describe_key(key), markup=False))

    return run(options, call, AdminClient)
