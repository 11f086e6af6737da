"""Benchmarks for `navtms bench NAME`. Each module here defines
    NAME: str, HELP: str, run(json_out: bool, quick: bool) -> dict
and prints its figures (or returns them for --json). Timings are figures, never asserts."""
