"""Real services and processes the tests and the benchmarks start: throwaway PostgreSQL, Redis,
HAProxy, a Shopbot server process, the load that drives it, and the one way they all wait for
something (``harness.polling``).

Neither product nor test code: tests/ and bench/ both import it, so bench/ never imports
tests/ (tests/test_bench_scripts.py checks that). Not installed with the product; the tests
and the bench scripts find it from the repository root.
"""
