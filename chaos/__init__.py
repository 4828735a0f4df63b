"""The fault harness behind `make chaos`: load the local stack, break it, check nothing was lost.

`python -m chaos --help` lists the knobs. The last line printed is one JSON object of figures;
the exit status is 1 when an invariant fails. See docs/reliability.md.
"""
