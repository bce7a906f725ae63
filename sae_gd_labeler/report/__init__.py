"""HTML pages of labeling results."""

from sae_gd_labeler.report.trajectories import trajectories_html, trajectory_svg

__all__ = ["trajectories_html", "trajectory_svg"]
