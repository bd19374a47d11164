"""Helpers shared by the tests (no tests here): importable as tests.support.*."""
