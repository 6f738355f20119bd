#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for SECONDS each, one at
# a time, and prints executions, exec/s, corpus and coverage per target.
# Exits non-zero if any target crashed, hung, ran out of memory or failed
# to build. Crashing inputs land in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default 300 s, all targets)
#
# Environment: SANITIZER (none|address, default none: the code is safe Rust,
# and without ASan the two shared cores run ~2x more executions),
# RSS_MB (memory limit per target, default 2048), TIMEOUT_S (one input, 10).
#
# The machine has a stable toolchain only; cargo-fuzz needs nightly flags
# (-Zsanitizer, sancov passes), which RUSTC_BOOTSTRAP=1 unlocks on stable.
# Needs `cargo install cargo-fuzz --locked`.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(client_frame datagram datagram_keyed relay_state membership)
sanitizer=${SANITIZER:-none}
rss_mb=${RSS_MB:-2048}
timeout_s=${TIMEOUT_S:-10}
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || {
	echo "cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2
	exit 2
}

# Longest input per target: a client frame may be 64 KiB; a datagram 1400
# bytes (a little more, to exercise the size check); operation lists are small.
max_len() {
	case $1 in
	client_frame) echo 70000 ;;
	datagram) echo 1600 ;;
	datagram_keyed) echo 1601 ;;
	*) echo 8192 ;;
	esac
}

echo "== building (sanitizer: $sanitizer)"
cargo fuzz build -O -s "$sanitizer"
echo "== seeding fuzz/corpus from the real encoders"
cargo run -q --manifest-path fuzz/Cargo.toml --example seed -- fuzz/corpus
mkdir -p fuzz/logs

failed=()
summary=()
for t in "${targets[@]}"; do
	mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
	log="fuzz/logs/$t.log"
	echo "== $t: ${seconds}s (log: $log)"
	start="fuzz/logs/.start-$t"
	touch "$start"
	status=0
	cargo fuzz run -O -s "$sanitizer" "$t" "fuzz/corpus/$t" -- \
		-max_total_time="$seconds" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" \
		-max_len="$(max_len "$t")" -timeout="$timeout_s" -print_final_stats=1 \
		>"$log" 2>&1 || status=$?
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\).*/cov \1, ft \2, corpus \3/p' <<<"$last")
	crashes=$(find "fuzz/artifacts/$t" -type f -newer "$start" | wc -l)
	line="$t: ${execs:-?} execs, ${rate:-?} exec/s, ${cov:-no stats}, $crashes new artifact(s), exit $status"
	echo "   $line"
	summary+=("$line")
	if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		failed+=("$t")
		grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -n 8 || true
	fi
done

echo "== summary (${seconds}s per target, sanitizer $sanitizer, rss limit ${rss_mb} MB)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "no crashes"
