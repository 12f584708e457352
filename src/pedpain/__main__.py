"""``python -m pedpain`` is the same as the ``pedpain`` command."""

from pedpain.cli.main import main

main()
