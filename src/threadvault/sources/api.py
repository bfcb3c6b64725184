"""What the API sources (Mastodon, Bluesky) share: reading a captured answer as JSON."""

from __future__ import annotations

import json
from typing import Any

from threadvault.errors import NotAThread
from threadvault.model import Capture


def read_json(url: str, capture: Capture) -> Any:
    """The captured answer's JSON, or NotAThread for ``url`` naming the answer that is not JSON."""
    try:
        return json.loads(capture.text())  # invalid UTF-8 read as U+FFFD, as for any page
    except ValueError:
        raise NotAThread(url, f"{capture.url} answered HTTP {capture.status} with a body that is not JSON") from None
    except RecursionError:
        raise NotAThread(url, f"{capture.url} answered with JSON nested too deeply to read") from None
