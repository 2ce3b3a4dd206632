"""API tests (a package, so its conftest does not clash with the other test areas' conftest modules)."""
