"""A CSV logger that keeps the run's earlier metrics: a resumed run appends to `metrics.csv`.

Lightning's `CSVLogger` deletes an existing `metrics.csv` when it starts, so resuming a days-long run threw
away the history of every epoch before the kill; and it rewrites the file in place when a new column
appears, so a kill during that rewrite lost it too.
"""

import csv
import os

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class _HistoryWriter(ExperimentWriter):
    """Continues an existing metrics.csv with its columns; new columns rewrite it through a temporary file."""

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            header = next(csv.reader(file), [])
        self.metrics_keys = sorted(header)  # rows are written in sorted column order, as Lightning does
        if header != self.metrics_keys:
            self._rewrite_with_new_header(self.metrics_keys)

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            rows = list(csv.DictReader(file))
        temporary = f"{self.metrics_file_path}.{os.getpid()}.tmp"
        with self._fs.open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
        self._fs.mv(temporary, self.metrics_file_path)


class HistoryCSVLogger(CSVLogger):
    """`CSVLogger` whose `metrics.csv` survives a resume (see the module docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _HistoryWriter(log_dir=self.log_dir)
        return self._experiment
