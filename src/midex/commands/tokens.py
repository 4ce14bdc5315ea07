"""API tokens: `midex provider token CODE [--rotate]` and `midex token add --role R --name N`.

The token is printed once; the catalog keeps only its sha256."""

from __future__ import annotations

from typing import Annotated

import typer

from midex.cli_app import JsonOpt, emit_json, open_context, provider_app
from midex.errors import UsageError
from midex.service.tokens import Role, issue_token

token_app = typer.Typer(help="API tokens for consumers and administrators.", no_args_is_help=True)


def _show(token: str, role: str, provider: str | None, name: str, as_json: bool) -> None:
    if as_json:
        emit_json({"token": token, "role": role, "provider": provider, "name": name})
        return
    who = f"provider {provider}" if provider else f"{role} {name!r}"
    typer.echo(f"token for {who} (shown once; keep it secret):\n{token}")


def register(app: typer.Typer) -> None:
    @provider_app.command("token")
    def provider_token(
        code: Annotated[str, typer.Argument(help="Provider code.")],
        rotate: Annotated[
            bool, typer.Option("--rotate", help="Replace the current token (it stops working).")
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a provider's API token for the HTTP service (shown once)."""
        ctx = open_context()
        ctx.catalog.init()
        plain, record = issue_token(ctx.catalog, Role.provider, code, code, rotate=rotate)
        _show(plain, record.role, record.provider_code, record.name, as_json)

    @token_app.command("add")
    def token_add(
        role: Annotated[Role, typer.Option("--role", help="consumer or admin.")],
        name: Annotated[str, typer.Option("--name", help="Who holds it (for the audit).")],
        as_json: JsonOpt = False,
    ) -> None:
        """Create a consumer or admin API token (shown once)."""
        if role == Role.provider:
            raise UsageError("provider tokens are made with `midex provider token CODE`")
        ctx = open_context()
        ctx.catalog.init()
        plain, record = issue_token(ctx.catalog, role, name)
        _show(plain, record.role, None, record.name, as_json)

    app.add_typer(token_app, name="token")
