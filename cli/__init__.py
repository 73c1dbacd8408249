"""The `ssvad` command line (installed as the `ssvad_cli` package): thin Typer commands."""
