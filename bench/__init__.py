"""msgrelay's benchmarks: ``make bench`` (``python bench/run.py``) writes ``bench/RESULTS.md``."""
