#!/bin/sh
# Build every libFuzzer harness (fuzz/NAME.c) and run each for FUZZ_SECONDS
# on a copy of its seed corpus (fuzz/corpus/NAME/: the tree never grows).
# Inputs kept in fuzz/crashes/NAME/ are replayed first: bugs found once
# stay found. Exits non-zero on any crash, leak, timeout or sanitizer report.
#
# usage: FUZZ_SECONDS=60 fuzz/run.sh [NAME...]   (FUZZ_SECONDS=0: build, replay,
#   and run each seed once)
#   FUZZ_CC (clang), FUZZ_OUT (build/fuzz): compiler, where binaries and
#   the inputs of failed runs go.
set -eu
cd "$(dirname "$0")/.."

secs=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
out=${FUZZ_OUT:-build/fuzz}
# glibc, not musl: the sanitizers' runtimes need it. Reports abort, so
# libFuzzer sees every one of them as a crash.
cflags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I."

if ! command -v "$cc" >/dev/null; then
	echo "fuzz: $cc not found (make fuzz installs clang and libclang-rt-14-dev)" >&2
	exit 2
fi
if [ $# -eq 0 ]; then
	set -- $(ls fuzz/*.c | sed 's|fuzz/||; s|\.c$||')
fi
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/vial-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The lines that say what went wrong: the sanitizer's or the harness's
# verdict, else the log's end.
report() {
	grep -aE '^(==[0-9]+==ERROR|==FUZZ==|SUMMARY|.*runtime error)' "$1" | head -5 |
		grep . || tail -5 "$1"
}

failed=0
for name in "$@"; do
	src=fuzz/$name.c
	# The vial sources a harness links are named in its "fuzz-link:" line.
	link=$(sed -n 's|^ \* fuzz-link:||p' "$src")
	if ! $cc $cflags -o "$out/$name" "$src" $link 2>"$work/$name.build"; then
		cat "$work/$name.build" >&2
		echo "$name: BUILD FAILED"
		failed=1
		continue
	fi

	# Known crashers first, each run once.
	if [ -n "$(ls "fuzz/crashes/$name" 2>/dev/null)" ] &&
	   ! TMPDIR=$work "$out/$name" -runs=1 fuzz/crashes/"$name"/* >"$work/$name.replay" 2>&1; then
		report "$work/$name.replay"
		echo "$name: FAIL (an input in fuzz/crashes/$name still fails)"
		failed=1
		continue
	fi

	rm -rf "$out/failed/$name" "$out/failed/$name.log"
	mkdir -p "$work/$name"
	cp -r "fuzz/corpus/$name" "$work/$name/corpus"
	if [ "$secs" -eq 0 ]; then	# no fuzzing: each seed once (libFuzzer's 0 is "forever")
		if TMPDIR="$work/$name" "$out/$name" -runs=1 "$work/$name/corpus"/* \
			>"$work/$name.log" 2>&1; then
			echo "$name: ok, $(ls "$work/$name/corpus" | wc -l) seeds run once"
		else
			report "$work/$name.log"
			echo "$name: FAIL on a seed of fuzz/corpus/$name"
			failed=1
		fi
		continue
	fi
	rc=0
	# TMPDIR: scratch files of the harnesses go where the trap removes them
	TMPDIR="$work/$name" "$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/$name/" \
		"$work/$name/corpus" >"$work/$name.log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log" | tail -1)
	if [ "$rc" -eq 0 ]; then
		echo "$name: ok, ${runs:-?} executions in ${secs} s"
		continue
	fi
	failed=1
	mkdir -p "$out/failed/$name"
	cp "$work/$name"/crash-* "$work/$name"/leak-* "$work/$name"/timeout-* \
		"$work/$name"/oom-* "$out/failed/$name/" 2>/dev/null || true
	cp "$work/$name.log" "$out/failed/$name.log"
	report "$work/$name.log"
	echo "$name: FAIL after ${runs:-?} executions (exit $rc): input and log in" \
		"$out/failed/$name/, replay: $out/$name $out/failed/$name/<file>"
done
exit $failed
