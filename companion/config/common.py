"""What every settings module shares: the environment and the secrets never to accept."""

from __future__ import annotations

from enum import StrEnum

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "test", "xxx", "token", "your-token"}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"
