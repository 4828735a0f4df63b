"""The self-assessment report (自评报告) of the street or one community, from the running services.

`fetch.py` reads scoring's and activities' APIs (the only I/O besides Chromium), `model.py` turns
what they answered into the report's content (pure: names instead of codes, Beijing time, each
value with its denominator), `render.py` writes it as one self-contained HTML page, `chromium.py`
prints that page to PDF (or a PNG). `command.py` is what `learnstreet report` and `make demo` run.
"""
