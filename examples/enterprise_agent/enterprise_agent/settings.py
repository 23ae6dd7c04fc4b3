"""The service's settings, all from environment variables (what the Kubernetes manifest sets).

SDK settings use the SDK's own ``KEI_*`` variables (``KEI_API_URL``, ``KEI_API_TOKEN``,
``KEI_AGENT_ID``; ``KEI_AUTH_TYPE=oidc`` with ``KEI_OIDC_ISSUER`` / ``KEI_OIDC_CLIENT_ID`` /
``KEI_OIDC_CLIENT_SECRET`` for OpenID Connect; see ``kei_agent.config.ENV_VARIABLES``). The
service's own:

==========================  =========  ==================================================
variable                    default    meaning
==========================  =========  ==================================================
``DATABASE_URL``            required   ``postgresql://user:password@host:5432/db`` for the database check
``HEALTH_HOST``             0.0.0.0    interface of the probe endpoints
``HEALTH_PORT``             8080       port of the probe endpoints (/health, /ready)
``HEARTBEAT_SECONDS``       15         seconds between registry heartbeats
``DRAIN_SECONDS``           5          after SIGTERM: seconds to report not-ready before exiting
``LOG_LEVEL``               INFO       DEBUG shows every SDK call
``ENVIRONMENT``             production added to every log record
==========================  =========  ==================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from kei_agent import AgentClientConfig, SecurityConfig


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    agent: AgentClientConfig
    security: SecurityConfig
    database_url: str
    health_host: str = "0.0.0.0"  # the kubelet probes the pod address
    health_port: int = 8080
    heartbeat_seconds: float = 15.0
    drain_seconds: float = 5.0
    log_level: str = "INFO"
    environment: str = "production"

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id or "enterprise-agent"


def _number(environ: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number; set it to e.g. {default:g}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={text} is out of range; use {low:g}..{high:g}")
    return value


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings; raises :class:`SettingsError` (or the SDK's ``ConfigurationError``)."""
    env = dict(os.environ if environ is None else environ)
    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        raise SettingsError("DATABASE_URL is not set; set it to postgresql://user:password@host:5432/db")
    return Settings(
        agent=AgentClientConfig.from_env(env),
        security=SecurityConfig.from_env(env),
        database_url=database_url,
        health_host=env.get("HEALTH_HOST", "").strip() or "0.0.0.0",
        health_port=int(_number(env, "HEALTH_PORT", 8080, low=0, high=65535)),
        heartbeat_seconds=_number(env, "HEARTBEAT_SECONDS", 15.0, low=0.1, high=3600),
        drain_seconds=_number(env, "DRAIN_SECONDS", 5.0, low=0, high=600),
        log_level=env.get("LOG_LEVEL", "").strip().upper() or "INFO",
        environment=env.get("ENVIRONMENT", "").strip() or "production",
    )
