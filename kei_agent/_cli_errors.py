"""One line per failure for ``kei-agent``: what went wrong and what to do about it.

Every message names the problem first and the fix after ``-``; none contains a secret (the SDK's
messages never do, and the options' values are not repeated here).
"""

from __future__ import annotations

from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    CircuitBreakerOpenError,
    ConfigurationError,
    FieldProblem,
    KeiSDKError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    SecurityError,
    TokenUnavailableError,
    ValidationError,
)

# JSON paths of request bodies → the command line's names for them.
_ARGUMENTS = {
    "$.objective": "OBJECTIVE",
    "$.context": "--context",
    "$.action": "ACTION",
    "$.parameters": "--parameters",
}


def _where(path: str) -> str:
    for prefix, argument in _ARGUMENTS.items():
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return argument + path[len(prefix) :]
    return path


def problems_line(problems: list[FieldProblem], *, cli_names: bool) -> str:
    """Every problem on one line, separated by ``;``."""
    parts = []
    for problem in problems:
        where = _where(problem.path) if cli_names else problem.path
        text = f"{where}: {problem.message}"
        parts.append(f"{text} (fix: {problem.hint})" if problem.hint else text)
    return "; ".join(parts)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(exc: KeiSDKError, *, url: str) -> tuple[str, int]:
    """``(one line, exit code)`` for an SDK error raised while talking to ``url``."""
    if isinstance(exc, ConfigurationError):
        count = len(exc.problems)
        return f"invalid configuration ({count} problem{'s' if count != 1 else ''}): " + problems_line(
            exc.problems, cli_names=False
        ), 2
    if isinstance(exc, ValidationError):
        count = len(exc.problems)
        noun = "problem" if count == 1 else "problems"
        return f"invalid input ({count} {noun}): {problems_line(exc.problems, cli_names=True)}", 2
    return f"{_first_line(exc)} - {_fix(exc, url)}", 1


def _fix(exc: KeiSDKError, url: str) -> str:
    if isinstance(exc, TokenUnavailableError):
        return "the OpenID provider's token endpoint did not answer; check KEI_OIDC_ISSUER / KEI_OIDC_TOKEN_URL"
    if isinstance(exc, AuthenticationError):
        return "check the token (--token or KEI_API_TOKEN)"
    if isinstance(exc, PermissionDeniedError):
        scope = f" `{exc.required_scope}`" if exc.required_scope else ""
        return f"use a token with the scope{scope} this command needs"
    if isinstance(exc, NotFoundError):
        return "check the name or id you passed (`kei-agent tools` lists the tools, `kei-agent agents` the agents)"
    if isinstance(exc, RateLimitError):
        wait = f" in {exc.retry_after:g} s" if exc.retry_after is not None else " later"
        return f"the server is rate limiting; try again{wait}"
    if isinstance(exc, APIStatusError) and exc.status_code >= 500:
        return "the server failed; try again later or raise --deadline to allow more retries"
    if isinstance(exc, APIStatusError):
        return "the server refused the request; correct the arguments"
    if isinstance(exc, APITimeoutError):
        return f"no answer from {url} in time; check the server or raise --timeout / --deadline (-v shows each attempt)"
    if isinstance(exc, APIConnectionError):
        return f"is a KEI server running at {url}? check --url or KEI_API_URL (-v shows each attempt)"
    if isinstance(exc, ResponseValidationError):
        return f"the server at {url} did not answer as the KEI API specifies; is --url a KEI server?"
    if isinstance(exc, CircuitBreakerOpenError):
        return f"wait {exc.retry_after:.0f} s and try again"
    if isinstance(exc, SecurityError):
        return "check the authentication settings (KEI_AUTH_TYPE, KEI_OIDC_*, KEI_MTLS_*) and use https://"
    return "rerun with -v to see what happened"
