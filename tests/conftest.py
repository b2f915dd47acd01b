"""Every tier: an alert that does not match its catalogue entry (shadowd.alerts) raises,
in this process and in the daemons and agents the tests start (they inherit the env)."""

from __future__ import annotations

import os

from shadowd.alerts import STRICT_ENV

os.environ[STRICT_ENV] = "1"
