"""Shared fixtures. Each fixture family lives in its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.common",
    "tests.fixtures.models",
    "tests.fixtures.pg",
    "tests.fixtures.indexes",
    "tests.fixtures.fake_eutils",
    "tests.fixtures.fake_nlm",
    "tests.fixtures.web",
    "tests.fixtures.citations",
]
