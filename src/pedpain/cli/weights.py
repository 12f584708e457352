"""``pedpain weights import``: published pre-trained weights in the layout
``model.weights`` takes."""

from __future__ import annotations

from pathlib import Path

import typer

from pedpain.cli.common import GROUP_EXIT_CODES, print_json

app = typer.Typer(
    help="Pre-trained backbone weights for model.weights. " + GROUP_EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("import")
def import_(
    src: Path = typer.Argument(..., help="The downloaded state dict (.pth/.pt)."),
    kind: str = typer.Option(..., "--kind", help="vggface (Parkhi et al. 2015) or torchvision."),
    backbone: str = typer.Option("vgg16", "--backbone", help="The backbone to fit (vgg16)."),
    out: Path = typer.Option(..., "--out", help="State dict to write (a .json record beside)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON summary on stdout."),
) -> None:
    """Map a VGG-Face (conv1_1 ... fc8) or torchvision ImageNet VGG-16 state dict onto
    the vgg16 backbone's layer names, check every shape, and write a file for
    model.weights. The last classification layer (fc8 / classifier.6) is dropped; the
    source's SHA-256 is recorded in OUT.json. Nothing is downloaded.

    Exit codes: 0 written; 1 bug; 2 bad usage (file missing or not a state dict, layer
    names or shapes that do not fit the backbone); 4 environment problem (OUT not
    writable).

    \b
    Examples:
      pedpain weights import vgg_face_dag.pth --kind vggface --out weights/vggface.pt
      pedpain weights import vgg16-397923af.pth --kind torchvision --out weights/imagenet.pt
      pedpain train -c configs/source_unbc_vgg16.yaml model.weights=weights/vggface.pt
    """
    from pedpain.models.weights_import import import_weights

    report = import_weights(src, kind, backbone, out)  # type: ignore[arg-type]
    if as_json:
        print_json(report.to_dict())
        return
    typer.echo(
        f"{report.tensors} tensors written to {out} (source sha256 "
        f"{report.source_sha256[:16]}...; record {report.record})"
    )
