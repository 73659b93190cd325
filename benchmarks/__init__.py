"""Side-by-side speed benchmarks (issue 6); `make bench` runs :mod:`benchmarks.run`."""
