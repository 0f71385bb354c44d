"""Shared fixtures. Cluster fixtures live in tests/fixtures/clusters.py, object
store servers in tests/fixtures/objectstores.py."""

pytest_plugins = ["tests.fixtures.clusters", "tests.fixtures.objectstores"]
