from __future__ import annotations

import pickle
import re
import subprocess
import sys
import traceback

import attrs
import pytest

from kei_agent import (
    DEFAULTS_TABLE,
    ENV_VARIABLES,
    AgentClientConfig,
    AuthType,
    ConfigurationError,
    ConnectionConfig,
    ProtocolConfig,
    RetryConfig,
    Secret,
    SecurityConfig,
    __version__,
)

CANARY = "canary-5d1e-secret-value"
BASE = "https://kei.example.com"


def paths(error: pytest.ExceptionInfo[ConfigurationError]) -> list[str]:
    return [problem.path for problem in error.value.problems]


@pytest.fixture
def pem_files(tmp_path, monkeypatch):
    """c.pem, k.pem (mode 600) and ca.pem in the current directory: SecurityConfig checks the files."""
    monkeypatch.chdir(tmp_path)
    for name in ("c.pem", "k.pem", "ca.pem"):
        (tmp_path / name).write_text("-----BEGIN PLACEHOLDER-----\n")
    (tmp_path / "k.pem").chmod(0o600)


# ------------------------------------------------------------------------------------- defaults

EXPECTED_DEFAULTS = {
    ConnectionConfig: {
        "timeout": 30.0,
        "connect_timeout": 10.0,
        "max_connections": 100,
        "max_keepalive_connections": 20,
        "keepalive_expiry": 30.0,
        "http2": False,
        "verify": True,
        "max_response_bytes": 32 * 1024 * 1024,
        "transport": "auto",
    },
    RetryConfig: {
        "max_attempts": 3,
        "base_delay": 0.5,
        "max_delay": 8.0,
        "jitter": True,
        "retry_after_max": 60.0,
        "deadline": 120.0,
        "breaker_failure_threshold": 5,
        "breaker_failure_rate": 0.5,
        "breaker_window": 20,
        "breaker_minimum_calls": 10,
        "breaker_open_seconds": 30.0,
        "breaker_half_open_probes": 1,
    },
    ProtocolConfig: {
        "rpc_enabled": True,
        "stream_enabled": True,
        "bus_enabled": True,
        "mcp_enabled": True,
        "auto_protocol_selection": True,
        "protocol_fallback_enabled": True,
        "fallback_cooldown_seconds": 30.0,
    },
    SecurityConfig: {
        "auth_type": AuthType.BEARER,
        "api_token": None,
        "token_provider": None,
        "rbac_enabled": False,
        "audit_enabled": False,
        "token_refresh_enabled": True,
        "token_refresh_leeway": 30.0,
        "oidc_issuer": None,
        "oidc_token_url": None,
        "oidc_client_id": None,
        "oidc_client_secret": None,
        "oidc_token_auth_method": "client_secret_basic",
        "oidc_scope": None,
        "oidc_audience": None,
        "mtls_cert_path": None,
        "mtls_key_path": None,
        "mtls_key_password": None,
        "mtls_ca_path": None,
    },
}


@pytest.mark.parametrize("cls", list(EXPECTED_DEFAULTS))
def test_defaults(cls):
    assert attrs.asdict(cls(), recurse=False) == EXPECTED_DEFAULTS[cls]


def test_agent_client_config_defaults():
    config = AgentClientConfig(BASE)
    assert config.base_url == BASE
    assert config.api_token is None
    assert config.agent_id == "kei-agent"
    assert config.tenant_id is None
    assert config.connection == ConnectionConfig()
    assert config.retry == RetryConfig()
    assert config.user_agent is None
    assert config.headers == {}
    assert config.validate_requests is True


def test_every_timeout_and_limit_default_is_finite():
    for cls, defaults in EXPECTED_DEFAULTS.items():
        for name, value in defaults.items():
            if isinstance(value, float):
                assert 0 < value < 1000, f"{cls.__name__}.{name}"


def test_defaults_table_covers_every_setting_with_its_default():
    rows = {setting: (default, meaning) for setting, default, meaning in DEFAULTS_TABLE}
    for cls, defaults in EXPECTED_DEFAULTS.items():
        for name, value in defaults.items():
            default, meaning = rows[f"{cls.__name__}.{name}"]
            expected = f"AuthType.{value.name}" if isinstance(value, AuthType) else repr(value)
            assert default == expected
            assert meaning
    assert rows["AgentClientConfig.base_url"][0] == "(required)"
    assert rows["AgentClientConfig.retry"][0] == "RetryConfig()"
    expected_count = sum(len(attrs.fields(cls)) for cls in (*EXPECTED_DEFAULTS, AgentClientConfig))
    assert len(DEFAULTS_TABLE) == expected_count


@pytest.mark.parametrize("cls", [*EXPECTED_DEFAULTS, AgentClientConfig])
def test_frozen(cls):
    config = cls(BASE) if cls is AgentClientConfig else cls()
    field = attrs.fields(cls)[-1].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(config, field, None)


def test_configs_are_hashable_and_picklable():
    config = AgentClientConfig(BASE, api_token=CANARY, headers={"X-Team": "a"})
    assert hash(config) == hash(AgentClientConfig(BASE, api_token=CANARY, headers={"X-Team": "b"}))
    clone = pickle.loads(pickle.dumps(config))
    assert clone == config
    assert clone.api_token is not None
    assert clone.api_token.reveal() == CANARY


# ------------------------------------------------------------------------- direct construction


def test_retry_config_reports_every_problem_at_once():
    with pytest.raises(ConfigurationError) as info:
        RetryConfig(
            max_attempts=0,
            base_delay=-1.0,
            max_delay=float("inf"),
            jitter="yes",  # type: ignore[arg-type]
            retry_after_max=-5.0,
            deadline=0.0,
            breaker_failure_threshold=0,
            breaker_failure_rate=1.5,
            breaker_window=0,
            breaker_minimum_calls=0,
            breaker_open_seconds=-1.0,
            breaker_half_open_probes=0,
        )
    assert paths(info) == [
        "retry.max_attempts",
        "retry.base_delay",
        "retry.max_delay",
        "retry.jitter",
        "retry.retry_after_max",
        "retry.deadline",
        "retry.breaker_failure_threshold",
        "retry.breaker_failure_rate",
        "retry.breaker_window",
        "retry.breaker_minimum_calls",
        "retry.breaker_open_seconds",
        "retry.breaker_half_open_probes",
    ]
    message = str(info.value)
    assert message.startswith("Invalid RetryConfig (12 problems):")
    assert "retry.max_attempts: must be at least 1, got 0 (fix: use 1 to disable retries, e.g. 3)" in message
    assert all(problem.hint for problem in info.value.problems if problem.path != "retry.jitter")


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"timeout": 0}, "connection.timeout", "greater than 0"),
        ({"timeout": float("nan")}, "connection.timeout", "finite"),
        ({"timeout": None}, "connection.timeout", "must be a number"),
        ({"connect_timeout": -1}, "connection.connect_timeout", "greater than 0"),
        ({"max_connections": 0}, "connection.max_connections", "at least 1"),
        ({"max_connections": 2.5}, "connection.max_connections", "must be an integer"),
        ({"max_connections": True}, "connection.max_connections", "must be an integer"),
        ({"max_keepalive_connections": 101}, "connection.max_keepalive_connections", "must not exceed max_connections"),
        ({"keepalive_expiry": -0.1}, "connection.keepalive_expiry", "at least 0"),
        ({"http2": "no"}, "connection.http2", "true or false"),
        ({"verify": ""}, "connection.verify", "CA bundle path"),
        ({"verify": 1}, "connection.verify", "CA bundle path"),
    ],
)
def test_connection_config_rejects(kwargs, path, fragment):
    with pytest.raises(ConfigurationError) as info:
        ConnectionConfig(**kwargs)
    assert paths(info) == [path]
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"max_delay": 0.1}, "retry.max_delay", "at least base_delay"),
        ({"breaker_minimum_calls": 21}, "retry.breaker_minimum_calls", "must not exceed breaker_window"),
        ({"breaker_failure_rate": 0.0}, "retry.breaker_failure_rate", "greater than 0"),
        ({"max_attempts": 2.0}, "retry.max_attempts", "must be an integer"),
    ],
)
def test_retry_config_cross_field_rules(kwargs, path, fragment):
    with pytest.raises(ConfigurationError) as info:
        RetryConfig(**kwargs)
    assert paths(info) == [path]
    assert fragment in str(info.value)


def test_valid_edge_values_are_accepted():
    assert (
        ConnectionConfig(verify="/etc/ssl/ca.pem", max_keepalive_connections=0, keepalive_expiry=0).verify
        == "/etc/ssl/ca.pem"
    )
    assert (
        RetryConfig(max_attempts=1, base_delay=0, max_delay=0, breaker_failure_rate=1.0, breaker_window=10).max_attempts
        == 1
    )
    assert ProtocolConfig(fallback_cooldown_seconds=0, rpc_enabled=False).rpc_enabled is False


@pytest.mark.parametrize(
    "url",
    [
        "https://kei.example.com",
        "http://localhost:8000",
        "https://kei.example.com/prefix/",
        "http://127.0.0.1:9/api",
        "http://[::1]:8080",
    ],
)
def test_base_url_accepted(url):
    assert AgentClientConfig(url).base_url == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://kei.example.com", "must use http or https"),
        ("kei.example.com", "must use http or https"),
        ("https://", "must include a host"),
        ("https:///path", "must include a host"),
        (f"https://user:{CANARY}@kei.example.com", "must not contain credentials"),
        (f"https://kei.example.com/?token={CANARY}", "must not contain a query string"),
        ("https://kei.example.com:99999999", "not a valid URL"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        (None, "is required"),
        (42, "must be a string"),
    ],
)
def test_base_url_rejected_with_a_fix(url, fragment):
    with pytest.raises(ConfigurationError) as info:
        AgentClientConfig(url)
    assert paths(info) == ["base_url"]
    assert fragment in str(info.value)
    assert CANARY not in str(info.value)
    assert info.value.problems[0].hint


def test_agent_client_config_reports_problems_of_all_its_fields():
    with pytest.raises(ConfigurationError) as info:
        AgentClientConfig(
            "ftp://x",
            api_token="",
            agent_id="",
            tenant_id="t\r\nX-Evil: 1",
            user_agent="ü-agent",
            headers={"Authorization": f"Bearer {CANARY}", "Bad Name": "x", "X-Ok": f"{CANARY}\n"},
            validate_requests="no",  # type: ignore[arg-type]
            retry=object(),  # type: ignore[arg-type]
        )
    assert paths(info) == [
        "base_url",
        "api_token",
        "agent_id",
        "tenant_id",
        "user_agent",
        "retry",
        "validate_requests",
        "headers['Authorization']",
        "headers",
        "headers['X-Ok']",
    ]
    assert CANARY not in str(info.value)


def test_api_token_is_a_secret_and_never_shown():
    config = AgentClientConfig(BASE, api_token=CANARY)
    assert isinstance(config.api_token, Secret)
    assert config.api_token.reveal() == CANARY
    assert AgentClientConfig(BASE, api_token=Secret(CANARY)).api_token == Secret(CANARY)
    for text in (repr(config), str(config), f"{config}"):
        assert CANARY not in text
        assert "Secret('********')" in text


def test_headers_are_copied_and_masked_in_repr():
    source = {"X-Team": CANARY}
    config = AgentClientConfig(BASE, headers=source)
    source["X-Team"] = "changed"
    assert config.headers == {"X-Team": CANARY}
    assert CANARY not in repr(config)
    assert "headers={'X-Team': '***'}" in repr(config)


@pytest.mark.parametrize("name", ["Authorization", "user-agent", "X-Agent-ID", "x-tenant-id", "Proxy-Authorization"])
def test_headers_with_a_dedicated_setting_are_rejected(name):
    with pytest.raises(ConfigurationError) as info:
        AgentClientConfig(BASE, headers={name: "x"})
    assert paths(info) == [f"headers[{name!r}]"]
    assert "is set by the client" in str(info.value)


def test_effective_user_agent():
    default = AgentClientConfig(BASE).effective_user_agent
    python = ".".join(map(str, sys.version_info[:3]))
    assert default == f"kei-agent-py-sdk/{__version__} python/{python}"
    assert re.fullmatch(r"kei-agent-py-sdk/\d+\.\d+\.\d+\S* python/\d+\.\d+\.\d+", default)
    assert AgentClientConfig(BASE, user_agent="my-app/1.0").effective_user_agent == "my-app/1.0"


def test_protocol_config_rejects_disabling_everything():
    with pytest.raises(ConfigurationError) as info:
        ProtocolConfig(
            rpc_enabled=False,
            stream_enabled=False,
            bus_enabled=False,
            mcp_enabled=False,
            fallback_cooldown_seconds=-1,
            auto_protocol_selection=1,  # type: ignore[arg-type]
        )
    assert paths(info) == ["auto_protocol_selection", "rpc_enabled", "fallback_cooldown_seconds"]


# -------------------------------------------------------------------------------- SecurityConfig


@pytest.mark.parametrize("value", ["oidc", "OIDC", " Oidc ", AuthType.OIDC])
def test_auth_type_accepts_strings(value):
    config = SecurityConfig(
        auth_type=value, oidc_issuer="https://id.example.com", oidc_client_id="c", oidc_client_secret=CANARY
    )
    assert config.auth_type is AuthType.OIDC
    assert isinstance(config.oidc_client_secret, Secret)
    assert CANARY not in repr(config)


def test_auth_type_rejects_unknown_values():
    with pytest.raises(ConfigurationError) as info:
        SecurityConfig(auth_type="kerberos")
    assert paths(info) == ["auth_type"]
    assert "bearer, oidc, mtls, none" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "expected_paths"),
    [
        ({"auth_type": AuthType.OIDC}, ["oidc_issuer", "oidc_client_id", "oidc_client_secret"]),
        (
            {"auth_type": AuthType.OIDC, "oidc_token_url": "https://id.example.com/token"},
            ["oidc_client_id", "oidc_client_secret"],
        ),
        (
            {
                "auth_type": AuthType.OIDC,
                "oidc_issuer": "id.example.com",
                "oidc_client_id": "c",
                "oidc_client_secret": "s",
            },
            ["oidc_issuer"],
        ),
        (
            {"auth_type": AuthType.OIDC, "oidc_issuer": "https://i", "oidc_client_id": "c", "oidc_client_secret": ""},
            ["oidc_client_secret"],
        ),
        ({"auth_type": AuthType.MTLS}, ["mtls_cert_path", "mtls_key_path"]),
        ({"auth_type": AuthType.MTLS, "mtls_cert_path": "missing.pem"}, ["mtls_cert_path", "mtls_key_path"]),
        ({"token_refresh_leeway": -1, "rbac_enabled": "yes"}, ["rbac_enabled", "token_refresh_leeway"]),
    ],
)
def test_security_config_required_fields_per_auth_type(kwargs, expected_paths):
    with pytest.raises(ConfigurationError) as info:
        SecurityConfig(**kwargs)
    assert paths(info) == expected_paths


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"auth_type": AuthType.NONE},
        {"auth_type": AuthType.BEARER, "api_token": "t"},
        {"auth_type": AuthType.MTLS, "mtls_cert_path": "c.pem", "mtls_key_path": "k.pem"},
        {
            "auth_type": AuthType.OIDC,
            "oidc_token_url": "https://i/token",
            "oidc_client_id": "c",
            "oidc_client_secret": "s",
        },
    ],
)
def test_security_config_valid(kwargs, pem_files):
    assert isinstance(SecurityConfig(**kwargs), SecurityConfig)


# -------------------------------------------------------------------------------------- from_dict


def test_from_dict_nested_with_string_coercion():
    config = AgentClientConfig.from_dict(
        {
            "base_url": BASE,
            "api_token": CANARY,
            "agent_id": "planner",
            "connection": {"timeout": "12.5", "max_connections": "50", "http2": "true", "verify": "false"},
            "retry": {"max_attempts": "5", "jitter": "off", "breaker_failure_rate": "0.25", "deadline": 30},
            "headers": {"X-Team": "core"},
            "validate_requests": "0",
        }
    )
    assert config.connection == ConnectionConfig(timeout=12.5, max_connections=50, http2=True, verify=False)
    assert config.retry == RetryConfig(max_attempts=5, jitter=False, breaker_failure_rate=0.25, deadline=30.0)
    assert config.api_token == Secret(CANARY)
    assert config.headers == {"X-Team": "core"}
    assert config.validate_requests is False
    assert isinstance(config.connection.timeout, float)
    assert isinstance(config.retry.max_attempts, int)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("FALSE", False), ("/etc/ca.pem", "/etc/ca.pem"), (True, True), ("1", True), ("system", "system")],
)
def test_from_dict_verify_is_a_flag_or_a_path(raw, expected):
    assert AgentClientConfig.from_dict({"base_url": BASE, "connection": {"verify": raw}}).connection.verify == expected


def test_kei_verify_system_selects_the_system_trust_store():
    config = AgentClientConfig.from_env({"KEI_API_URL": BASE, "KEI_VERIFY": "system"})
    assert config.connection.verify == "system"


def test_from_dict_accepts_section_instances():
    retry = RetryConfig(max_attempts=7)
    assert AgentClientConfig.from_dict({"base_url": BASE, "retry": retry}).retry is retry


def test_from_dict_reports_everything_at_once():
    with pytest.raises(ConfigurationError) as info:
        AgentClientConfig.from_dict(
            {
                "base_url": "ftp://kei.example.com",
                "api_token": 12345,
                "agnet_id": "typo",
                "connection": {"timeout": "soon", "max_keepalive_connections": 500, "colour": "blue"},
                "retry": {"max_attempts": "0", "base_delay": "x", "jitter": "maybe", "breaker_window": 3},
                "validate_requests": "perhaps",
            }
        )
    assert paths(info) == [
        "base_url",
        "api_token",
        "connection.timeout",
        "connection.max_keepalive_connections",
        "connection.colour",
        "retry.max_attempts",
        "retry.base_delay",
        "retry.jitter",
        "retry.breaker_minimum_calls",
        "validate_requests",
        "agnet_id",
    ]
    message = str(info.value)
    assert "agnet_id: unknown setting (fix: did you mean 'agent_id'?)" in message
    assert "retry.base_delay: must be a number, got 'x'" in message
    assert "12345" not in message  # the token's value is never echoed


@pytest.mark.parametrize(
    ("data", "expected_paths"),
    [
        ({}, ["base_url"]),
        ({"base_url": BASE, "retry": "fast"}, ["retry"]),
        ({"base_url": BASE, "retry": {"max_attempts": True}}, ["retry.max_attempts"]),
        ({"base_url": BASE, "retry": {"max_attempts": "2.5"}}, ["retry.max_attempts"]),
        ({"base_url": BASE, "headers": ["X-A"]}, ["headers"]),
        ({"base_url": BASE, "agent_id": 7}, ["agent_id"]),
        ({"base_url": BASE, 3: "x"}, ["3"]),
    ],
)
def test_from_dict_problems(data, expected_paths):
    with pytest.raises(ConfigurationError) as info:
        AgentClientConfig.from_dict(data)
    assert paths(info) == expected_paths


def test_other_configs_from_dict(pem_files):
    assert ProtocolConfig.from_dict({"bus_enabled": "no", "fallback_cooldown_seconds": "5"}) == ProtocolConfig(
        bus_enabled=False, fallback_cooldown_seconds=5.0
    )
    security = SecurityConfig.from_dict({"auth_type": "MTLS", "mtls_cert_path": "c.pem", "mtls_key_path": "k.pem"})
    assert security.auth_type is AuthType.MTLS
    with pytest.raises(ConfigurationError) as info:
        SecurityConfig.from_dict({"auth_type": "magic", "oidc_client_secret": 5, "extra": 1})
    assert paths(info) == ["auth_type", "oidc_client_secret", "extra"]


# --------------------------------------------------------------------------------------- from_env

FULL_ENV = {
    "KEI_API_URL": "https://env.example.com",
    "KEI_API_TOKEN": CANARY,
    "KEI_AGENT_ID": "env-agent",
    "KEI_TENANT_ID": "tenant-1",
    "KEI_USER_AGENT": "env-app/2.0",
    "KEI_VALIDATE_REQUESTS": "false",
    "KEI_TIMEOUT": "11",
    "KEI_CONNECT_TIMEOUT": "3.5",
    "KEI_MAX_CONNECTIONS": "40",
    "KEI_MAX_KEEPALIVE_CONNECTIONS": "4",
    "KEI_KEEPALIVE_EXPIRY": "9",
    "KEI_HTTP2": "yes",
    "KEI_VERIFY": "/etc/kei/ca.pem",
    "KEI_MAX_RESPONSE_BYTES": "1048576",
    "KEI_TRANSPORT": " HTTPX ",
    "KEI_MAX_ATTEMPTS": "6",
    "KEI_BASE_DELAY": "0.1",
    "KEI_MAX_DELAY": "2",
    "KEI_JITTER": "false",
    "KEI_RETRY_AFTER_MAX": "15",
    "KEI_DEADLINE": "45",
    "KEI_BREAKER_FAILURE_THRESHOLD": "8",
    "KEI_BREAKER_FAILURE_RATE": "0.75",
    "KEI_BREAKER_WINDOW": "40",
    "KEI_BREAKER_MINIMUM_CALLS": "12",
    "KEI_BREAKER_OPEN_SECONDS": "17",
    "KEI_BREAKER_HALF_OPEN_PROBES": "2",
}


def test_from_env_reads_every_variable():
    config = AgentClientConfig.from_env(FULL_ENV)
    assert config == AgentClientConfig(
        "https://env.example.com",
        api_token=CANARY,
        agent_id="env-agent",
        tenant_id="tenant-1",
        user_agent="env-app/2.0",
        validate_requests=False,
        connection=ConnectionConfig(
            timeout=11.0,
            connect_timeout=3.5,
            max_connections=40,
            max_keepalive_connections=4,
            keepalive_expiry=9.0,
            http2=True,
            verify="/etc/kei/ca.pem",
            max_response_bytes=1048576,
            transport="httpx",
        ),
        retry=RetryConfig(
            max_attempts=6,
            base_delay=0.1,
            max_delay=2.0,
            jitter=False,
            retry_after_max=15.0,
            deadline=45.0,
            breaker_failure_threshold=8,
            breaker_failure_rate=0.75,
            breaker_window=40,
            breaker_minimum_calls=12,
            breaker_open_seconds=17.0,
            breaker_half_open_probes=2,
        ),
    )


def test_env_variables_table_lists_every_variable():
    for name in FULL_ENV:
        assert ENV_VARIABLES[name].startswith("AgentClientConfig.")
    assert ENV_VARIABLES["KEI_MAX_ATTEMPTS"] == "AgentClientConfig.retry.max_attempts"
    assert ENV_VARIABLES["KEI_API_TOKEN"] == "AgentClientConfig.api_token, SecurityConfig.api_token"
    assert ENV_VARIABLES["KEI_RPC_ENABLED"] == "ProtocolConfig.rpc_enabled"
    assert ENV_VARIABLES["KEI_OIDC_CLIENT_SECRET"] == "SecurityConfig.oidc_client_secret"
    assert len(ENV_VARIABLES) == len(FULL_ENV) + 7 + 16  # protocol + security (api token shared)


def test_from_env_with_a_prefix_and_empty_values():
    env = {"ACME_API_URL": " http://localhost:8000 ", "ACME_API_TOKEN": "", "ACME_TIMEOUT": "  ", "KEI_TIMEOUT": "1"}
    config = AgentClientConfig.from_env(env, prefix="ACME_")
    assert config.base_url == "http://localhost:8000"
    assert config.api_token is None
    assert config.connection.timeout == 30.0


def test_from_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("KEI_API_URL", "https://from-os.example.com")
    monkeypatch.setenv("KEI_MAX_ATTEMPTS", "2")
    config = AgentClientConfig.from_env()
    assert (config.base_url, config.retry.max_attempts) == ("https://from-os.example.com", 2)


def test_from_env_problems_name_the_variables():
    env = {
        "KEI_API_TOKEN": CANARY,
        "KEI_MAX_ATTEMPTS": "zero",
        "KEI_HTTP2": "perhaps",
        "KEI_MAX_KEEPALIVE_CONNECTIONS": "500",
        "KEI_BREAKER_FAILURE_RATE": "2",
        "KEI_AGENT_ID": "agent\x00",
    }
    with pytest.raises(ConfigurationError) as info:
        AgentClientConfig.from_env(env)
    assert paths(info) == [
        "KEI_API_URL",
        "KEI_AGENT_ID",
        "KEI_MAX_KEEPALIVE_CONNECTIONS",
        "KEI_HTTP2",
        "KEI_MAX_ATTEMPTS",
        "KEI_BREAKER_FAILURE_RATE",
    ]
    message = str(info.value)
    assert "KEI_API_URL: is required (base_url) (fix: set KEI_API_URL)" in message
    assert "KEI_MAX_ATTEMPTS: must be an integer, got 'zero' (retry.max_attempts)" in message
    assert CANARY not in message


def sdk_frame_locals(error: BaseException) -> str:
    """The repr of every local of every SDK frame the error passed through."""
    rendered = []
    for frame, _ in traceback.walk_tb(error.__traceback__):
        if "/kei_agent/" in frame.f_code.co_filename:
            rendered.extend(f"{name}={value!r}" for name, value in frame.f_locals.items())
    return "\n".join(rendered)


@pytest.mark.parametrize(
    "build",
    [
        lambda: AgentClientConfig.from_env(
            {"KEI_API_URL": f"https://user:{CANARY}@h.example", "KEI_API_TOKEN": CANARY, "KEI_TIMEOUT": "-1"}
        ),
        lambda: AgentClientConfig.from_dict(
            {"base_url": f"https://user:{CANARY}@h.example", "api_token": CANARY, "retry": {"max_attempts": 0}}
        ),
        lambda: AgentClientConfig(f"https://user:{CANARY}@h.example", api_token=CANARY, headers={"X-K": CANARY}),
        lambda: SecurityConfig.from_env({"KEI_AUTH_TYPE": "oidc", "KEI_OIDC_CLIENT_SECRET": CANARY}),
        lambda: SecurityConfig(auth_type="mtls", oidc_client_secret=CANARY, api_token=CANARY),
    ],
)
def test_secrets_never_reach_messages_or_traceback_locals(build):
    with pytest.raises(ConfigurationError) as info:
        build()
    assert CANARY not in str(info.value)
    assert CANARY not in repr(info.value)
    frames = sdk_frame_locals(info.value)
    assert "self=" in frames or "values=" in frames or "cls=" in frames  # SDK frames were inspected
    assert CANARY not in frames


def test_protocol_config_from_env():
    env = {
        "KEI_RPC_ENABLED": "false",
        "KEI_STREAM_ENABLED": "0",
        "KEI_BUS_ENABLED": "true",
        "KEI_MCP_ENABLED": "no",
        "KEI_AUTO_PROTOCOL_SELECTION": "off",
        "KEI_PROTOCOL_FALLBACK_ENABLED": "false",
        "KEI_FALLBACK_COOLDOWN_SECONDS": "4",
    }
    assert ProtocolConfig.from_env(env) == ProtocolConfig(
        rpc_enabled=False,
        stream_enabled=False,
        bus_enabled=True,
        mcp_enabled=False,
        auto_protocol_selection=False,
        protocol_fallback_enabled=False,
        fallback_cooldown_seconds=4.0,
    )
    with pytest.raises(ConfigurationError) as info:
        ProtocolConfig.from_env({"KEI_FALLBACK_COOLDOWN_SECONDS": "-2"})
    assert paths(info) == ["KEI_FALLBACK_COOLDOWN_SECONDS"]


def test_security_config_from_env(pem_files):
    env = {
        "KEI_AUTH_TYPE": "oidc",
        "KEI_API_TOKEN": "bearer-token",
        "KEI_RBAC_ENABLED": "true",
        "KEI_AUDIT_ENABLED": "true",
        "KEI_TOKEN_REFRESH_ENABLED": "false",
        "KEI_TOKEN_REFRESH_LEEWAY": "5",
        "KEI_OIDC_ISSUER": "https://id.example.com",
        "KEI_OIDC_TOKEN_URL": "https://id.example.com/token",
        "KEI_OIDC_CLIENT_ID": "client",
        "KEI_OIDC_CLIENT_SECRET": CANARY,
        "KEI_OIDC_SCOPE": "kei:plan kei:act",
        "KEI_OIDC_AUDIENCE": "https://kei.example.com",
        "KEI_MTLS_CERT_PATH": "c.pem",
        "KEI_MTLS_KEY_PATH": "k.pem",
        "KEI_MTLS_CA_PATH": "ca.pem",
    }
    config = SecurityConfig.from_env(env)
    assert config == SecurityConfig(
        auth_type=AuthType.OIDC,
        api_token="bearer-token",
        rbac_enabled=True,
        audit_enabled=True,
        token_refresh_enabled=False,
        token_refresh_leeway=5.0,
        oidc_issuer="https://id.example.com",
        oidc_token_url="https://id.example.com/token",
        oidc_client_id="client",
        oidc_client_secret=CANARY,
        oidc_scope="kei:plan kei:act",
        oidc_audience="https://kei.example.com",
        mtls_cert_path="c.pem",
        mtls_key_path="k.pem",
        mtls_ca_path="ca.pem",
    )
    assert set(env) <= set(ENV_VARIABLES)
    assert CANARY not in repr(config)
    with pytest.raises(ConfigurationError) as info:
        SecurityConfig.from_env({"KEI_AUTH_TYPE": "oidc", "KEI_OIDC_CLIENT_SECRET": CANARY})
    assert paths(info) == ["KEI_OIDC_ISSUER", "KEI_OIDC_CLIENT_ID"]
    assert CANARY not in str(info.value)


def test_importing_the_core_stays_light():
    code = (
        "import sys, kei_agent, kei_agent.policies;"
        "heavy = {'cattrs', 'requests_oauthlib', 'oauthlib', 'httpx'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
