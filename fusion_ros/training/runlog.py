# SPDX-License-Identifier: Apache-2.0
"""What a run writes besides checkpoints: ``log.csv`` (one row per step), ``val.csv`` (one
row per validation), TensorBoard events, and ``loss.png``.

A resumed run first cuts both CSVs back to the checkpoint's step and tells TensorBoard to
purge later events, so the logs read as if the run had never stopped.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

__all__ = ['RunLog']


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


class _Csv:
    """Append rows; the header grows if a later row brings a new column."""

    def __init__(self, path: Path, keep_until_step: int | None) -> None:
        self.path = path
        self.rows = _read_rows(path)
        if keep_until_step is None:
            self.rows = []
        else:
            self.rows = [r for r in self.rows if int(float(r['step'])) <= keep_until_step]
        self.columns: list[str] = list(self.rows[0]) if self.rows else []
        self._rewrite()

    def _rewrite(self) -> None:
        with open(self.path, 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction='ignore')
            if self.columns:
                writer.writeheader()
                writer.writerows(self.rows)

    def add(self, row: dict[str, float]) -> None:
        text = {k: (f'{v:.6g}' if isinstance(v, float) else str(v)) for k, v in row.items()}
        self.rows.append(text)
        if any(k not in self.columns for k in row):
            self.columns += [k for k in row if k not in self.columns]
            self._rewrite()
            return
        with open(self.path, 'a', newline='') as f:
            csv.DictWriter(f, fieldnames=self.columns, extrasaction='ignore').writerow(text)


class _NoTensorBoard:
    def add_scalar(self, *args: object) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def _tensorboard(out: Path, resume_step: int | None) -> object:
    try:  # requirements.txt installs it; a bare ROS install may lack it: CSVs still work
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn('tensorboard is not installed: no TensorBoard events (log.csv has '
                      'the same numbers); pip install tensorboard', stacklevel=3)
        return _NoTensorBoard()
    return SummaryWriter(str(out), purge_step=resume_step or None)


class RunLog:
    """Logs of rank 0 (other ranks get ``enabled=False`` and write nothing)."""

    def __init__(self, out: Path, resume_step: int | None, enabled: bool = True) -> None:
        self.out, self.enabled = out, enabled
        if not enabled:
            return
        self.steps = _Csv(out / 'log.csv', resume_step)
        self.val = _Csv(out / 'val.csv', resume_step)
        self.tb = _tensorboard(out, resume_step)

    def step(self, row: dict[str, float]) -> None:
        """One training step: a row of log.csv and ``train/*`` scalars."""
        self._add(self.steps if self.enabled else None, 'train', row)

    def validation(self, row: dict[str, float]) -> None:
        """One validation: a row of val.csv and ``val/*`` scalars, flushed at once."""
        self._add(self.val if self.enabled else None, 'val', row)
        if self.enabled:
            self.tb.flush()

    def _add(self, table: _Csv | None, group: str, row: dict[str, float]) -> None:
        if table is None:
            return
        table.add(row)
        for key, value in row.items():
            if key not in ('step', 'epoch'):
                self.tb.add_scalar(f'{group}/{key}', value, int(row['step']))

    def close(self) -> None:
        if not self.enabled:
            return
        self.tb.close()
        self.plot()

    def plot(self) -> None:
        """``loss.png``: total training loss per step (with a moving average) and the
        validation loss; right, every loss term (moving averages, log scale)."""
        if not self.steps.rows:
            return
        import matplotlib

        matplotlib.use('Agg')
        import matplotlib.pyplot as plt

        steps = np.array([float(r['step']) for r in self.steps.rows])
        terms = [c for c in self.steps.columns if c not in ('step', 'epoch', 'lr')]
        window = max(1, len(steps) // 50)

        def smooth(values: np.ndarray) -> np.ndarray:
            return np.convolve(values, np.ones(window) / window, mode='valid')

        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
        loss = np.array([float(r.get('loss') or 'nan') for r in self.steps.rows])
        left.plot(steps, loss, color='0.8', lw=0.8, label='train (step)')
        left.plot(steps[window - 1:], smooth(loss), color='C0', label=f'train (mean of {window})')
        if self.val.rows:
            left.plot([float(r['step']) for r in self.val.rows],
                      [float(r.get('loss') or 'nan') for r in self.val.rows], 'o-',
                      color='C3', label='validation')
        left.set(xlabel='step', ylabel='loss', title='total loss')
        left.legend(fontsize=8)
        for i, term in enumerate(t for t in terms if t != 'loss'):
            values = np.array([float(r.get(term) or 'nan') for r in self.steps.rows])
            if np.all(np.isfinite(values)) and np.all(values > 0):
                right.plot(steps[window - 1:], smooth(values), color=f'C{i % 10}', label=term)
        right.set(xlabel='step', yscale='log', title='loss terms (moving average)')
        right.legend(fontsize=7, ncol=2)
        for ax in (left, right):
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(self.out / 'loss.png', dpi=100)
        plt.close(fig)
