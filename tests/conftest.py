"""Shared fixtures. Cluster fixtures live in tests/fixtures/clusters.py, object
store servers in tests/fixtures/objectstores.py."""

import signal

pytest_plugins = ["tests.fixtures.clusters", "tests.fixtures.objectstores"]


def pytest_configure() -> None:
    """A shell without job control starts a background job (`./.ci/run &`) with SIGINT
    ignored, and every process it starts inherits that: the tests that press Ctrl-C on a
    backupctl would then wait for nothing. A Python handler here is reset to the default
    in each child at exec, so the children get Ctrl-C as a terminal would send it."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
