# SPDX-License-Identifier: Apache-2.0
"""Shrink a training export for shipping: float tensors stored in half precision.

DFVO's full model is 10.1 M parameters, 40 MB in fp32, over the 25 MB a shipped file may
take; in fp16 it is 20 MB. Loading casts the tensors back into the model's dtype
(``load_state_dict`` copies), so the model still runs in fp32 or bf16 as the engine picks.

    python -m fusion_ros.training.export runs/dfvo/best.pt models/dfvo.pt --dtype fp16
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from fusion_ros.engine.precision import DTYPES
from fusion_ros.errors import WeightsError
from fusion_ros.models._builder import read_checkpoint

__all__ = ['HALF', 'shrink_checkpoint']

HALF = ('fp16', 'bf16')  # the storage dtypes (names of engine.precision.DTYPES)


def shrink_checkpoint(src: Path | str, dst: Path | str, dtype: str = 'fp16') -> int:
    """Write ``src`` (a training export) to ``dst`` with its float tensors in ``dtype``.

    Integer tensors (BatchNorm's ``num_batches_tracked``) and the values stored beside the
    weights are kept. Returns the size of ``dst`` in bytes.

    Raises:
        WeightsError: ``src`` is not a checkpoint of tensors, or a value does not fit
            ``dtype`` (fp16 overflows above 65504: use bf16 then).
    """
    if dtype not in HALF:
        raise WeightsError(f'dtype must be one of {list(HALF)}, got {dtype!r}')
    state, meta = read_checkpoint(src)
    target = DTYPES[dtype]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if value.is_floating_point():
            value = value.to(target)
            if not torch.isfinite(value).all():
                raise WeightsError(f'{key} of {str(src)!r} does not fit {dtype} (a value '
                                   'overflows); use bf16')
        out[key] = value
    torch.save({**meta, 'model': out}, dst)
    return Path(dst).stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', type=Path)
    parser.add_argument('dst', type=Path)
    parser.add_argument('--dtype', choices=HALF, default='fp16')
    args = parser.parse_args()
    size = shrink_checkpoint(args.src, args.dst, args.dtype)
    print(f'wrote {args.dst} ({size / 1e6:.1f} MB, {args.dtype})')


if __name__ == '__main__':
    main()
