# fusion_ros developer entry points. `make demo` and `make test` set everything up first.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
# The real ROS 2 launch/CLI toolchain (launch, launch_pytest, ros2, message_filters, colcon),
# installed from the team's shared folder when it is there (CI has it; a fresh machine may not,
# and the tests that need it then skip with a reason).
FUSION_ROS_SHARED ?= ../shared
ROS2_TOOLS := $(FUSION_ROS_SHARED)/ros2/install.sh
TOOLS_STAMP := $(VENV)/.ros2-tools-stamp
# pip prints one warning per missing local index directory; they are noise here.
PIP_FILTER := { grep -v "is ignored: it is neither a file nor a directory" || true; }
# the slowest tests of each pass; each pass writes a JUnit report (.ci/summary.py names what
# failed from them)
PYTEST_ARGS ?= --durations=25
# Two pytest-xdist workers, one test file each at a time (module fixtures are built once): a
# third of the suite's time is spent waiting on child processes and ROS discovery, so two
# workers on 2 CPUs take 435-470 s where one took 650-725 s (docs/BENCHMARKS.md, "Two test
# workers").
# The `openvino` tests get a pass of their own afterwards (test/conftest.py says why).
PYTEST_WORKERS ?= 2

.PHONY: setup tools demo test lint clean help

help:
	@echo "make setup  create .venv (Python 3.11) with pinned dependencies, package in editable mode"
	@echo "make demo   set up if needed, then run the day-to-night demo (fusion-ros demo)"
	@echo "make test   set up if needed, then lint and run the whole test suite"
	@echo "make clean  remove .venv and demo output"

setup: $(STAMP)

# pip byte-compiles every installed module here (about half of the install's time), and must:
# with PYTHONDONTWRITEBYTECODE=1 (set in CI) Python would otherwise compile torch's modules
# again in every process (a whole suite 90 s slower with --no-compile)

$(STAMP): requirements.txt setup.py setup.cfg package.xml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
		|| (echo "error: .venv must be Python 3.11 (set PYTHON=python3.11)"; exit 1)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | $(PIP_FILTER)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e . 2>&1 | $(PIP_FILTER)
	@$(BIN)/python -c 'import rclpy, torch, cv2, rosbags, fusion_ros' && touch $(STAMP)
	@echo "setup done: $(VENV)"

demo: setup
	$(BIN)/fusion-ros demo

$(TOOLS_STAMP): $(STAMP) $(wildcard $(ROS2_TOOLS))
	@if [ -x "$(ROS2_TOOLS)" ] || [ -f "$(ROS2_TOOLS)" ]; then \
		bash "$(ROS2_TOOLS)" $(BIN)/python && touch $(TOOLS_STAMP); \
	else echo "note: $(ROS2_TOOLS) not found: launch/ros2 CLI tests will skip"; fi

tools: $(TOOLS_STAMP)

test: setup tools
	$(BIN)/ruff check fusion_ros test launch setup.py
	@rc=0; \
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m 'not openvino' $(PYTEST_ARGS) \
		--junitxml=test-results/junit.xml || rc=$$?; \
	$(BIN)/python -m pytest -m openvino $(PYTEST_ARGS) \
		--junitxml=test-results/junit-openvino.xml || rc=$$?; \
	exit $$rc

lint: setup
	$(BIN)/ruff check fusion_ros test launch setup.py

clean:
	rm -rf $(VENV) demo_out test-results
