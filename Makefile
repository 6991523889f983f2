# Two commands for a newcomer: `make demo` and `make test`. Both bootstrap what they need.
SHELL := /bin/bash
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
export UV_PYTHON_DOWNLOADS ?= never
USER_PATH := $(PATH)
export PATH := $(HOME)/.local/bin:$(PATH)
APT_PACKAGES := libegl1 libgl1-mesa-dri libegl-mesa0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
MISSING_APT = missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)
RUN := uv run --locked --all-extras

.PHONY: bootstrap uv system-deps check-system-deps sync demo test lint typecheck pytest bench clean

bootstrap: uv system-deps sync

uv:
	@command -v uv >/dev/null 2>&1 || { echo "[honed] installing uv"; python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv; }

system-deps:
	@$(MISSING_APT); \
	if [ -n "$$missing" ]; then \
	  echo "[honed] installing Debian packages for headless EGL rendering:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# What `make test` needs, without sudo: as root it installs the missing packages, otherwise it prints the line to run.
check-system-deps:
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory system-deps; else \
	  $(MISSING_APT); \
	  if [ -n "$$missing" ]; then \
	    echo "[honed] headless EGL rendering needs Debian packages; install them, then run make test again:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y" $$missing; \
	    exit 1; \
	  fi; \
	fi

sync:
	@uv sync --locked --all-extras --quiet
	@PATH="$(USER_PATH)" command -v uv >/dev/null 2>&1 || echo "[honed] uv is in $$(dirname $$(command -v uv)), not on your shell's PATH: run \
	'export PATH=$$(dirname $$(command -v uv)):\$$PATH' (add it to ~/.bashrc) for 'uv run honed-...', or 'source .venv/bin/activate' for 'honed-...'"

# Every stage, end to end, on the MuJoCo twin (CPU). Outputs land in outputs/demo/.
demo: bootstrap
	$(RUN) honed-sim demo
	$(RUN) honed-expert run task=all episodes=3 progress=false out=outputs/demo/experts
	rm -rf outputs/demo/demos outputs/demo/lerobot
	$(RUN) honed-record teleop=expert task=pick_cube episodes=10 realtime=false progress=false store=outputs/demo/demos
	$(RUN) honed-data verify store=outputs/demo/demos
	$(RUN) honed-data info store=outputs/demo/demos
	$(RUN) honed-data visualize store=outputs/demo/demos episode=0 out=outputs/demo/visualize
	$(RUN) honed-data export store=outputs/demo/demos out=outputs/demo/lerobot
	$(RUN) honed-data replay store=outputs/demo/demos episode=0 robot=so101_twin progress=false
	$(RUN) honed-hw demo output_dir=outputs/demo/hardware
	rm -rf outputs/demo/train outputs/demo/eval outputs/demo/eval_shipped
	@echo "[honed] pipeline proof: a 300-step debug policy on the 10 demos; it is far too short to succeed and proves only that train -> checkpoint -> eval run end to end"
	$(RUN) honed-train preset=debug dataset=outputs/demo/demos output=outputs/demo/train task=pick_cube 'policy.cameras=[]' policy.use_privileged=true steps=300 batch_size=32 progress=false
	$(RUN) honed-eval checkpoint=outputs/demo/train/checkpoints/last task=pick_cube episodes=10 num_envs=5 videos=1 progress=false output=outputs/demo/eval
	@echo "[honed] a policy that works: policies/pretrained/pick_cube_state, trained by the commands in its README.md (100 expert demos, 16,000 steps; 84.5% over 200 held-out scenes), on 20 scenes no demo used"
	$(RUN) honed-eval checkpoint=policies/pretrained/pick_cube_state task=pick_cube episodes=20 num_envs=20 videos=1 progress=false output=outputs/demo/eval_shipped

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .

# mypy sees the repository root as the package `honed` through a symlink (the import name has no folder).
typecheck:
	@mkdir -p .typecheck && ln -sfn .. .typecheck/honed
	MYPYPATH=.typecheck $(RUN) mypy -p honed

# Tests run in worker processes, one per core (at most 4: each holds torch and MuJoCo in memory).
pytest:
	$(RUN) pytest -q --numprocesses=auto --maxprocesses=4 --durations=10

test: uv check-system-deps sync lint typecheck pytest

bench: bootstrap
	$(RUN) honed-bench sim

clean:
	rm -rf outputs .pytest_cache .ruff_cache .mypy_cache
