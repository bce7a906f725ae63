"""Parts of a page stored gzip-compressed as base64 text, unpacked by the page's script: plotly's
JavaScript (4.8 MB, 2.0 MB so) and the lazily shown data. Base64 holds no "<", so it is safe in any element."""

from __future__ import annotations

import base64
import functools
import gzip
import json

import plotly.io as pio
import plotly.offline

TEMPLATE = "plotly_white"  # one plot template for the whole page, stored once


def packed(text: str) -> str:
    """gzip (mtime 0: the same page each time) and base64."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def unpacked(text: str) -> str:
    return gzip.decompress(base64.b64decode(text)).decode("utf-8")


@functools.cache
def plotly_js_packed() -> str:
    return packed(plotly.offline.get_plotlyjs())


@functools.cache
def template_json() -> dict:
    return pio.templates[TEMPLATE].to_plotly_json()


def lazy_packed(figures: dict, html: dict) -> str:
    """What the page shows only on demand: {"template", "figures": {key: figure}, "html": {key: fragment}}."""
    data = {"template": template_json(), "figures": figures, "html": html}
    return packed(json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
