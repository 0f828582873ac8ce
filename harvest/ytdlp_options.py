"""The names of yt-dlp's options, read from yt-dlp itself, so that `extra_ytdlp_options` refuses a misspelt one
when the command starts instead of passing it to yt-dlp, which ignores what it does not know.

yt-dlp has no list of its option names in code: `YoutubeDL` reads its `params` dict key by key where each is
used. What it has is documentation in code: the "Available options:" lists of `YoutubeDL.__doc__` and of
its downloaders' `FileDownloader.__doc__` (one `name:  meaning` line per option, the maintained reference
for API users), and its command line, whose `parse_options` returns the params dict the CLI would pass.
The known names are the union of the three, for the installed version.
"""
from __future__ import annotations

import difflib
import functools
import re
from typing import Iterable

from manifests.errors import ConfigError

# "    name:   meaning" at the start of a line of the docstring; the lists name options this way only.
_DOCUMENTED = re.compile(r"^ {4}([a-z_][a-z0-9_]*):", re.MULTILINE)
# Fewer names than this would mean the docstrings are gone (python -OO): then nothing is refused.
_MIN_DOCUMENTED = 50


@functools.cache
def known_ytdlp_options() -> frozenset[str] | None:
    """Every option name the installed yt-dlp documents or sets from its command line; None when its
    docstrings were stripped (python -OO) and the list could not be read whole."""
    import yt_dlp
    from yt_dlp.downloader.common import FileDownloader

    documented = set()
    for doc in (yt_dlp.YoutubeDL.__doc__, FileDownloader.__doc__):
        documented.update(_DOCUMENTED.findall(doc or ""))
    if len(documented) < _MIN_DOCUMENTED:
        return None
    from_cli = {name for name in yt_dlp.parse_options([]).ydl_opts if not name.startswith("_")}
    return frozenset(documented | from_cli)


def check_ytdlp_options(names: Iterable[str]) -> None:
    """Raise ConfigError naming each option yt-dlp does not know, the closest known names, and all of them."""
    names = list(names)
    if not names:
        return
    known = known_ytdlp_options()
    if known is None:
        return
    unknown = sorted(set(names) - known)
    if unknown:
        close = {name: difflib.get_close_matches(name, known, n=3) for name in unknown}
        hints = "; ".join(f"{name!r}: did you mean {' or '.join(map(repr, near))}?" for name, near in close.items() if near)
        raise ConfigError(f"extra_ytdlp_options: yt-dlp has no option(s) {unknown}" + (f" ({hints})" if hints else "")
                          + f". yt-dlp {_version()}'s options: {', '.join(sorted(known))}")


def _version() -> str:
    from yt_dlp.version import __version__

    return __version__
