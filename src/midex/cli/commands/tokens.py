"""API tokens: `midex provider token CODE [--rotate]` and `midex token add --role R --name N`.

The token is printed once; the catalog keeps only its sha256."""

from __future__ import annotations

from typing import Annotated

import typer

from midex.cli.app import JsonOpt, emit_json, format_table, open_context, provider_app
from midex.contract.errors import UsageError
from midex.service.tokens import Role, issue_token, list_tokens, revoke_token
from midex.storage.catalog import MAX_ID

ExpiresOpt = Annotated[
    float | None,
    typer.Option(
        "--expires-in",
        help="Days until the token stops working (default: never; at most 36,500).",
    ),
]

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
        expires_in: ExpiresOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a provider's API token for the HTTP service (shown once)."""
        ctx = open_context()
        ctx.catalog.init()
        plain, record = issue_token(
            ctx.catalog, Role.provider, code, code, rotate=rotate, expires_in_days=expires_in
        )
        _show(plain, record.role, record.provider_code, record.name, as_json)

    @token_app.command("add")
    def token_add(
        role: Annotated[Role, typer.Option("--role", help="consumer or admin.")],
        name: Annotated[str, typer.Option("--name", help="Who holds it (for the audit).")],
        expires_in: ExpiresOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a consumer or admin API token (shown once)."""
        if role == Role.provider:
            raise UsageError("provider tokens are made with `midex provider token CODE`")
        ctx = open_context()
        ctx.catalog.init()
        plain, record = issue_token(ctx.catalog, role, name, expires_in_days=expires_in)
        _show(plain, record.role, None, record.name, as_json)

    @token_app.command("list")
    def token_list(as_json: JsonOpt = False) -> None:
        """Every token: id, role, provider, holder, created, revoked (never the token itself)."""
        ctx = open_context()
        ctx.catalog.init()
        rows = [
            {"id": r.id, "role": r.role, "provider": r.provider_code or "", "name": r.name,
             "created_at": r.created_at.isoformat(timespec="seconds"),
             "revoked_at": r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "",
             "expires_at": r.expires_at.isoformat(timespec="seconds") if r.expires_at else ""}
            for r in list_tokens(ctx.catalog)
        ]  # fmt: skip
        if as_json:
            emit_json(rows)
        elif not rows:
            typer.echo("no tokens; `midex token add` or `midex provider token CODE` makes one")
        else:
            typer.echo(format_table(rows, list(rows[0])))

    @token_app.command("revoke")
    def token_revoke(
        token_id: Annotated[
            int, typer.Argument(help="The token's id (`midex token list`).", min=1, max=MAX_ID)
        ],
        as_json: JsonOpt = False,
    ) -> None:
        """Revoke a token: it stops working at once; its record stays for the audit."""
        ctx = open_context()
        ctx.catalog.init()
        record = revoke_token(ctx.catalog, token_id)
        if as_json:
            emit_json({"id": record.id, "revoked_at": record.revoked_at})
        else:
            typer.echo(f"token {record.id} ({record.role} {record.name!r}) revoked")

    app.add_typer(token_app, name="token")
