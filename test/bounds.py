# SPDX-License-Identifier: Apache-2.0
"""Time bounds the tests share. They catch hangs, they are not speed targets (those live in
benchmarks/): a busy shared 2-core machine starves a healthy process for seconds."""

# a stop that hangs, or that finishes its work first, takes far longer; 2.1 s and 4.6 s were
# seen for healthy stops on loaded CI machines
STOP_S = 10.0
