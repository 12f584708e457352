"""Entry point: global options, command registration, and the error/exit-code policy.

Every failure ends as one line on stderr (``pedpain: error: ...``) and the contract's exit
code; ``--debug`` (or ``PEDPAIN_DEBUG=1``) adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import typer

from pedpain import DISCLAIMER, __version__
from pedpain.cli import assess as assess_cmd
from pedpain.cli import augment as augment_cmd
from pedpain.cli import cohort as cohort_cmd
from pedpain.cli import correct as correct_cmd
from pedpain.cli import db as db_cmd
from pedpain.cli import demo as demo_cmd
from pedpain.cli import evaluate as evaluate_cmd
from pedpain.cli import export as export_cmd
from pedpain.cli import models as models_cmd
from pedpain.cli import phantom as phantom_cmd
from pedpain.cli import preprocess as preprocess_cmd
from pedpain.cli import scales as scales_cmd
from pedpain.cli import serve as serve_cmd
from pedpain.cli import study as study_cmd
from pedpain.cli import train as train_cmd
from pedpain.cli import unbc as unbc_cmd
from pedpain.cli import users as users_cmd
from pedpain.cli import weights as weights_cmd
from pedpain.core.errors import EXIT_BUG, EXIT_USAGE, PedpainError
from pedpain.core.logging import configure_logging
from pedpain.core.settings import load_settings

app = typer.Typer(
    name="pedpain",
    help=(
        "Assess postoperative pain in children from facial photos and videos, and run the "
        f"study that validates it. {DISCLAIMER}\n\n"
        "\b\nExamples:\n  pedpain scales --age 4y\n  pedpain demo --quick"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pedpain {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        help="YAML settings file (flags > PEDPAIN_* env > this file > defaults).",
        dir_okay=False,
    ),
    home: Path | None = typer.Option(
        None, "--home", help="Data root for database, media, models and runs [env PEDPAIN_HOME]."
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", help="debug, info, warning or error [env PEDPAIN_LOG_LEVEL]."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    settings = load_settings(
        config,
        home=home,
        log_level=log_level.lower() if log_level else None,
        debug=True if debug else None,
    )
    configure_logging(settings.log_level if not settings.debug else "debug", settings.log_format)
    ctx.obj = settings


app.command("scales")(scales_cmd.scales)
app.command("demo")(demo_cmd.demo)
app.add_typer(evaluate_cmd.app, name="evaluate")
app.command("preprocess")(preprocess_cmd.preprocess)
app.add_typer(unbc_cmd.app, name="unbc")
app.add_typer(db_cmd.app, name="db")
app.add_typer(phantom_cmd.app, name="phantom")
app.command("train")(train_cmd.train)
app.add_typer(augment_cmd.app, name="augment")
app.command("assess")(assess_cmd.assess)
app.add_typer(export_cmd.app, name="export")
app.command("serve")(serve_cmd.serve)
app.add_typer(users_cmd.app, name="users")
app.add_typer(correct_cmd.app, name="correct")
app.add_typer(weights_cmd.app, name="weights")
app.add_typer(cohort_cmd.app, name="cohort")
app.add_typer(models_cmd.app, name="models")
app.add_typer(study_cmd.app, name="study")


def _debug_requested(args: list[str]) -> bool:
    flag = os.environ.get("PEDPAIN_DEBUG", "").lower() in ("1", "true", "yes", "on")
    return flag or "--debug" in args


def _fail(message: str) -> None:
    sys.stderr.write(f"pedpain: error: {' '.join(message.split())}\n")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (never raises, never prints a traceback
    unless asked to)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="pedpain", standalone_mode=False)
    except typer.exceptions.TyperException as exc:
        # Typer's (vendored click) usage and parameter errors carry exit code 2.
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            # ``pedpain`` alone prints help on stderr and is a usage error.
            sys.stderr.write(ctx.get_help() + "\n")
            return EXIT_USAGE
        hint = (
            f" (see '{ctx.command_path} --help')" if ctx is not None and exc.exit_code == 2 else ""
        )
        _fail(exc.format_message() + hint)
        return exc.exit_code
    except typer.Abort:
        _fail("aborted")
        return 130
    except PedpainError as exc:
        if debug:
            traceback.print_exc()
        _fail(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`): not an error worth a trace.
        sys.stderr.close()
        return 0
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(
            f"internal error ({type(exc).__name__}: {exc}); this is a bug, please report it "
            "with the output of the same command run with --debug"
        )
        return EXIT_BUG
    if result == 130:  # Typer turns Ctrl-C into a silent Exit(130): say why we stopped
        _fail("interrupted")
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
