"""The soft phase's trajectories (the seed paper's figure) for labels held in memory: a feature page of
just those labels. Kept for callers of the earlier trajectory page; new code calls report_html."""

from __future__ import annotations

from collections.abc import Sequence

from sae_gd_labeler.report.load import FeatureData
from sae_gd_labeler.report.write import report_html
from sae_gd_labeler.search.result import FeatureLabel


def trajectories_html(labels: Sequence[tuple[str, FeatureLabel]]) -> str:
    """labels: (title, FeatureLabel) pairs; each is shown under its title, with its search plots."""
    pages = [FeatureData({**lab.to_dict(), "feature": title}) for title, lab in labels]
    return report_html(pages, "sae-gd-labeler: how the searches went")
