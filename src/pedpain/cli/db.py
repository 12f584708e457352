"""``pedpain db ...``: the OAPC-FEI research database."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from pedpain import DISCLAIMER
from pedpain.cli.common import GROUP_EXIT_CODES, print_json, settings_of
from pedpain.core.errors import InputsRejected
from pedpain.store import (
    MediaKey,
    collect_stats,
    export_manifest,
    import_cohort,
    open_store,
    rotate_key,
    subject_timeline,
    verify_store,
    withdraw_subject,
    write_new_key,
)
from pedpain.store.engine import database_url, make_engine, migrate, redact

app = typer.Typer(
    help=(
        "The OAPC-FEI research database: consented children, sessions, encrypted media, "
        "ratings, audit. SQLite in PEDPAIN_HOME by default; PostgreSQL with "
        "PEDPAIN_DATABASE_URL. Media keys: PEDPAIN_KEY_FILE or PEDPAIN_MEDIA_KEY.\n\n"
        + GROUP_EXIT_CODES
        + "\n\n"
        "\b\nExamples:\n  pedpain db init\n  pedpain db import cohort/\n  pedpain db stats --json"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

ACTOR = typer.Option(
    None, "--actor", help="Who is doing this, for the audit log (default: the OS user)."
)
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout.")
MAX_SHOWN = 50


def _echo_err(text: str) -> None:
    sys.stderr.write(text + "\n")


@app.command("init")
def init(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Create the database, or upgrade its schema to this version of pedpain.

    Exit codes: 0 database ready; 1 bug; 2 bad usage or settings; 4 environment problem
    (database unreachable or newer than pedpain).

    \b
    Examples:
      pedpain db init
      PEDPAIN_DATABASE_URL=postgresql://pedpain@db.example/oapc pedpain db init
    """
    url = database_url(settings_of(ctx))
    engine = make_engine(url)
    try:
        before, after = migrate(engine)
    finally:
        engine.dispose()
    doc = {"database": redact(url), "schema_before": before, "schema": after}
    doc["action"] = "created" if before is None else "up_to_date" if before == after else "upgraded"
    if as_json:
        print_json(doc)
        return
    typer.echo(f"Database {doc['database']}: {doc['action']} (schema {after}).")


@app.command("import")
def import_(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="An OAPC-FEI import folder (cohort.json, CSVs)."),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit log."),
    batch: int = typer.Option(200, "--batch", min=1, help="Subjects per transaction."),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Import an OAPC-FEI folder; rerun to finish a killed import (nothing is duplicated).

    Rows that break a rule are reported as FILE:LINE and left out (exit code 3); the good
    rows still go in. Ineligible children go to the screening log.

    Exit codes: 0 everything imported; 1 bug; 2 bad usage; 3 some children or files rejected
    (listed); 4 environment problem (database, media key).

    \b
    Examples:
      pedpain db import phantom-cohort/
      pedpain db import /mnt/export/site-a --reason "monthly upload" --json
    """
    with open_store(settings_of(ctx), actor=actor) as store:
        report = import_cohort(store, folder, reason=reason, batch=batch)
    for err in report.errors[:MAX_SHOWN]:
        _echo_err(f"rejected: {err}")
    if len(report.errors) > MAX_SHOWN:
        _echo_err(f"... and {len(report.errors) - MAX_SHOWN} more (see --json)")
    if as_json:
        print_json(report.to_dict())
    else:
        added = report.added
        typer.echo(
            f"Imported {report.source}{' (SYNTHETIC)' if report.synthetic else ''}: "
            f"{report.subjects_added} new subjects, {report.subjects_updated} updated, "
            f"{report.subjects_unchanged} unchanged; {report.screening_rejections} screened "
            f"out; {report.withdrawn} withdrawn."
        )
        typer.echo(
            f"Added {added['sessions']} sessions, {added['media']} media "
            f"({report.media_files_written} files encrypted), {added['ratings']} ratings, "
            f"{added['self_reports']} self-reports, {added['analgesics']} analgesic records "
            f"in {report.seconds:.1f} s."
        )
        for code, n in sorted(report.warnings.items()):
            typer.echo(f"warning: {code}: {n}")
    if report.errors:
        raise InputsRejected(f"{len(report.errors)} row(s) rejected; the other rows were imported")


@app.command("stats")
def stats(ctx: typer.Context, actor: str | None = ACTOR, as_json: bool = JSON) -> None:
    """Counts, screening rejections, labels and inter-rater reliability (ICC).

    The ICC's model follows the design: two-way (ICC(2,k)) when the same raters scored
    every session, one-way (ICC(1,k), Shrout & Fleiss case 1) when raters vary; every
    session with at least 2 ratings counts.

    Exit codes: 0 printed; 1 bug; 2 bad usage; 4 environment problem (database).

    \b
    Examples:
      pedpain db stats
      pedpain db stats --json
    """
    with open_store(settings_of(ctx), actor=actor) as store:
        doc = collect_stats(store)
    if as_json:
        print_json(doc)
        return
    s, sc, se, m, rel = (
        doc["subjects"],
        doc["screening"],
        doc["sessions"],
        doc["media"],
        doc["reliability"],
    )
    typer.echo(f"Database {doc['database']}{' (SYNTHETIC data)' if doc['synthetic'] else ''}")
    typer.echo(f"Subjects enrolled: {s['enrolled']} {s['by_group']}; withdrawn: {doc['withdrawn']}")
    typer.echo(f"Screened: {sc['screened']}, rejected: {sc['rejected']} {sc['by_reason']}")
    typer.echo(
        f"Sessions: {se['total']} {se['by_time_point']}; with their 3 ratings: "
        f"{se['with_3_ratings']}, pending: {se['pending_ratings']}; need adjudication: "
        f"{se['needs_adjudication']}, adjudicated: {se['adjudicated']}; voided: {se['voided']}"
    )
    typer.echo(
        f"Media: {m['photos']} photos ({m['photos_below_20mp']} below 20 MP), {m['videos']} videos"
    )
    typer.echo(f"Ratings: {doc['ratings']['total']}; self-reports: {doc['self_reports']}")
    icc = rel["icc_k"]
    if icc is None:
        typer.echo("Inter-rater reliability: not enough rated sessions")
    else:
        ci = rel["icc_k_ci95"]
        interval = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "(no interval)"
        typer.echo(
            f"Inter-rater reliability {rel['icc']} = {icc:.4f} {interval} (k = {rel['k']:.2f}) "
            f"over {rel['n_sessions']} sessions, {rel['n_raters']} raters ({rel['design']})"
        )
        typer.echo(f"  model: {rel['model_label']}; method: {rel['method_label']}")
        for r in rel["per_rater"][:20]:
            typer.echo(f"  rater {r['rater']}: n={r['n']} bias {r['bias']:+.2f}")
    for warning in rel["warnings"]:
        typer.echo(f"  reliability warning: {warning}")
    typer.echo(DISCLAIMER)


@app.command("export-cohort")
def export_cohort_cmd(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder to write (an earlier one is replaced)."),
    include_deviations: bool = typer.Option(
        False,
        "--include-deviations",
        help="Also write sessions outside the protocol's 6-48 h window (left out by default).",
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit log."),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Write the database in the import layout (cohort.json, subjects.csv, sessions.csv,
    media.csv, ratings.csv, ... and decrypted media), the folder `pedpain db import`
    reads: a cohort entered in the web app re-imports unchanged elsewhere. Voided
    sessions are listed in voided.csv, not exported. Decrypted media: audited and
    registered for withdrawal.

    Exit codes: 0 written; 2 --out is something else; 4 database or key problem.

    \b
    Examples:
      pedpain db export-cohort --out site-a-cohort/
      pedpain db import site-a-cohort/
    """
    from pedpain.store.cohort_export import export_cohort

    with open_store(settings_of(ctx), actor=actor) as store:
        doc = export_cohort(store, out, include_deviations=include_deviations, reason=reason)
    if as_json:
        print_json(doc)
        return
    typer.echo(
        f"Wrote {doc['out']}: {doc['subjects']} children, {doc['sessions']} sessions, "
        f"{doc['media']} files, {doc['ratings']} ratings ({doc['voided_sessions']} voided "
        "sessions listed, not exported)"
    )
    typer.echo(DISCLAIMER)


@app.command("export")
def export(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder to write (an earlier export is replaced)."),
    with_media: bool = typer.Option(
        False, "--with-media", help="Also write decrypted photos and videos (audited)."
    ),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share of children in test."),
    folds: int = typer.Option(5, "--folds", help="Cross-validation folds (by child)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the audit log."),
    include_deviations: bool = typer.Option(
        False,
        "--include-deviations",
        help="Also export sessions outside the protocol's 6-48 h window (left out by default).",
    ),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Write a training manifest: one row per photo or clip, split 80/20 by child.

    Voided sessions are never exported (listed in voided.csv); corrected values are
    exported as corrected.

    Exit codes: 0 manifest written; 1 bug; 2 bad usage; 3 some items rejected; 4 environment
    problem (database, media key, folder).

    A child's train/test side is settled the first time it is exported and kept for
    every later export (another --seed or --test-fraction only places new children);
    children of the prospective cohort (assessed by the bedside AI) go to test.

    \b
    Examples:
      pedpain db export --out manifest/
      pedpain db export --out train-data/ --with-media --folds 5 --json
    """
    with open_store(settings_of(ctx), actor=actor) as store:
        doc = export_manifest(
            store,
            out,
            with_media=with_media,
            test_fraction=test_fraction,
            folds=folds,
            seed=seed,
            reason=reason,
            include_deviations=include_deviations,
        )
    if as_json:
        print_json(doc)
        return
    typer.echo(
        f"Wrote {doc['out']}/manifest.csv: {doc['items']} items of {doc['subjects']} children "
        f"({doc['train_subjects']} train, {doc['test_subjects']} test, {doc['folds']} folds)"
        + ("; decrypted media included" if doc["with_media"] else "")
    )


@app.command("withdraw")
def withdraw(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="The child's pseudonymous subject code."),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit log)."),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Consent withdrawal: erase the child's media, derived files and rows; keep an audit
    entry. Models trained with the child's data are listed as affected.

    Exit codes: 0 withdrawn (or already withdrawn); 1 bug; 2 bad usage (unknown child); 4
    environment problem (database, media).

    \b
    Examples:
      pedpain db withdraw PH-0007 --reason "guardian withdrew consent by phone 2026-05-02"
    """
    with open_store(settings_of(ctx), actor=actor) as store:
        report = withdraw_subject(store, code, reason)
    doc = report.to_dict()
    if as_json:
        print_json(doc)
        return
    if report.status == "already_withdrawn":
        typer.echo(f"{code} was already withdrawn; nothing left to erase.")
        return
    typer.echo(
        f"Withdrew {code}: {report.media_files_deleted} media files erased, "
        f"{len(report.artifacts)} derived artefacts handled."
    )
    for path in report.shards_to_rebuild:
        typer.echo(f"shard deleted, rebuild it: {path}")
    for model in report.models_affected:
        typer.echo(
            f"affected model (trained with this child): {model['name']} {model['path'] or ''}"
        )
    for path in report.leftovers:
        typer.echo(f"check by hand (name carries the code, not registered): {path}")


@app.command("verify")
def verify(
    ctx: typer.Context,
    quick: bool = typer.Option(
        False, "--quick", help="Check presence only, do not decrypt (no key needed)."
    ),
    remove_orphans: bool = typer.Option(
        False, "--remove-orphans", help="Delete files no database row references."
    ),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Find media files that are missing, altered or orphaned (exit code 3 if any).

    Exit codes: 0 all media intact; 1 bug; 2 bad usage; 3 missing, altered or orphaned files
    found; 4 environment problem (database, media key).

    \b
    Examples:
      pedpain db verify
      pedpain db verify --remove-orphans --json
    """
    with open_store(settings_of(ctx), actor=actor) as store:
        doc = verify_store(store, deep=not quick, remove_orphans=remove_orphans)
    if as_json:
        print_json(doc)
    else:
        typer.echo(
            f"Checked {doc['files_expected']} media files ({doc['media_rows']} rows): "
            f"{len(doc['missing'])} missing, {len(doc['altered'])} altered, "
            f"{len(doc['orphaned'])} orphaned"
            + (f" ({doc['orphans_removed']} removed)" if remove_orphans else "")
        )
        for item in doc["missing"][:MAX_SHOWN]:
            typer.echo(f"missing: {item['sha256']} ({', '.join(item['items'])})")
        for item in doc["altered"][:MAX_SHOWN]:
            typer.echo(f"altered: {item['sha256']} ({', '.join(item['items'])}): {item['problem']}")
        for path in doc["orphaned"][:MAX_SHOWN]:
            typer.echo(f"orphaned: {path}")
    if doc["problems"]:
        raise InputsRejected(f"media store has {doc['problems']} problem(s)")


@app.command("rotate-key")
def rotate(
    ctx: typer.Context,
    new_key_file: Path = typer.Option(
        ..., "--new-key-file", help="Key file made with `pedpain db keygen`."
    ),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """Re-encrypt every media file under a new key (rerun to finish a killed rotation);
    then point PEDPAIN_KEY_FILE at the new key.

    Exit codes: 0 every file re-encrypted; 1 bug; 2 bad usage; 4 environment problem
    (database, key files).

    \b
    Examples:
      pedpain db keygen --out ~/keys/pedpain-2027.key
      pedpain db rotate-key --new-key-file ~/keys/pedpain-2027.key
    """
    new_key = MediaKey.from_file(new_key_file)
    with open_store(settings_of(ctx), actor=actor) as store:
        doc = rotate_key(store, new_key)
    if as_json:
        print_json(doc)
    else:
        typer.echo(
            f"Re-encrypted {doc['rewritten']} files ({doc['already_new']} already under the "
            f"new key); {len(doc['failed'])} failed."
        )
        if doc["complete"]:
            typer.echo(f"Now set PEDPAIN_KEY_FILE={new_key_file} (keep the old key until then).")
    if doc["failed"]:
        raise InputsRejected(f"{len(doc['failed'])} file(s) could not be re-encrypted")


@app.command("keygen")
def keygen(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="New key file (never overwritten; mode 0600)."),
) -> None:
    """Create a media encryption key file. Keep it outside the data folder and the
    repository, and back it up: media cannot be read without it.

    Exit codes: 0 key written; 1 bug; 2 bad usage (the file exists); 4 environment problem
    (folder not writable).

    \b
    Examples:
      pedpain db keygen --out ~/.config/pedpain/media.key
    """
    settings = settings_of(ctx)
    key = write_new_key(out)
    try:
        inside = out.resolve().is_relative_to(Path(settings.home).resolve())
    except OSError:
        inside = False
    if inside:
        _echo_err("warning: the key is inside PEDPAIN_HOME; keep keys apart from the data")
    typer.echo(f"Wrote key {key.key_id} to {out} (mode 0600). export PEDPAIN_KEY_FILE={out}")


@app.command("show")
def show(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="The child's pseudonymous subject code."),
    actor: str | None = ACTOR,
    as_json: bool = JSON,
) -> None:
    """A child's timeline: consent, sessions, ratings, media, analgesics (audited read).

    Exit codes: 0 shown; 1 bug; 2 bad usage (unknown child); 4 environment problem
    (database).

    \b
    Examples:
      pedpain db show PH-0007 --json
    """
    with open_store(settings_of(ctx), actor=actor) as store:
        doc = subject_timeline(store, code)
    if as_json:
        print_json(doc)
        return
    typer.echo(
        f"{doc['subject_code']}: {doc['group']}, {doc['sex']}, {doc['age_months']} months"
        + (" (SYNTHETIC)" if doc["synthetic"] else "")
    )
    for s in doc["sessions"]:
        label = "-" if s["consensus"] is None else f"{s['consensus']:.1f}/10"
        flag = " needs adjudication" if s["needs_adjudication"] else ""
        typer.echo(
            f"  {s['session_id']} {s['time_point']:<10} {s['assessed_at']} consensus {label}"
            f" ({len(s['ratings'])} ratings, {len(s['media'])} media){flag}"
        )
