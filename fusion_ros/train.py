# SPDX-License-Identifier: Apache-2.0
"""``python -m fusion_ros.train MODEL ...``: ``fusion-ros train`` as a module, for torchrun.

Example (two processes on one machine; gloo on the CPU, NCCL on GPUs):
  torchrun --nproc_per_node 2 -m fusion_ros.train didfuse --data msrs:/data/MSRS --out runs/d
"""

import os
import sys

from fusion_ros.cli.main import main

if __name__ == '__main__':
    code = main(['train', *sys.argv[1:]]) or 0
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        # Under torchrun the run is complete here (checkpoints written atomically, the process
        # group left). A rank that then went through interpreter shutdown was seen, rarely and
        # only on a loaded machine, to abort in a C++ destructor ("terminate called without an
        # active exception", SIGABRT) after a successful run, and torchrun reported the whole
        # run failed. Leaving without the C++ static destructors avoids that.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
