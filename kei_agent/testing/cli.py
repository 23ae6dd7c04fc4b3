"""The ``kei-agent`` command line (console script).

Light on purpose: only ``argparse`` is imported at start; each command imports what it needs.

Commands:

* ``serve`` - run the reference KEI server in the foreground (Ctrl+C stops it).

The ``demo`` command and the client commands (``plan``, ``act``, ``health``, ``tools``,
``agents``) join once the clients exist: add an ``_add_<name>(sub)`` parser builder and a
``_cmd_<name>(args) -> int`` handler next to ``serve`` and call the builder in
:func:`build_parser`. Expected errors print one line to stderr and return a non-zero code
(:class:`CommandError`), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn


class CommandError(Exception):
    """An expected failure: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: the problem and where to read more."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="kei-agent", description="KEI-Agent SDK command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    _add_serve(sub)
    return parser


# ---------------------------------------------------------------------- serve
def _add_serve(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the reference KEI server in the foreground",
        description="Run the reference KEI server. Without --token (and without --oidc-issuer/--jwks-url) "
        "it accepts the development token `dev-token`.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8080, help="TCP port (default: 8080; 0 picks a free one)")
    p.add_argument(
        "--token",
        action="append",
        default=None,
        metavar="TOKEN[=SCOPE,...]",
        help="accept this bearer token (repeatable); with =scopes only those scopes, else all",
    )
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", help="the certificate's private key (PEM)")
    p.add_argument("--tls-ca", help="verify client certificates against this CA (PEM); a valid one authenticates")
    p.add_argument(
        "--require-client-cert", action="store_true", help="mutual TLS: refuse clients without a certificate"
    )
    p.add_argument("--oidc-issuer", help="accept JWT access tokens of this OpenID issuer (JWKS from its discovery)")
    p.add_argument("--jwks-url", help="accept JWT access tokens signed by the keys at this JWKS URL")
    p.add_argument("--audience", help="required `aud` of JWT access tokens")
    p.add_argument("--admin", action="store_true", help="enable the /_admin/faults endpoint (admin token only)")
    p.add_argument(
        "--admin-token",
        default=os.environ.get("KEI_ADMIN_TOKEN"),
        help="the bearer token the admin endpoint accepts (default: $KEI_ADMIN_TOKEN, else a random one, printed)",
    )
    p.add_argument("--seed", type=int, help="seed of the fault-injection random generator")
    p.set_defaults(handler=_cmd_serve)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number; use 1-65535, or 0 for a free one") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is out of range; use 1-65535, or 0 for a free one")
    return port


def _check_tls_files(args: argparse.Namespace) -> None:
    """Name a missing or unusable TLS file before anything claims to serve."""
    import ssl

    for option, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key), ("--tls-ca", args.tls_ca)):
        if not path:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise CommandError(f"{option} {path}: {exc.strerror or exc} - pass a readable PEM file", 2) from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(args.tls_cert, args.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise CommandError(
            f"--tls-cert {args.tls_cert} / --tls-key {args.tls_key}: not a matching PEM certificate and key "
            f"({getattr(exc, 'reason', None) or exc}) - pass the certificate and its private key",
            2,
        ) from None
    if args.tls_ca:
        try:
            context.load_verify_locations(args.tls_ca)
        except (ssl.SSLError, OSError) as exc:
            raise CommandError(
                f"--tls-ca {args.tls_ca}: not a PEM CA certificate ({getattr(exc, 'reason', None) or exc})"
                " - pass the CA that signs the client certificates",
                2,
            ) from None


def _tokens(values: Sequence[str] | None) -> dict[str, list[str]] | None:
    if not values:
        return None
    from .settings import ALL_SCOPES

    tokens: dict[str, list[str]] = {}
    for value in values:
        token, sep, scopes = value.partition("=")
        if not token:
            raise CommandError(f"--token {value!r}: the token is empty", 2)
        tokens[token] = [s for s in scopes.split(",") if s] if sep else sorted(ALL_SCOPES)
    return tokens


def _cmd_serve(args: argparse.Namespace) -> int:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CommandError("--tls-cert and --tls-key go together", 2)
    if (args.tls_ca or args.require_client_cert) and not args.tls_cert:
        raise CommandError("--tls-ca/--require-client-cert need --tls-cert and --tls-key", 2)
    if args.require_client_cert and not args.tls_ca:
        raise CommandError("--require-client-cert needs --tls-ca", 2)
    if args.tls_cert:
        _check_tls_files(args)
    try:
        from .server import ServerHandle, serve_forever
        from .settings import DEV_TOKEN, ServerSettings, TLSConfig
    except ModuleNotFoundError as exc:
        raise CommandError(
            f'the server needs the `server` extra: pip install "kei-agent-py-sdk[server]" ({exc})'
        ) from exc

    tls = None
    if args.tls_cert:
        tls = TLSConfig(args.tls_cert, args.tls_key, args.tls_ca, args.require_client_cert)
    settings = ServerSettings(
        tokens=_tokens(args.token),
        oidc_issuer=args.oidc_issuer,
        jwks_url=args.jwks_url,
        audience=args.audience,
        tls=tls,
        admin_enabled=args.admin,
        admin_token=args.admin_token if args.admin else None,
        seed=args.seed,
    )

    def ready(server: ServerHandle) -> None:
        print(f"KEI reference server on {server.base_url}  (Ctrl+C stops it)", flush=True)
        if settings.dev_mode:
            print(f"No tokens configured: accepting the development token `{DEV_TOKEN}` (all scopes).", flush=True)
        if settings.admin_enabled:
            print(f"Admin endpoint enabled: /_admin/faults (admin token: {settings.admin_token})", flush=True)

    try:
        serve_forever(settings, host=args.host, port=args.port, on_ready=ready)
    except OSError as exc:  # the address is taken or invalid, a TLS file is missing or unreadable, ...
        reason = exc.strerror or str(exc)
        if exc.filename:
            reason = f"{reason}: {exc.filename}"
        raise CommandError(
            f"cannot serve on {args.host}:{args.port}: {reason} - choose another --port (0 picks a free one) or --host"
        ) from exc
    except KeyboardInterrupt:  # pragma: no cover - signal timing
        pass
    return 0


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; expected failures print one line, no traceback."""
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except CommandError as exc:
        print(f"kei-agent {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # an unexpected failure is still one line; -vv adds the traceback
        if getattr(args, "verbose", 0) > 1:
            import traceback

            traceback.print_exc()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"kei-agent {args.command}: unexpected {type(exc).__name__}{': ' + reason if reason else ''}"
            " - rerun with -vv for the traceback and report it",
            file=sys.stderr,
        )
        return 1
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``kei-agent`` with the server command only (what the ``server`` extra needs)."""
    return run(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
