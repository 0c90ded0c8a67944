"""`bench verify`: bench's headline figures beside independent references (perf bench,
hyperfine through untilready, plain QEMU, smaps_rollup, the cgroup's file, QEMU's monitor),
measured in the same sitting; the harness's own benchmarks (tests/benchmarks) share them."""
