# tandem — every target bootstraps (installs Debian packages if missing) and builds first.
#   make run    build and run tandem on the demo model
#   make test   build, run every test (release build, then unit tests under ASan+UBSan)
#   make bench  build and run the recorded benchmarks (writes bench/results/)
#   make fuzz   build and run the GGUF reader's libFuzzer target (FUZZ_SECONDS=60)
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=

.PHONY: all bootstrap build build-asan run test bench fuzz format clean

all: build

bootstrap:
	@bash scripts/bootstrap

build: bootstrap
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: bootstrap
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTANDEM_SANITIZE=ON -DTANDEM_BENCH=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

run: build
	@bash scripts/run-demo $(BUILD)

test: build build-asan
	@echo "== tests (release) =="
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	@echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) -LE slow

bench: build
	@bash bench/run $(BUILD)

fuzz: bootstrap
	@bash scripts/fuzz

format:
	@git ls-files '*.cc' '*.h' '*.cu' | xargs clang-format -i

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
