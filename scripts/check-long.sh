#!/bin/bash
# make check-long: the long forms of what make check bounds for CI time.
#   - t-large-cache.sh (defect 7 of issue 12: scans over millions of live
#     entries and whole-device discards under a 2 s soft-lockup watchdog),
#     ours and stock, on 6.1 and 6.12 (about 5 minutes a boot);
#   - the model checker for MODEL_SECONDS per mode (default 600) with fresh
#     seeds (scripts/model-check.sh);
#   - the guest stress test for STRESS_SECONDS per mode (default 300), ours
#     on 6.1 and 6.12, stock on 6.12 (scripts/stress-long.sh).
# Ends with "N passed, M failed", like make check. Run make check (or
# scripts/kbuild.sh) first: it uses build/kbuild/<kver>/dm-writecache-cxx.ko.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
mkdir -p build
passed=0
failed=0
result() {
	case $1 in PASS) passed=$((passed + 1)) ;; SKIP) ;; *) failed=$((failed + 1)) ;; esac
	echo "$1 $2"
}
step() {
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then result PASS "$name"; else result FAIL "$name"; fi
}

declare -A KVER
while read -r series ver; do KVER[$series]=$ver; done < <(wc_kernels)
for series in 6.1 6.12; do
	kv=${KVER[$series]:-}
	[ -n "$kv" ] || { result FAIL "kernel $series not installed (make deps)"; continue; }
	ko=build/kbuild/$kv/dm-writecache-cxx.ko
	[ -f "$ko" ] || scripts/kbuild.sh "$kv" >/dev/null || { result FAIL "kbuild $kv"; continue; }
	for provider in ours stock; do
		append=
		[ $provider = stock ] && append="--append harness.wc=stock"
		out=build/long-large-$series-$provider.out
		echo "=== t-large-cache $series $provider"
		# shellcheck disable=SC2086
		scripts/vm-run.sh --kver "$kv" --ko "$ko" --ssd-size 6G --nvdimm-size 4608M \
			--mem 3G --timeout 2400 $append --log "build/long-large-$series-$provider.log" \
			tests/vm/t-large-cache.sh >"$out" 2>&1
		wc_verdicts "$out"
		if [ "$(wc_verdict t-large-cache.sh "$out")" = PASS ]; then
			result PASS "t-large-cache[$series,$provider]"
		else
			result FAIL "t-large-cache[$series,$provider] (see $out)"
		fi
	done
done

# The TCG wall-clock benchmark's smoke run (moved out of make check).
step "benchmark smoke run (scripts/bench.sh --quick)" scripts/bench.sh --quick --out build/bench-quick

step "model checker, ${MODEL_SECONDS:-600} s per mode" \
	scripts/model-check.sh --mode both --seconds "${MODEL_SECONDS:-600}" --ops 1000000000
for series in 6.1 6.12; do
	step "stress, ours, $series" scripts/stress-long.sh --kver "$series" \
		--seconds "${STRESS_SECONDS:-300}" --provider ours
done
step "stress, stock, 6.12" scripts/stress-long.sh --kver 6.12 \
	--seconds "${STRESS_SECONDS:-300}" --provider stock

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
