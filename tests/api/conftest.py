"""The lead-test builders are shared with the API tests."""

from tests.leads.conftest import World, world  # noqa: F401
