# SPDX-License-Identifier: Apache-2.0
"""Defaults shared by the engine, the node and the CLI (no heavy imports: --help stays fast)."""

DEFAULT_MODEL = 'fastfusion'  # our real-time model; ships trained in models/fastfusion.pt
