"""Stand-ins for the outside world, for the tests, the benches and the demo: a loopback web site of real
clips (`testing.loopback`) and a toy stage that exercises the runner alone (`testing.toy`).

Not shipped (setup.cfg packages only the pipeline's own), and never imported by shipped code:
tests/test_imports.py checks both.
"""
