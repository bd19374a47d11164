"""Tests of records.sources."""
