"""What the MASGSM API is, as constants: where it lives, how long to wait, what a request holds.

One home for the numbers the client, the pipelines and the commands share, in a module light
enough for a command's options to read without loading the HTTP client.
"""

from __future__ import annotations

DEFAULT_BASE_URL = "http://masgsm.com.tr/MasApiV2"
DEFAULT_TIMEOUT = (10.0, 30.0)  # connect, read; the provider's sample client waits 30 s
# Texts per type-1 request. The provider is PHP (api_post.php), and PHP reads at most
# `max_input_vars` form fields (1000 by default) and silently drops the rest: a type-1 batch
# carries one `message[i]` field per number plus six others, so 990 keeps a batch whole.
MAX_BATCH = 990
LANGS = ("auto", "tr", "plain")
