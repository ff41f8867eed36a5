"""`make bench`: loopback load against the app under gunicorn, beside the ceilings it cannot beat.

The method, the latest figures and how to profile are in bench/README.md; `python -m bench
--help` lists the options.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where results.json and results.png are written.
OUT = ROOT / "bench"
