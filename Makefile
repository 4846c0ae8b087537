# metalcore developer commands. `make run` and `make test` do all the set-up on a fresh machine
# (Python packages from requirements-dev.txt, then the build); `make gpu-test` builds offline and
# runs everything on a machine with a GPU.
PYTHON ?= python3
# GPU architectures for the CUDA backend (empty: the CMake default, 80-real;90-real;90-virtual)
CUDA_ARCHS ?=
# AUTO: CUDA backend when nvcc is found; ON: required; OFF: CPU only
MC_CUDA ?= AUTO
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

CMAKE_ARGS_ALL := -DMC_CUDA=$(MC_CUDA) $(if $(CUDA_ARCHS),-DCMAKE_CUDA_ARCHITECTURES=$(CUDA_ARCHS))
PIP_BUILD := $(PYTHON) -m pip install -q --no-build-isolation --no-deps -C build-dir=build/py .

.PHONY: deps install run test c-test c-test-asan pytest gpu-test bench clean

deps:
	$(PYTHON) -m pip install -q -r requirements-dev.txt

install:
	CMAKE_ARGS="$(CMAKE_ARGS_ALL)" $(PIP_BUILD)

# The main job: self-check on every device present and a short benchmark table (CPU by default).
run: deps install
	$(PYTHON) -m metalcore --device $(or $(DEVICE),cpu)

# The whole test suite: C API tests under ASan+UBSan, then pytest on every device present.
test: deps install c-test-asan pytest

c-test-asan:
	cmake -S . -B build/asan -DMC_CUDA=OFF -DMC_PYTHON=OFF -DMC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug > /dev/null
	cmake --build build/asan
	./build/asan/mc_test_capi

# C API tests against the full build (with the CUDA backend when it is built).
c-test:
	cmake -S . -B build/c $(CMAKE_ARGS_ALL) -DMC_PYTHON=OFF > /dev/null
	cmake --build build/c
	./build/c/mc_test_capi

pytest:
	$(PYTHON) -m pytest -q tests

# On the GPU machine (no network): build for Hopper with CUDA required, run every test.
gpu-test:
	$(MAKE) install c-test pytest MC_CUDA=ON CUDA_ARCHS=$(or $(CUDA_ARCHS),90)

bench:
	$(PYTHON) bench/bench_rmsnorm.py

clean:
	rm -rf build
