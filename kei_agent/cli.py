"""The ``kei-agent`` command line (console script).

Light on purpose: only ``argparse`` is imported at start; each command imports what it needs.

* ``serve`` - run the reference KEI server (``kei_agent.testing``) in the foreground.
* ``demo`` - start the reference server on a free port and run the documented flow with the async
  and the sync client: plan → act → observe → explain, publish → consume, tools, stream, health.
* ``plan``, ``act``, ``health``, ``tools``, ``agents`` - one operation against any KEI server,
  configured by ``KEI_API_URL`` / ``KEI_API_TOKEN`` / ``KEI_AGENT_ID`` (or ``--url`` / ``--token``
  / ``--agent-id``); ``--json`` prints the result as JSON.

Expected failures (refused connection, 401, invalid input, bad configuration) print one line to
stderr and exit non-zero - never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kei_agent.testing.cli import CommandError, _add_serve, run

if TYPE_CHECKING:
    from typing import TypeAlias

    from kei_agent import AgentClientConfig
    from kei_agent_sync import KeiAgentClient

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kei-agent`` (every command)."""
    parser = argparse.ArgumentParser(prog="kei-agent", description="KEI-Agent SDK command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_serve(sub)
    _add_demo(sub)
    _add_client_commands(sub)
    return parser


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
def _add_client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="API root (default: $KEI_API_URL)")
    p.add_argument("--token", help="bearer token (default: $KEI_API_TOKEN)")
    p.add_argument("--agent-id", help="sent as X-Agent-ID (default: $KEI_AGENT_ID)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


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
    tools.add_argument("--category", default=None)
    _add_client_options(tools)
    tools.set_defaults(handler=_client_command(_do_tools))

    agents = sub.add_parser("agents", help="list the registered agents")
    agents.add_argument("--capability", default=None)
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


def _config(args: argparse.Namespace) -> AgentClientConfig:
    import os

    from kei_agent import AgentClientConfig, ConfigurationError

    env = dict(os.environ)
    for option, variable in (("url", "KEI_API_URL"), ("token", "KEI_API_TOKEN"), ("agent_id", "KEI_AGENT_ID")):
        value = getattr(args, option)
        if value:
            env[variable] = value
    if not env.get("KEI_API_URL"):
        raise CommandError("no server: pass --url or set KEI_API_URL", 2)
    try:
        return AgentClientConfig.from_env(env)
    except ConfigurationError as exc:
        raise CommandError(" ".join(line.strip() for line in str(exc).splitlines()), 2) from None


def _client_command(action: Callable[[KeiAgentClient, argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from kei_agent import ConfigurationError, KeiSDKError
        from kei_agent_sync import KeiAgentClient

        config = _config(args)
        try:
            with KeiAgentClient(config) as client:
                result = action(client, args)
        except ConfigurationError as exc:
            raise CommandError(" ".join(line.strip() for line in str(exc).splitlines()), 2) from None
        except KeiSDKError as exc:
            raise CommandError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
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
    return client.execute_action(args.action, _json_object("--parameters", args.parameters))


def _do_health(client: KeiAgentClient, args: argparse.Namespace) -> Any:
    return client.health_check()


def _do_tools(client: KeiAgentClient, args: argparse.Namespace) -> Any:
    return client.discover_available_tools(args.category)


def _do_agents(client: KeiAgentClient, args: argparse.Namespace) -> Any:
    return list(client.list_agents(capability=args.capability))


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kei-agent``; returns the exit code."""
    return run(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
