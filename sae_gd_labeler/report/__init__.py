"""Feature pages: one self-contained HTML page (plotly inlined) per run directory, or for labels in memory.

    from sae_gd_labeler.report import write_report
    write_report("runs/my_run")              # -> runs/my_run/report.html (+ report-2.html ... if large)
"""

from sae_gd_labeler.report.load import FeatureData, Run, load_run
from sae_gd_labeler.report.trajectories import trajectories_html
from sae_gd_labeler.report.write import report_html, write_report

__all__ = ["FeatureData", "Run", "load_run", "report_html", "trajectories_html", "write_report"]
