"""A pytest plugin (`-p masgsm_as_apprise_builtin`): Apprise's tests of its MASGSM built-in, run
against this project's service instead.

`from apprise.plugins.masgsm import NotifyMasGSM` then gives this project's `NotifyMasGSM` (the
built-in with `contacts=`), which importing `masgsm_notify.apprise_plugin` registers for
masgsm:// and masgsms://, so every URL of the tests reaches it. Apprise's own `conftest.py` is
left out (`--noconftest`): between tests it unloads every service that is not in Apprise's
plugin folder. Of what it does, the tests need one thing, no pause between requests.
"""

import sys

from masgsm_notify import apprise_plugin

apprise_plugin.NotifyMasGSM.request_rate_per_sec = 0
sys.modules["apprise.plugins.masgsm"] = apprise_plugin
