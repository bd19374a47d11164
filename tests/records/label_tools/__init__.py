"""Tests of records.label_tools."""
