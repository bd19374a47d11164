"""Tests of modes."""
