# SPDX-License-Identifier: Apache-2.0
"""``python -m fusion_ros`` runs the ``fusion-ros`` command line."""

import sys

from fusion_ros.cli.main import main

sys.exit(main())
