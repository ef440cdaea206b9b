"""`make bench`: refdata's cache against the uncached designs, warm and cold, on this machine.

python -m bench            # the full run; writes docs/benchmarks.md and docs/benchmarks.png
python -m bench --smoke    # tiny counts, a temporary output directory (tests/test_bench.py)
"""
