"""Helpers for tests and benchmarks (real servers started on 127.0.0.1); not used by the library."""
