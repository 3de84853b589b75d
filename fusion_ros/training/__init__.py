# SPDX-License-Identifier: Apache-2.0
"""Offline training: paired-image datasets, the papers' losses, a resumable trainer."""
