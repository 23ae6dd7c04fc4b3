"""An enterprise KEI agent as a deployable service: ``python -m enterprise_agent``.

It uses the SDK's quick setup (structured JSON logging, bearer or OpenID Connect credentials from
``KEI_*`` variables) and its health monitoring (KEI API, database and memory checks), registers
itself in the KEI registry, sends heartbeats, serves the Kubernetes probes (liveness ``/health``,
readiness ``/ready``) and drains on SIGTERM. Configuration: :mod:`enterprise_agent.settings`.
"""

__version__ = "1.0.0"
