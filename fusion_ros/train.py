# SPDX-License-Identifier: Apache-2.0
"""``python -m fusion_ros.train MODEL ...``: ``fusion-ros train`` as a module, for torchrun.

Example (two processes on one machine; gloo on the CPU, NCCL on GPUs):
  torchrun --nproc_per_node 2 -m fusion_ros.train didfuse --data msrs:/data/MSRS --out runs/d
"""

import sys

from fusion_ros.cli.main import main

if __name__ == '__main__':
    sys.exit(main(['train', *sys.argv[1:]]))
