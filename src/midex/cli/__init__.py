"""The `midex` command: the Typer app and one module per command group in commands/."""
