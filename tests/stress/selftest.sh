#!/bin/sh
# selftest.sh WC-STRESS IMAGE: host self-test of wc-stress on a scratch
# file (O_DIRECT, so not on tmpfs).  A clean run must pass, for 4096- and
# 512-byte blocks; a --canary run (unrecorded versions written on purpose)
# must fail with a MISMATCH report.
set -u
BIN=$1
IMG=$2
fails=0
run() { # WANT_RC NAME ARGS...
	want=$1 name=$2
	shift 2
	rm -f "$IMG"
	truncate -s 32M "$IMG"
	"$BIN" --dev "$IMG" --quiet "$@" >"$IMG.out" 2>&1
	rc=$?
	if [ $rc -ne "$want" ]; then
		echo "FAIL selftest $name: exit $rc, want $want"
		tail -n 30 "$IMG.out"
		fails=$((fails + 1))
	elif [ "$want" -ne 0 ] && ! grep -q '^MISMATCH' "$IMG.out"; then
		echo "FAIL selftest $name: no MISMATCH report"
		tail -n 30 "$IMG.out"
		fails=$((fails + 1))
	else
		echo "PASS selftest $name: $(grep -E '^wc-stress: (PASS|FAIL)' "$IMG.out")"
	fi
}
run 0 "4096-byte blocks" --seconds 4 --seed 1
run 0 "512-byte blocks" --seconds 4 --lbs 512 --seed 2
run 0 "shared range only" --seconds 3 --disjoint 0 --shared 6 --seed 3
run 0 "ops bound" --ops 3000 --seed 4
run 1 "canary is caught" --seconds 10 --canary --seed 5
rm -f "$IMG" "$IMG.out"
[ $fails -eq 0 ]
