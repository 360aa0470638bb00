"""`make bench` (`python -m benchmarks`): the studio's figures under load, each beside a
baseline measured in the same run. Not part of `make test`; see BENCHMARKS.md."""
