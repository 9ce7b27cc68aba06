"""Test support code that is not a test: the ClickHouse HTTP harness (see README.md)."""
