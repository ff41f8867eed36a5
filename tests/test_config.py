"""Settings: the class picked by APP_ENV, typed overrides from the environment, validation."""

from __future__ import annotations

import pytest

from app.config import (
    ENVIRONMENTS,
    ConfigError,
    config_from_env,
    demo_users_warning,
    settings_of,
    startup_problems,
    validate,
)
from app.helpers.keyring import new_key


@pytest.mark.parametrize(
    ("environ", "app_env", "rounds", "seed", "region", "prefix"),
    [
        ({}, "development", 12, False, "us-east-1", ""),
        ({"APP_ENV": "development"}, "development", 12, False, "us-east-1", ""),
        ({"APP_ENV": "testing"}, "testing", 4, True, "us-east-1", "test_"),
        ({"APP_ENV": "production"}, "production", 12, False, None, ""),
    ],
)
def test_config_from_env_picks_class_by_app_env(environ, app_env, rounds, seed, region, prefix):
    settings = config_from_env(environ)

    assert settings["APP_ENV"] == app_env
    assert settings["BCRYPT_ROUNDS"] == rounds
    assert settings["SEED_DEMO_USERS"] is seed
    assert settings["AWS_REGION"] == region
    assert settings["TABLE_PREFIX"] == prefix


def test_config_from_env_sets_testing_flag_only_in_testing():
    assert config_from_env({"APP_ENV": "testing"})["TESTING"] is True
    assert "TESTING" not in config_from_env({"APP_ENV": "production"})


@pytest.mark.parametrize(
    ("app_env", "name", "raw", "expected"),
    [
        ("development", "SEED_DEMO_USERS", "false", False),
        ("development", "SEED_DEMO_USERS", "0", False),
        ("development", "SEED_DEMO_USERS", "no", False),
        ("development", "SEED_DEMO_USERS", "off", False),
        ("development", "SEED_DEMO_USERS", " OFF ", False),
        ("production", "SEED_DEMO_USERS", "true", True),
        ("production", "SEED_DEMO_USERS", "1", True),
        ("production", "SEED_DEMO_USERS", "yes", True),
        ("production", "SEED_DEMO_USERS", "On", True),
        ("development", "BCRYPT_ROUNDS", "10", 10),
        ("development", "PORT", "8080", 8080),
        ("development", "DYNAMODB_MAX_ATTEMPTS", " 5 ", 5),
        ("development", "DYNAMODB_READ_CAPACITY", "25", 25),
        ("development", "DYNAMODB_READ_TIMEOUT", "2.5", 2.5),
        ("development", "DYNAMODB_CONNECT_TIMEOUT", "3", 3.0),
        ("development", "TABLE_PREFIX", "prod_", "prod_"),
        ("testing", "TABLE_PREFIX", "", ""),
        ("development", "LOG_LEVEL", "DEBUG", "DEBUG"),
        ("development", "DYNAMODB_BILLING", "PROVISIONED", "PROVISIONED"),
        ("production", "AWS_REGION", "eu-west-1", "eu-west-1"),
        (
            "development",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "http://localhost:8000",
            "http://localhost:8000",
        ),
        ("development", "AWS_ENDPOINT_URL_DYNAMODB", "", None),
    ],
)
def test_config_from_env_parses_override_to_setting_type(app_env, name, raw, expected):
    settings = config_from_env({"APP_ENV": app_env, name: raw})

    assert settings[name] == expected
    assert type(settings[name]) is type(expected)


def test_config_from_env_keeps_app_env_of_chosen_class():
    settings = config_from_env({"APP_ENV": "production", "BCRYPT_ROUNDS": "13"})

    assert settings["APP_ENV"] == "production"
    assert settings["SEED_DEMO_USERS"] is False
    assert settings["BCRYPT_ROUNDS"] == 13


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("APP_ENV", "staging"),
        ("APP_ENV", ""),
        ("BCRYPT_ROUNDS", "abc"),
        ("BCRYPT_ROUNDS", "12.5"),
        ("BCRYPT_ROUNDS", ""),
        ("BCRYPT_ROUNDS", "3"),
        ("BCRYPT_ROUNDS", "32"),
        ("SEED_DEMO_USERS", "maybe"),
        ("SEED_DEMO_USERS", ""),
        ("SEED_DEMO_USERS", "2"),
        ("DYNAMODB_BILLING", "FREE"),
        ("DYNAMODB_BILLING", "pay_per_request"),
        ("PORT", "http"),
        ("DYNAMODB_READ_CAPACITY", "0"),
        ("DYNAMODB_WRITE_CAPACITY", "-5"),
        ("DYNAMODB_MAX_ATTEMPTS", "0"),
        ("DYNAMODB_READ_TIMEOUT", "soon"),
        ("DYNAMODB_READ_TIMEOUT", "0"),
        ("DYNAMODB_CONNECT_TIMEOUT", "-1"),
        ("DYNAMODB_READ_TIMEOUT", "nan"),
        ("DYNAMODB_CONNECT_TIMEOUT", "inf"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_LEVEL", "info"),
    ],
)
def test_config_from_env_rejects_invalid_value_naming_variable(name, raw):
    with pytest.raises(ConfigError, match=name):
        config_from_env({name: raw})


def test_config_from_env_names_every_invalid_setting():
    with pytest.raises(ConfigError) as error:
        config_from_env({"DYNAMODB_BILLING": "FREE", "BCRYPT_ROUNDS": "2"})

    assert "DYNAMODB_BILLING" in str(error.value)
    assert "BCRYPT_ROUNDS" in str(error.value)


@pytest.mark.parametrize("app_env", sorted(ENVIRONMENTS))
def test_validate_accepts_defaults_of_every_environment(app_env):
    validate(settings_of(ENVIRONMENTS[app_env]))


@pytest.mark.parametrize(
    ("environ", "region"),
    [
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1"),
        ({"APP_ENV": "production", "AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1"),
        ({"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-west-1"}, "eu-central-1"),
        ({"AWS_DEFAULT_REGION": ""}, "us-east-1"),
    ],
)
def test_config_from_env_falls_back_to_aws_default_region(environ, region):
    assert config_from_env(environ)["AWS_REGION"] == region


def test_config_from_env_treats_empty_aws_region_as_unset():
    settings = config_from_env({"AWS_REGION": "", "AWS_DEFAULT_REGION": "eu-west-1"})

    assert settings["AWS_REGION"] == "eu-west-1"


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        ({"AWS_ENDPOINT_URL": "http://localhost:4566"}, "http://localhost:4566"),
        (
            {
                "AWS_ENDPOINT_URL": "http://localhost:4566",
                "AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:8000",
            },
            "http://localhost:8000",
        ),
        ({"AWS_ENDPOINT_URL": ""}, None),
        ({}, None),
    ],
)
def test_config_from_env_falls_back_to_aws_endpoint_url(environ, endpoint):
    assert config_from_env(environ)["AWS_ENDPOINT_URL_DYNAMODB"] == endpoint


def test_startup_needs_a_region_even_with_an_endpoint():
    settings = production()
    settings["AWS_ENDPOINT_URL_DYNAMODB"] = "http://127.0.0.1:8000"

    problems, _ = startup_problems(settings, workers=1, default_region=None)

    assert problems == [
        "AWS_REGION is needed with AWS_ENDPOINT_URL_DYNAMODB too: requests are signed with it"
    ]
    assert startup_problems(settings, workers=1, default_region="eu-west-1")[0] == []


# -- Production start-up checks (run.py and gunicorn.conf.py run them) -----------------------


def production() -> dict:
    """Production's defaults, with the key second factors need."""
    return {**settings_of(ENVIRONMENTS["production"]), "SECRET_KEYS": new_key()}


def test_production_refuses_second_factors_without_a_key():
    settings = {**production(), "AWS_REGION": "eu-west-1", "SECRET_KEYS": ""}

    problems, _ = startup_problems(settings, workers=1, default_region=None)

    assert any(p.startswith("SECOND_FACTORS is on but SECRET_KEYS is empty") for p in problems)
    settings["SECOND_FACTORS"] = False
    assert not any(
        "SECRET_KEYS" in p for p in startup_problems(settings, workers=1, default_region=None)[0]
    )


def production_with_mail() -> dict:
    """Production's defaults, with mail sent through SMTP to links on a public address."""
    settings = production()
    settings.update(MAIL_BACKEND="smtp", PUBLIC_URL="https://accounts.example.com")
    return settings


def test_startup_warns_about_per_worker_rate_limit_storage():
    settings = production_with_mail()
    settings.update(AWS_REGION="eu-west-1", TRUSTED_PROXY_COUNT=1)
    assert startup_problems(settings, workers=5, default_region=None) == ([], [])  # DynamoDB
    settings["RATELIMIT_STORAGE_URI"] = "memory://"

    problems, warnings = startup_problems(settings, workers=5, default_region=None)

    assert problems == []
    assert len(warnings) == 1
    assert "each worker counts on its own" in warnings[0]
    assert startup_problems(settings, workers=1, default_region=None) == ([], [])


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_startup_warns_when_a_proxy_must_be_in_front_but_none_is_trusted(host):
    settings = production_with_mail()
    settings.update(AWS_REGION="eu-west-1", HOST=host)

    problems, warnings = startup_problems(settings, workers=1, default_region=None)

    assert problems == []
    assert warnings == [
        f"HOST={host} is a loopback address, so a proxy must be in front, but "
        "TRUSTED_PROXY_COUNT is 0: every client will have the proxy's address and share "
        "one rate-limit budget; set it to the number of proxies"
    ]
    settings["TRUSTED_PROXY_COUNT"] = 1
    assert startup_problems(settings, workers=1, default_region=None) == ([], [])


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "app.internal"])  # noqa: S104
def test_startup_trusts_no_proxy_quietly_on_a_reachable_host(host):
    settings = production_with_mail()
    settings.update(AWS_REGION="eu-west-1", HOST=host)

    assert startup_problems(settings, workers=1, default_region=None) == ([], [])


def test_production_refuses_to_seed_the_demo_users():
    settings = production()
    settings.update(AWS_REGION="eu-west-1", TRUSTED_PROXY_COUNT=1, SEED_DEMO_USERS=True)

    problems, _ = startup_problems(settings, workers=1, default_region=None)

    assert problems == [
        "SEED_DEMO_USERS is on: production would create the published demo accounts "
        "(johndoe and janedoe, an admin with a published password)"
    ]


@pytest.mark.parametrize(
    ("host", "seed", "warned"),
    [
        ("0.0.0.0", True, True),  # noqa: S104
        ("192.168.1.20", True, True),
        ("::", True, True),
        ("127.0.0.1", True, False),
        ("localhost", True, False),
        ("0.0.0.0", False, False),  # noqa: S104
    ],
)
def test_demo_users_on_a_reachable_host_are_warned_about(host, seed, warned):
    settings = {"HOST": host, "SEED_DEMO_USERS": seed}

    warning = demo_users_warning(settings)

    if warned:
        assert warning == (
            f"HOST={host} can be reached from other machines, and the published demo accounts "
            "johndoe and janedoe are seeded (johndoe is an admin): anyone who can reach it can "
            "sign in as them; set SEED_DEMO_USERS=false or listen on 127.0.0.1"
        )
    else:
        assert warning is None


def test_startup_accepts_a_region_from_the_aws_configuration():
    settings = production()

    assert startup_problems(settings, workers=1, default_region="eu-west-1")[0] == []
    assert startup_problems(settings, workers=1, default_region=None)[0]


@pytest.mark.parametrize("environment", ["development", "testing"])
def test_startup_checks_only_production(environment):
    settings = settings_of(ENVIRONMENTS[environment])

    assert startup_problems(settings, workers=9, default_region=None) == ([], [])


def test_production_refuses_the_development_dynamodb_engine():
    settings = production()
    settings.update(AWS_REGION="eu-west-1", TRUSTED_PROXY_COUNT=1, DYNAMODB_ENGINE="local")

    problems, _ = startup_problems(settings, workers=1, default_region=None)

    assert problems == [
        "DYNAMODB_ENGINE=local starts a development DynamoDB; production uses AWS_REGION or "
        "AWS_ENDPOINT_URL_DYNAMODB"
    ]


@pytest.mark.parametrize("engine", ["moto", "local"])
def test_the_dynamodb_engine_is_read_from_the_environment(engine):
    assert config_from_env({"DYNAMODB_ENGINE": engine})["DYNAMODB_ENGINE"] == engine


def test_an_unknown_dynamodb_engine_stops_start_up():
    with pytest.raises(ConfigError) as refused:
        config_from_env({"DYNAMODB_ENGINE": "dynalite"})

    assert refused.value.problems == ["DYNAMODB_ENGINE must be moto or local"]


@pytest.mark.parametrize(
    ("mail", "public_url", "errors", "warnings"),
    [
        ("memory", "https://a.example.com", ["MAIL_BACKEND=memory keeps every message"], []),
        ("console", "", [], ["MAIL_BACKEND=console writes messages to the log"]),
        ("smtp", "", ["MAIL_BACKEND=smtp sends links to the dashboard, but PUBLIC_URL"], []),
        ("ses", "", ["MAIL_BACKEND=ses sends links to the dashboard, but PUBLIC_URL"], []),
        ("ses", "https://a.example.com", [], []),
    ],
)
def test_production_checks_the_mail_settings(mail, public_url, errors, warnings):
    settings = production()
    settings.update(
        AWS_REGION="eu-west-1", TRUSTED_PROXY_COUNT=1, MAIL_BACKEND=mail, PUBLIC_URL=public_url
    )

    found_errors, found_warnings = startup_problems(settings, workers=1, default_region=None)

    assert [e[: len(p)] for e, p in zip(found_errors, errors, strict=True)] == errors
    assert [w[: len(p)] for w, p in zip(found_warnings, warnings, strict=True)] == warnings


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("MAIL_BACKEND", "carrier-pigeon", "MAIL_BACKEND must be console, smtp, ses, memory"),
        ("SMTP_SECURITY", "ssl", "SMTP_SECURITY must be starttls, tls, none"),
        ("SMTP_PORT", "0", "SMTP_PORT must be between 1 and 65535"),
        ("SMTP_TIMEOUT", "nan", "SMTP_TIMEOUT must be a positive finite number of seconds"),
        ("MAIL_QUEUE_SIZE", "0", "MAIL_QUEUE_SIZE must be at least 1"),
        ("MAIL_WORKERS", "0", "MAIL_WORKERS must be at least 1"),
        ("MAIL_ATTEMPTS", "0", "MAIL_ATTEMPTS must be at least 1"),
        ("PASSWORD_RESET_TTL", "0", "PASSWORD_RESET_TTL must be at least 1"),
        ("EMAIL_VERIFICATION_TTL", "-5", "EMAIL_VERIFICATION_TTL must be at least 1"),
        ("PUBLIC_URL", "accounts.example.com", "PUBLIC_URL must be an http(s) address"),
        ("PUBLIC_URL", "https://accounts.example.com/#/x", "PUBLIC_URL must be an http(s) address"),
        ("TEMPLATE_FOLDER", "/no/such/folder", "TEMPLATE_FOLDER='/no/such/folder' is not a folder"),
        ("MAIL_PER_ACCOUNT", "often", "MAIL_PER_ACCOUNT must be a rate limit"),
        ("RATELIMIT_MAIL", "lots", "RATELIMIT_MAIL must be a rate limit"),
        ("RATELIMIT_TOKENS", "many", "RATELIMIT_TOKENS must be a rate limit"),
    ],
)
def test_mail_settings_that_cannot_work_are_refused(name, value, problem):
    with pytest.raises(ConfigError) as refused:
        config_from_env({name: value})

    assert any(found.startswith(problem) for found in refused.value.problems)
