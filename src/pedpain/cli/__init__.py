"""The ``pedpain`` command line: thin Typer shells over the library layers."""
