"""``pedpain users``: web app accounts (create, role, disable, password, API tokens)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import typer

from pedpain.cli.common import print_json, settings_of
from pedpain.core.errors import UsageError

app = typer.Typer(
    help="Accounts of the web app: admin, researcher, rater, nurse.", no_args_is_help=True
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
    as_json: bool = JSON,
) -> None:
    """Make an API bearer token for USERNAME (same role); printed once, stored hashed.

    \b
    Examples:
      pedpain users token bob --name ward-tablet
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/me
    """
    from pedpain.store import open_store
    from pedpain.study.accounts import create_token

    with open_store(settings_of(ctx), actor=_actor()) as store:
        value = create_token(store, username, name, actor=store.actor)
    if as_json:
        print_json({"username": username, "name": name, "token": value})
    else:
        typer.echo(value)
