#!/bin/sh
# run.sh DIR SECONDS: run each fuzz target of DIR for SECONDS, from the seed
# corpus (tests/golden/*.json) plus what earlier runs found (DIR/corpus-*),
# with fuzz/spec.dict.  Fails on the first crash; the input that crashed is
# left in DIR as crash-* (libFuzzer's artifact prefix), to reproduce with
# "DIR/TARGET DIR/crash-...".
set -eu
dir=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
status=0
for t in fuzz_spec fuzz_guestconf; do
	corpus="$dir/corpus-$t"
	mkdir -p "$corpus"
	echo "== $t: ${secs}s"
	if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    "$dir/$t" -max_total_time="$secs" -max_len=8192 -timeout=10 \
	    -rss_limit_mb=1024 -dict="$here/spec.dict" \
	    -artifact_prefix="$dir/" -print_final_stats=1 \
	    "$corpus" "$repo/tests/golden" >"$dir/$t.log" 2>&1; then
		tail -n 60 "$dir/$t.log"
		echo "fuzz: $t failed; the input is $dir/crash-* (log: $dir/$t.log)"
		status=1
		continue
	fi
	grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)|^#[0-9]+.*DONE" \
	    "$dir/$t.log" | tr '\n' ' '
	echo
done
exit $status
