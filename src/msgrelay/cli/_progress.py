"""A one-line progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from msgrelay.upscale.models import Progress


class ProgressBar:
    """Callable as an ``on_progress`` callback: ``[#####.....] 12/40 messages  3.1 s``.

    When the stream is not a terminal nothing is drawn, so piped output and logs stay clean.
    """

    def __init__(self, stream: TextIO | None = None, *, width: int = 30, label: str = "messages") -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.width = width
        self.label = label
        self.started = time.monotonic()
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        filled = int(progress.fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.monotonic() - self.started
        state = "done" if progress.complete else "generating"
        self.stream.write(
            f"\r[{bar}] {progress.generated}/{progress.requested} {self.label}  {elapsed:5.1f} s  {state}"
        )
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the bar's line so later output starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
