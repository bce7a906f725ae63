"""`--features`: which features of an SAE a run labels.

    parse_feature_spec("0:1024")     # a range, end exclusive, as in Python
    parse_feature_spec("3,17,99")    # a list (ranges may be mixed in: "0:8,100,200:210")
    parse_feature_spec("all")        # every feature; dead ones are recorded with status "dead"
    parse_feature_spec("alive")      # every feature that fires on the corpus; dead ones are not recorded

Pure Python (no torch), so the command line can check a spec before anything heavy is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"^(\d*):(\d*)$")


@dataclass(frozen=True)
class FeatureSpec:
    text: str
    kind: str  # "all", "alive" or "ids"
    ids: tuple[int, ...] = ()  # for "ids": distinct, in the order given
    open_end: int | None = None  # for "ids": a trailing "N:" range, resolved once d_sae is known

    def resolve(self, d_sae: int) -> list[int]:
        """The ids this spec names for an SAE of `d_sae` features ("alive" names all; the run drops the dead)."""
        if self.kind in ("all", "alive"):
            return list(range(d_sae))
        ids = list(self.ids) + ([] if self.open_end is None else list(range(self.open_end, d_sae)))
        beyond = [i for i in ids if i >= d_sae]
        if beyond:
            raise ValueError(f"--features {self.text!r}: ids {beyond[:5]} are beyond this SAE's d_sae={d_sae}; "
                             f"feature ids go from 0 to {d_sae - 1}")
        return ids


def parse_feature_spec(text: str) -> FeatureSpec:
    """Parse a spec; ValueError with the fix for anything malformed (negative, reversed, duplicated)."""
    spec = text.strip()
    if spec in ("all", "alive"):
        return FeatureSpec(text, spec)
    if not spec:
        raise ValueError("--features is empty; give e.g. 0:1024, 3,17,99, all or alive")
    ids: list[int] = []
    open_end = None
    for part in spec.split(","):
        part = part.strip()
        match = _RANGE.match(part)
        if match:
            start = int(match.group(1) or 0)
            if not match.group(2):
                if open_end is not None:
                    raise ValueError(f"--features {text!r}: only one open range ('N:') is allowed")
                open_end = start
                continue
            stop = int(match.group(2))
            if stop <= start:
                raise ValueError(f"--features {text!r}: the range {part!r} is empty; write START:STOP with "
                                 "STOP > START (STOP is excluded)")
            ids.extend(range(start, stop))
        elif part.isdigit():
            ids.append(int(part))
        else:
            raise ValueError(f"--features {text!r}: {part!r} is not a feature id or a START:STOP range; give "
                             "non-negative integers, e.g. 0:1024, 3,17,99, all or alive")
    seen: set[int] = set()
    duplicated = sorted({i for i in ids if i in seen or seen.add(i)})
    if open_end is not None:
        duplicated += sorted(i for i in seen if i >= open_end)
    if duplicated:
        raise ValueError(f"--features {text!r}: ids {duplicated[:5]} are given twice; name each feature once")
    return FeatureSpec(text, "ids", tuple(ids), open_end)
