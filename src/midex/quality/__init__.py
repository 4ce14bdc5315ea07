"""Validation: the Great Expectations suites on harmonised data, the release checks on the impact tables."""
