"""``pedpain users``: web app accounts (create, role, disable, password, API tokens)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer

from pedpain.cli.common import GROUP_EXIT_CODES, print_json, settings_of
from pedpain.core.errors import UsageError

app = typer.Typer(
    help=("Accounts of the web app: admin, researcher, rater, nurse. " + GROUP_EXIT_CODES),
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print one JSON document.")


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read {password_file}: {exc.strerror}") from None
        return text.rstrip("\r\n")
    if not sys.stdin.isatty():
        # A pipe: the first line is the password (never a command-line argument).
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise UsageError("the two passwords differ")
    return first


def _actor() -> str:
    from pedpain.store.audit import current_actor

    return f"cli:{current_actor()}"


@app.command("create")
def create(
    ctx: typer.Context,
    username: str = typer.Argument(..., help="Lower-case user name."),
    role: str = typer.Option(..., "--role", help="admin, researcher, rater or nurse."),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Read the password from this file (else a prompt)."
    ),
    as_json: bool = JSON,
) -> None:
    """Create an account (the password is prompted for, read from --password-file, or
    read from a pipe; never given on the command line).

    Exit codes: 0 created; 1 bug; 2 bad usage (name taken, role, weak password); 4
    environment problem (database).

    \b
    Examples:
      pedpain users create --role admin alice
      pedpain users create --role nurse bob --password-file pw.txt
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import check_password, check_role, check_username, create_user

    name, role = check_username(username), check_role(role)
    with open_store(settings_of(ctx), actor=_actor()) as store:
        password = check_password(_password(password_file))
        create_user(store, name, role, password, actor=store.actor)
    if as_json:
        print_json({"username": name, "role": role, "created": True})
    else:
        typer.echo(f"created {role} {name}")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List accounts.

    Exit codes: 0 listed; 1 bug; 2 bad usage; 4 environment problem (database).

    \b
    Examples:
      pedpain users list --json
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import list_users

    with open_store(settings_of(ctx), actor=_actor()) as store:
        users = [
            {"username": u.username, "role": u.role, "active": u.active} for u in list_users(store)
        ]
    if as_json:
        print_json(users)
    else:
        for u in users:
            typer.echo(f"{u['username']}\t{u['role']}\t{'active' if u['active'] else 'disabled'}")


@app.command("set")
def set_(
    ctx: typer.Context,
    username: str = typer.Argument(...),
    role: str | None = typer.Option(None, "--role", help="New role."),
    disable: bool = typer.Option(False, "--disable", help="Disable the account."),
    enable: bool = typer.Option(False, "--enable", help="Enable the account."),
    password: bool = typer.Option(False, "--password", help="Set a new password (prompt)."),
    password_file: Path | None = typer.Option(None, "--password-file"),
) -> None:
    """Change an account's role, state or password (ends its sessions). The last active
    admin cannot be disabled or demoted (the same rule as the admin page, where an admin
    also cannot lock themselves out): create another admin first.

    Exit codes: 0 changed; 2 unknown user or role, last active admin, short password.

    Exit codes: 0 changed; 1 bug; 2 bad usage (unknown account, role, weak password); 4
    environment problem (database).

    \b
    Examples:
      pedpain users set bob --role rater
      pedpain users set bob --disable
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import update_user

    if disable and enable:
        raise UsageError("--disable and --enable exclude each other")
    new_password = _password(password_file) if (password or password_file) else None
    active = False if disable else True if enable else None
    with open_store(settings_of(ctx), actor=_actor()) as store:
        update_user(
            store, username, actor=store.actor, role=role, active=active, password=new_password
        )
    typer.echo(f"updated {username}")


@app.command("token")
def token(
    ctx: typer.Context,
    username: str = typer.Argument(...),
    name: str = typer.Option("api", "--name", help="What the token is for."),
    expires_days: float | None = typer.Option(
        None, "--expires-days", help="Valid for this many days (default: until revoked)."
    ),
    as_json: bool = JSON,
) -> None:
    """Make an API bearer token for USERNAME (same role); printed once, stored hashed.
    A password change or disabling the account revokes it for good.

    Exit codes: 0 token printed; 1 bug; 2 bad usage (unknown or disabled account); 4
    environment problem (database).

    \b
    Examples:
      pedpain users token bob --name ward-tablet --expires-days 90
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/me
    \b
    Exit codes: 0 made, 2 no such user / disabled / bad expiry, 4 database unreachable.
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import create_token

    with open_store(settings_of(ctx), actor=_actor()) as store:
        value = create_token(store, username, name, actor=store.actor, expires_days=expires_days)
    if as_json:
        print_json({"username": username, "name": name, "token": value})
    else:
        typer.echo(value)


@app.command("tokens")
def tokens(
    ctx: typer.Context,
    username: str | None = typer.Argument(None, help="Only this user's tokens."),
    as_json: bool = JSON,
) -> None:
    """List API tokens (id, owner, name, created, last used, expiry, state); the secrets
    themselves are never stored and cannot be shown.

    \b
    Examples:
      pedpain users tokens
      pedpain users tokens bob --json
    \b
    Exit codes: 0 listed, 2 no such user, 4 database unreachable.
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import list_tokens

    with open_store(settings_of(ctx), actor=_actor()) as store:
        rows = [t.to_dict() for t in list_tokens(store, username)]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['id']}\t{r['username']}\t{r['name']}\t{r['state']}\t"
            f"created {r['created_at']}\tlast used {r['last_used_at'] or '-'}\t"
            f"expires {r['expires_at'] or '-'}"
        )


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: int = typer.Argument(..., help="The token's id (see `pedpain users tokens`)."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the audit log)."),
    as_json: bool = JSON,
) -> None:
    """Revoke an API token for good (audited).

    \b
    Examples:
      pedpain users revoke 7 --reason "tablet lost"
    \b
    Exit codes: 0 revoked, 2 no such token or already revoked, 4 database unreachable.
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import revoke_token

    with open_store(settings_of(ctx), actor=_actor()) as store:
        info = revoke_token(store, token_id, actor=store.actor, reason=reason)
    if as_json:
        print_json(info.to_dict())
    else:
        typer.echo(f"revoked token {info.id} ({info.name}) of {info.username}")
