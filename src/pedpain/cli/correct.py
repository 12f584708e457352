"""``pedpain correct``: corrections of recorded study data, each with a reason; the old
value, the new one, who and when are kept (``pedpain correct list``). The same rules as
the web app's correction pages (:mod:`pedpain.study.corrections`)."""

from __future__ import annotations

import typer

from pedpain.cli.common import GROUP_EXIT_CODES, print_json, settings_of

app = typer.Typer(
    help="Correct enrolment fields, void or move sessions, amend a rating (audited). "
    + GROUP_EXIT_CODES,
    no_args_is_help=True,
)
REASON = typer.Option(..., "--reason", help="Why (required; kept with the correction).")
ACTOR = typer.Option(
    None, "--actor", help="Who is correcting, for the audit trail (default: the OS user)."
)
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def _actor(actor: str | None) -> str:
    from pedpain.store.audit import current_actor

    return actor or f"cli:{current_actor()}"


@app.command("subject")
def subject(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="The child's pseudonymous code."),
    field: str = typer.Option(..., "--field", help="age, sex, group, surgery_type, ..."),
    value: str = typer.Option(..., "--value", help="The correct value (age like 4y6m)."),
    reason: str = REASON,
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Correct one enrolment field of a child (a wrong age means a wrong scale).

    Exit codes: 0 corrected; 2 bad field or value, unknown child, no change.

    \b
    Examples:
      pedpain correct subject OAPC-007 --field age --value 4y6m --reason "typed 6y4m"
    """
    from pedpain.store import open_store
    from pedpain.study.corrections import correct_subject

    with open_store(settings_of(ctx), actor=_actor(actor)) as store:
        doc = correct_subject(store, code, field, value, reason)
    if as_json:
        print_json({"subject": code, **doc})
        return
    typer.echo(f"{code}: {doc['field']} {doc['old']!r} -> {doc['new']!r}")


@app.command("void")
def void(
    ctx: typer.Context,
    session: str = typer.Argument(..., help="The session's code."),
    reason: str = REASON,
    actor: str | None = ACTOR,
) -> None:
    """Void a session: kept (with who, when, why) but excluded from counts, queues,
    statistics and exports, which list it in voided.csv.

    Exit codes: 0 voided; 2 unknown or already voided session, no reason.

    \b
    Examples:
      pedpain correct void OAPC-007-T2 --reason "photos of another child"
    """
    from pedpain.store import open_store
    from pedpain.study.corrections import void_session

    with open_store(settings_of(ctx), actor=_actor(actor)) as store:
        void_session(store, session, reason)
    typer.echo(f"{session}: voided")


@app.command("move")
def move(
    ctx: typer.Context,
    session: str = typer.Argument(..., help="The session's code."),
    to: str = typer.Option(..., "--to", help="The right child's code."),
    reason: str = REASON,
    actor: str | None = ACTOR,
) -> None:
    """File a session under the right child.

    Exit codes: 0 moved; 2 unknown session or child, same child, no reason.

    \b
    Examples:
      pedpain correct move OAPC-007-T2 --to OAPC-008 --reason "filed under the wrong child"
    """
    from pedpain.store import open_store
    from pedpain.study.corrections import move_session

    with open_store(settings_of(ctx), actor=_actor(actor)) as store:
        move_session(store, session, to, reason)
    typer.echo(f"{session}: now under {to}")


@app.command("rating")
def rating(
    ctx: typer.Context,
    session: str = typer.Argument(..., help="The session's code."),
    rater: str = typer.Option(..., "--rater", help="The rater whose own score is amended."),
    score: str = typer.Option(..., "--score", help="The corrected score on the child's scale."),
    reason: str = REASON,
) -> None:
    """Amend a rater's own score while the session's set of 3 ratings is incomplete
    (the audit records the rater as the one correcting).

    Exit codes: 0 amended; 2 no such rating, set complete, bad score, no reason.

    \b
    Examples:
      pedpain correct rating OAPC-007-T2 --rater R02 --score 4 --reason "typed 7"
    """
    from pedpain.store import open_store
    from pedpain.study.ratings import amend_rating
    from pedpain.study.sessions import find_session

    with open_store(settings_of(ctx), actor=rater) as store:
        amend_rating(store, find_session(store, session), rater, score, reason, text=True)
    typer.echo(f"{session}: {rater}'s score is now {score}")


@app.command("list")
def list_(
    ctx: typer.Context,
    code: str | None = typer.Argument(None, help="Only this child's corrections."),
    as_json: bool = JSON,
) -> None:
    """The corrections made so far: when, who, what, old and new value, why.

    Exit codes: 0 listed; 2 no such child; 4 database unreachable.

    \b
    Examples:
      pedpain correct list
      pedpain correct list OAPC-007 --json
    """
    from pedpain.store import open_store
    from pedpain.study.corrections import list_corrections

    with open_store(settings_of(ctx)) as store:
        rows = list_corrections(store, code)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        typer.echo(
            f"{r['at']} {r['actor']} {r['entity']} {r['key']} {r['field']}: "
            f"{r['old']!r} -> {r['new']!r} ({r['reason']})"
        )
    if not rows:
        typer.echo("no corrections")
