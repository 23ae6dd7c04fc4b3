"""What one app instance shares between its requests, and the shape of one validated call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from .faults import FaultPlan
from .notify import Notifier
from .security import Authenticator, Principal
from .settings import ServerSettings
from .state import ServerState
from .stats import ServerStats
from .validation import SpecValidators


@dataclass(slots=True)
class AppContext:
    settings: ServerSettings
    state: ServerState
    faults: FaultPlan
    stats: ServerStats
    validators: SpecValidators
    authenticator: Authenticator
    #: Closed when the server shuts down: long polls and streams end promptly.
    shutdown: Notifier = field(default_factory=Notifier)


@dataclass(slots=True)
class Call:
    """One validated request, as the operation handlers see it."""

    operation_id: str
    params: dict[str, Any]
    body: Any
    principal: Principal | None
    agent_id: str | None
    tenant_id: str | None
    correlation_id: str | None


@dataclass(slots=True)
class Reply:
    """A handler's answer: a JSON body (``None`` for 204) or a ready response (streams)."""

    status: int
    body: Any = None
    response: Response | None = None
