"""What the tests share, one module a subject: `cli` (the CLI as a subprocess and its
environment), `sandbox` (the sandbox's account and record), `http` (hand-made HTTP servers),
`pipelines` (pipeline files and runs), `journal` (the journal read-only), `waiting` (polling),
`stopped` (runs stopped on purpose, and resumed), `plugins` (an outside plugin, installed),
`serve` (`masgsm-notify serve`), `browser` (headless Chromium), `apprise_upstream` (Apprise's
own harness and a stock Apprise).

Fixtures stay in `tests/conftest.py`, which builds them from these.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
