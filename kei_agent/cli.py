"""The ``kei-agent`` command line (console script).

Light on purpose: only ``argparse`` is imported at start; each command imports what it needs.

* ``serve`` - run the reference KEI server (``kei_agent.testing``) in the foreground.
* ``demo`` - start the reference server on a free port and run the documented flow with the async
  and the sync client: plan → act → observe → explain, publish → consume, tools, stream, health.
* ``plan``, ``act``, ``health``, ``tools``, ``agents`` - one operation against any KEI server,
  configured by ``KEI_API_URL`` / ``KEI_API_TOKEN`` / ``KEI_AGENT_ID`` (or ``--url`` / ``--token``
  / ``--agent-id``); ``--json`` prints the result as JSON; ``--timeout`` / ``--deadline`` bound
  each attempt and the whole call; ``-v`` shows retries, fallbacks and waits as they happen.

Failures (refused connection, 401, invalid input, bad configuration, a bad port or TLS file)
print one line to stderr naming the problem and the fix, and exit non-zero - never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kei_agent._version import __version__
from kei_agent.testing.cli import CommandError, OneLineParser, _add_serve, run

if TYPE_CHECKING:
    from typing import TypeAlias

    from kei_agent import AgentClientConfig, ProtocolConfig, SecurityConfig
    from kei_agent_sync import KeiAgentClient

    Subparsers: TypeAlias = argparse._SubParsersAction[OneLineParser]


# The variables the client commands read (besides their options), for --help.
_ENVIRONMENT = """\
environment (the client commands read every KEI_* variable of AgentClientConfig, ProtocolConfig
and SecurityConfig; options win over variables):
  KEI_API_URL              API root, e.g. https://kei.example.com (--url)
  KEI_API_TOKEN            bearer token (--token)
  KEI_AGENT_ID             sent as X-Agent-ID (--agent-id)
  KEI_TENANT_ID            sent as X-Tenant-ID
  KEI_TIMEOUT              seconds per attempt (--timeout; default 30)
  KEI_CONNECT_TIMEOUT      seconds to connect (default 10)
  KEI_DEADLINE             seconds for the whole call, retries included (--deadline; default 120)
  KEI_MAX_ATTEMPTS         attempts per call (default 3)
  KEI_VERIFY               verify TLS certificates (default true) or a CA bundle path
  KEI_AUTH_TYPE            bearer | oidc | mtls
  KEI_OIDC_ISSUER, KEI_OIDC_TOKEN_URL, KEI_OIDC_CLIENT_ID, KEI_OIDC_CLIENT_SECRET, KEI_OIDC_SCOPE
  KEI_MTLS_CERT_PATH, KEI_MTLS_KEY_PATH, KEI_MTLS_CA_PATH
  the full list: python -c "from kei_agent.config import ENV_VARIABLES; print(*ENV_VARIABLES)"
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kei-agent`` (every command)."""
    parser = OneLineParser(
        prog="kei-agent",
        description="KEI-Agent SDK command line.",
        epilog=_ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version_line())
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="show retries, fallbacks and waits as they happen"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    _add_serve(sub)
    _add_demo(sub)
    _add_client_commands(sub)
    return parser


def _version_line() -> str:
    import platform

    return f"kei-agent {__version__} (kei-agent-py-sdk, Python {platform.python_version()})"


# ----------------------------------------------------------------------- demo
def _add_demo(sub: Subparsers) -> None:
    p = sub.add_parser(
        "demo",
        help="run the SDK's documented flow against an embedded reference server",
        description="Starts the reference KEI server on a free port and runs plan → act → observe → explain, "
        "publish → consume, tool discovery and use, stream events and a health summary with the async "
        "and the sync client.",
    )
    p.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        from kei_agent.testing import run_server
    except ModuleNotFoundError as exc:
        raise CommandError(
            f'the demo needs the `server` extra: pip install "kei-agent-py-sdk[server]" ({exc})'
        ) from exc
    from kei_agent._demo import run_demo

    with run_server() as server:
        print(f"KEI reference server on {server.base_url} (development token `dev-token`)\n")
        return run_demo(server.base_url, "dev-token")


# -------------------------------------------------------------- client commands
def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (e.g. 10 or 2.5)") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: use a positive, finite number of seconds (e.g. 10)")
    return value


def _add_client_options(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = _ENVIRONMENT
    p.add_argument("--url", help="API root (default: $KEI_API_URL)")
    p.add_argument("--token", help="bearer token (default: $KEI_API_TOKEN)")
    p.add_argument("--agent-id", help="sent as X-Agent-ID (default: $KEI_AGENT_ID)")
    p.add_argument("--timeout", type=_seconds, help="seconds per attempt (default: $KEI_TIMEOUT or 30)")
    p.add_argument(
        "--deadline", type=_seconds, help="seconds for the whole call, retries included (default: $KEI_DEADLINE or 120)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="show retries, fallbacks and waits as they happen (-vv: every SDK record)",
    )


def _add_client_commands(sub: Subparsers) -> None:
    plan = sub.add_parser("plan", help="create a plan for an objective")
    plan.add_argument("objective")
    plan.add_argument("--context", default=None, help="JSON object with context for the planner")
    _add_client_options(plan)
    plan.set_defaults(handler=_client_command(_do_plan))

    act = sub.add_parser("act", help="execute an action")
    act.add_argument("action")
    act.add_argument("--parameters", default=None, help="JSON object with the action's parameters")
    _add_client_options(act)
    act.set_defaults(handler=_client_command(_do_act))

    health = sub.add_parser("health", help="the server's health")
    _add_client_options(health)
    health.set_defaults(handler=_client_command(_do_health))

    tools = sub.add_parser("tools", help="discover the MCP tools")
    tools.add_argument("--category", default=None, help="only the tools of this category")
    _add_client_options(tools)
    tools.set_defaults(handler=_client_command(_do_tools))

    agents = sub.add_parser("agents", help="list the registered agents")
    agents.add_argument("--capability", default=None, help="only the agents with this capability")
    _add_client_options(agents)
    agents.set_defaults(handler=_client_command(_do_agents))


def _json_object(option: str, text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{option} must be a JSON object: {exc}", 2) from None
    if not isinstance(value, dict):
        raise CommandError(f"{option} must be a JSON object, got {type(value).__name__}", 2)
    return value


# Variables only SecurityConfig reads: when one is set, the commands build a SecurityConfig from the
# environment (OpenID Connect, mutual TLS, ...); otherwise the bearer token of AgentClientConfig applies.
_SECURITY_PREFIXES = ("KEI_AUTH_TYPE", "KEI_OIDC_", "KEI_MTLS_", "KEI_RBAC_", "KEI_AUDIT_", "KEI_TOKEN_REFRESH_")


def _config(args: argparse.Namespace) -> tuple[AgentClientConfig, ProtocolConfig, SecurityConfig | None]:
    import os

    from kei_agent import AgentClientConfig, AuthType, ConfigurationError, ProtocolConfig, SecurityConfig
    from kei_agent._cli_errors import describe

    env = dict(os.environ)
    options = (
        ("url", "KEI_API_URL"),
        ("token", "KEI_API_TOKEN"),
        ("agent_id", "KEI_AGENT_ID"),
        ("timeout", "KEI_TIMEOUT"),
        ("deadline", "KEI_DEADLINE"),
    )
    for option, variable in options:
        value = getattr(args, option)
        if value:
            env[variable] = str(value)
    if not env.get("KEI_API_URL"):
        raise CommandError("no server - pass --url or set KEI_API_URL (e.g. http://127.0.0.1:8080)", 2)
    try:
        config = AgentClientConfig.from_env(env)
        protocols = ProtocolConfig.from_env(env)
        security = None
        if any(name.startswith(_SECURITY_PREFIXES) and value.strip() for name, value in env.items()):
            security = SecurityConfig.from_env(env)
        elif not env.get("KEI_API_TOKEN", "").strip():
            # No credentials at all: `health` needs none; other commands get the server's 401.
            security = SecurityConfig(auth_type=AuthType.NONE)
    except ConfigurationError as exc:
        message, code = describe(exc, url=env["KEI_API_URL"])
        raise CommandError(message, code) from None
    return config, protocols, security


def _client_command(action: Callable[[KeiAgentClient, argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from kei_agent import KeiSDKError
        from kei_agent._cli_errors import describe
        from kei_agent._cli_verbose import announce, enable_verbose_logging, still_waiting_notice
        from kei_agent_sync import KeiAgentClient

        config, protocols, security = _config(args)
        notice = None
        if args.verbose:
            enable_verbose_logging(args.verbose)
            announce(args.command, config)
        else:
            notice = still_waiting_notice(args.command, config)
        try:
            with KeiAgentClient(config, protocols, security) as client:
                result = action(client, args)
        except KeiSDKError as exc:
            message, code = describe(exc, url=config.base_url)
            raise CommandError(message, code) from None
        finally:
            if notice is not None:
                notice.cancel()
        _print(result, as_json=args.json)
        return 0

    return handler


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _print(result: Any, *, as_json: bool) -> None:
    data = _plain(result)
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    if isinstance(data, list):
        for item in data:
            print(_one_line(item))
    else:
        print(_one_line(data))


def _one_line(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    return "  ".join(f"{key}={value}" for key, value in item.items() if not isinstance(value, dict | list))


def _do_plan(client: KeiAgentClient, args: argparse.Namespace) -> Any:
    plan = client.plan_task(args.objective, _json_object("--context", args.context))
    if args.json:
        return plan
    lines = [f"plan {plan.plan_id} ({plan.status}): {plan.objective}"]
    lines += [f"  {step.index}. {step.description}" for step in plan.steps]
    return "\n".join(lines)


def _do_act(client: KeiAgentClient, args: argparse.Namespace) -> Any:
    result = client.execute_action(args.action, _json_object("--parameters", args.parameters))
    if args.json:
        return result
    data = result.to_dict()
    output = data.get("result")
    lines = [f"action {data.get('action', args.action)} {data.get('status', '')} ({data.get('action_id', '')})"]
    if isinstance(output, dict) and output:
        lines += [f"  {key}: {json.dumps(value, default=str)}" for key, value in output.items()]
    elif output not in (None, {}):
        lines.append(f"  result: {json.dumps(output, default=str)}")
    else:
        lines.append("  (no result)")
    if data.get("error"):
        lines.append(f"  error: {json.dumps(data['error'], default=str)}")
    return "\n".join(lines)


def _do_health(client: KeiAgentClient, args: argparse.Namespace) -> Any:
    return client.health_check()


def _do_tools(client: KeiAgentClient, args: argparse.Namespace) -> Any:
    tools = client.discover_available_tools(args.category)
    if tools or args.json:
        return tools
    where = f" in category {args.category!r}" if args.category else ""
    return f"no tools{where} (`kei-agent tools` without --category lists every tool)"


def _do_agents(client: KeiAgentClient, args: argparse.Namespace) -> Any:
    agents = list(client.list_agents(capability=args.capability))
    if agents or args.json:
        return agents
    if args.capability:
        return f"no agents with capability {args.capability!r}"
    return "no agents registered"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kei-agent``; returns the exit code."""
    return run(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
