"""Progress of a bulk run: corpus tokens read, features done / total, features per minute, ETA.

A rich display when asked for (the command line, `label_features(..., progress=True)`), else nothing;
the library itself only logs through `logging`.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _PerMinute(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "")
        return Text("" if speed is None else f"{speed * 60:,.1f} {unit}/min")


class RunProgress:
    """Two bars, corpus and features; every method is a no-op when disabled."""

    def __init__(self, enabled: bool, console: Console | None = None):
        self.progress = None
        if enabled:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     _PerMinute(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                     console=console, transient=False)
        self._tokens = self._features = None

    def __enter__(self) -> RunProgress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start_corpus(self, total_tokens: int | None) -> None:
        if self.progress is not None:
            self._tokens = self.progress.add_task("corpus tokens", total=total_tokens, unit="tokens")

    def tokens_read(self, n: int) -> None:
        if self.progress is not None and self._tokens is not None:
            self.progress.advance(self._tokens, n)

    def start_features(self, total: int) -> None:
        if self.progress is not None:
            if self._tokens is not None:  # the pass is over: its bar shows what was read
                task = self.progress.tasks[self._tokens]
                self.progress.update(self._tokens, total=task.completed)
            self._features = self.progress.add_task("features labeled", total=total, unit="features")

    def features_done(self, n: int) -> None:
        if self.progress is not None and self._features is not None:
            self.progress.advance(self._features, n)
