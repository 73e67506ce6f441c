#!/bin/bash
# Build and run the libFuzzer targets of the core (tests/fuzz/fuzz_*.cpp).
#
#   scripts/fuzz.sh [--seconds N] [target...]   fuzz each target N seconds
#                                               (default 20) over a copy of
#                                               its corpus in build/fuzz/
#   scripts/fuzz.sh --regress [target...]       replay the repo corpus once
#
# A target is named after its file: tests/fuzz/fuzz_table.cpp is "table"
# (also accepted: fuzz_table, tests/fuzz/fuzz_table.cpp). Per target, if
# present: tests/fuzz/corpus/<target>/ (seeds), tests/fuzz/<target>.dict
# (libFuzzer dictionary), tests/fuzz/<target>.options (extra libFuzzer
# flags, one per line, '#' comments). Prints "fuzz <target>: <runs> runs, ok"
# (or FAIL, with the crashing input) per target; exits 1 on any failure,
# 2 on a usage or build error. Logs: build/fuzz/<target>.log.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
out=build/fuzz

usage() { # EXIT
	wc_usage
	exit "${1:-2}"
}

seconds=20
regress=0
want=()
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
	--seconds=*) seconds=${1#*=}; shift ;;
	--regress) regress=1; shift ;;
	-h | --help) usage 0 ;;
	-*) echo "fuzz.sh: unknown option $1" >&2; usage ;;
	*) want+=("$1"); shift ;;
	esac
done
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --seconds wants a positive integer" >&2; exit 2; }

CXX=${FUZZ_CXX:-}
if [ -z "$CXX" ]; then
	for c in clang++ clang++-14; do
		command -v "$c" >/dev/null && { CXX=$c; break; }
	done
fi
[ -n "$CXX" ] || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 2; }
AR="ar"
command -v llvm-ar >/dev/null && AR=llvm-ar

mkdir -p "$out"
# One run at a time per tree: the objects and work corpora are shared.
exec 9>"$out/.lock"
command -v flock >/dev/null && flock 9

# ---- Targets and support sources ----------------------------------------
all_targets=()
support=()
for f in tests/fuzz/*.cpp; do
	[ -e "$f" ] || continue
	b=$(basename "$f" .cpp)
	if [[ $b == fuzz_* ]] &&
		grep -qE 'int[[:space:]]+LLVMFuzzerTestOneInput[[:space:]]*\(' "$f"; then
		all_targets+=("${b#fuzz_}")
	else
		support+=("$f")
	fi
done
targets=()
if [ ${#want[@]} -eq 0 ]; then
	targets=("${all_targets[@]}")
else
	for w in "${want[@]}"; do
		t=$(basename "$w" .cpp)
		t=${t#fuzz_}
		if [[ " ${all_targets[*]} " != *" $t "* ]]; then
			echo "fuzz.sh: no target '$w' (have: ${all_targets[*]})" >&2
			exit 2
		fi
		targets+=("$t")
	done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz.sh: no targets in tests/fuzz/" >&2; exit 2; }

# ---- Build ----------------------------------------------------------------
# The core's flags, as in the kernel and the unit tests: src/core/flags.mk.
flags() { # VAR GROUP: the array VAR := the flags of GROUP
	local f
	f=$(wc_core_flags "$2") || exit 2
	read -ra "$1" <<<"$f"
}
flags STD WC_CXX_STD
flags RUNTIME WC_CXX_RUNTIME
flags SEMANTICS WC_CXX_SEMANTICS
flags WARNINGS WC_CXX_WARNINGS
# clang before 16 takes -ftrivial-auto-var-init=zero only with this.
if [[ " ${SEMANTICS[*]} " == *" -ftrivial-auto-var-init=zero "* ]] &&
	! echo 'int f(void);' | "$CXX" -x c++ -fsyntax-only -ftrivial-auto-var-init=zero - 2>/dev/null; then
	SEMANTICS+=(-enable-trivial-auto-var-init-zero-knowing-it-will-be-removed-from-clang)
fi
# shellcheck disable=SC2054 # the commas belong to the flag
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all)
BASE=("${STD[@]}" -g -O1 -fno-omit-frame-pointer)
# The core: its flags (warnings logged in build/fuzz/obj/, not fatal).
CORE_FLAGS=("${BASE[@]}" -fsanitize=fuzzer-no-link "${SAN[@]}"
	"${RUNTIME[@]}" "${SEMANTICS[@]}" "${WARNINGS[@]}"
	-Iinclude -Isrc/core)
# The fuzz targets and test support: the core's semantics.
TEST_FLAGS=("${BASE[@]}" -fsanitize=fuzzer-no-link "${SAN[@]}"
	"${SEMANTICS[@]}"
	-Iinclude -Isrc/core -Itests/unit -Itests/fuzz)
LINK_FLAGS=("${BASE[@]}" -fsanitize=fuzzer "${SAN[@]}")

# Up to date: the object exists, was built with these flags, and nothing
# in its dependency file is newer or gone.
fresh() { # OBJ FLAGS
	local obj=$1 d
	[ -f "$obj" ] && [ -f "$obj.d" ] && [ -f "$obj.flags" ] || return 1
	[ "$(cat "$obj.flags")" = "$2" ] || return 1
	# shellcheck disable=SC2013 # make-style dependency words
	for d in $(sed -e '1s/^[^:]*://' -e 's/\\$//' "$obj.d"); do
		[ -e "$d" ] && [ ! "$d" -nt "$obj" ] || return 1
	done
}

compile() { # SRC OBJ FLAGS...: on failure leaves OBJ.failed
	local src=$1 obj=$2
	shift 2
	mkdir -p "$(dirname "$obj")"
	rm -f "$obj.failed"
	fresh "$obj" "$CXX $*" && return 0
	rm -f "$obj" "$obj.flags"
	if "$CXX" "$@" -MMD -MF "$obj.d" -c "$src" -o "$obj" >"$obj.log" 2>&1; then
		echo "$CXX $*" >"$obj.flags"
	else
		rm -f "$obj"
		: >"$obj.failed"
	fi
}

# Compile SRC:KIND pairs (KIND core|test), nproc at a time.
compile_all() {
	local item src kind max
	max=$(nproc 2>/dev/null || echo 2)
	for item in "$@"; do
		IFS=: read -r src kind <<<"$item"
		if [ "$kind" = core ]; then
			compile "$src" "$(obj_of "$src")" "${CORE_FLAGS[@]}" &
		else
			compile "$src" "$(obj_of "$src")" "${TEST_FLAGS[@]}" &
		fi
		while [ "$(jobs -rp | wc -l)" -ge "$max" ]; do wait -n; done
	done
	wait
}

obj_of() { echo "$out/obj/${1%.cpp}.o"; }
failed() { [ -e "$(obj_of "$1").failed" ]; }

core_srcs=()
for s in src/core/*.cpp src/core/*/*.cpp; do
	[ -f "$s" ] && core_srcs+=("$s")
done
test_srcs=(tests/unit/platform_user.cpp "${support[@]}")
for t in "${targets[@]}"; do test_srcs+=("tests/fuzz/fuzz_$t.cpp"); done
work_list=()
for s in "${core_srcs[@]}"; do work_list+=("$s:core"); done
for s in "${test_srcs[@]}"; do work_list+=("$s:test"); done
compile_all "${work_list[@]}"

core_objs=()
build_error=0
for s in "${core_srcs[@]}"; do
	if failed "$s"; then
		# Someone may be mid-edit: leave it out; the link says if it was needed.
		echo "fuzz.sh: warning: $s does not compile, left out (see $(obj_of "$s").log)" >&2
	else
		core_objs+=("$(obj_of "$s")")
	fi
done
for s in "${test_srcs[@]}"; do
	if failed "$s"; then
		echo "fuzz.sh: $s does not compile:" >&2
		sed 's/^/  /' "$(obj_of "$s").log" | head -40 >&2
		build_error=1
	fi
done
[ $build_error = 0 ] || exit 2

# An archive: a target pulls in only the core objects it needs, so a core
# file that needs platform services nobody provides yet does not matter
# until a target uses it.
rm -f "$out/libwccore.a"
if [ ${#core_objs[@]} -gt 0 ]; then
	"$AR" rcs "$out/libwccore.a" "${core_objs[@]}" || exit 2
fi
support_objs=()
for s in tests/unit/platform_user.cpp "${support[@]}"; do support_objs+=("$(obj_of "$s")"); done

for t in "${targets[@]}"; do
	bin=$out/fuzz_$t
	libs=()
	[ -f "$out/libwccore.a" ] && libs=("$out/libwccore.a")
	if ! "$CXX" "${LINK_FLAGS[@]}" "$(obj_of "tests/fuzz/fuzz_$t.cpp")" \
		"${support_objs[@]}" "${libs[@]}" -o "$bin" >"$out/link-$t.log" 2>&1; then
		echo "fuzz.sh: linking fuzz_$t failed:" >&2
		sed 's/^/  /' "$out/link-$t.log" | head -40 >&2
		build_error=1
	fi
done
[ $build_error = 0 ] || exit 2

# ---- Run ------------------------------------------------------------------
show_input() { # FILE
	local f=$1 n
	n=$(stat -c %s "$f")
	echo "  crashing input ($n bytes): $f"
	echo "  as text (\\ooo = byte, \$ = end of line):"
	head -c 2048 "$f" | LC_ALL=C sed -n l | sed 's/^/    /'
	echo "  hex:"
	head -c 512 "$f" | xxd | sed 's/^/    /'
}

options() { # TARGET: extra libFuzzer flags from tests/fuzz/<target>.options
	local f=tests/fuzz/$1.options
	[ -f "$f" ] && sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$f"
	return 0
}

fail=0
for t in "${targets[@]}"; do
	bin=$out/fuzz_$t
	log=$out/$t.log
	art=$out/artifacts/$t
	rm -rf "$art"
	mkdir -p "$art"
	args=(-artifact_prefix="$art/" -timeout=10)
	[ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
	mapfile -t extra < <(options "$t")
	args+=("${extra[@]}")
	seeds=()
	if [ -d "tests/fuzz/corpus/$t" ]; then
		mapfile -t seeds < <(find "tests/fuzz/corpus/$t" -type f | sort)
	fi

	if [ $regress = 1 ]; then
		# Each seed once, in order; an empty input if there are none.
		if [ ${#seeds[@]} -eq 0 ]; then
			: >"$out/empty-input"
			seeds=("$out/empty-input")
		fi
		timeout 600 "$bin" "${args[@]}" "${seeds[@]}" >"$log" 2>&1
		rc=$?
		runs=$(grep -c '^Executed ' "$log")
	else
		work=$out/corpus/$t
		rm -rf "$work"
		mkdir -p "$work"
		[ ${#seeds[@]} -gt 0 ] && cp "${seeds[@]}" "$work/"
		timeout $((seconds + 120)) "$bin" "${args[@]}" \
			-max_total_time="$seconds" -print_final_stats=1 \
			"$work" >"$log" 2>&1
		rc=$?
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		[ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
	fi
	[ -n "$runs" ] || runs=0

	if [ $rc = 0 ]; then
		echo "fuzz $t: $runs runs, ok"
		continue
	fi
	fail=1
	echo "fuzz $t: $runs runs, FAIL (exit $rc; log $log)"
	{
		grep -A1 'FUZZ_CHECK failed' "$log" | head -n 2
		grep -E 'runtime error|ERROR: |SUMMARY: ' "$log" | head -n 4
		grep -E '^ +#[0-9]+ ' "$log" |
			grep -vE ' in (fuzzer::|__sanitizer_|__asan|__ubsan|__libc_|main |_start )|libc\.so' |
			sed 's/ (BuildId: [0-9a-f]*)//' | head -n 6
	} | sed 's/^/  /'
	found=0
	for f in "$art"/*; do
		[ -f "$f" ] || continue
		found=1
		show_input "$f"
		echo "  reproduce: $bin $f"
	done
	if [ $found = 0 ]; then
		last=$(sed -n 's/^Running: //p' "$log" | tail -1)
		[ -n "$last" ] && [ -f "$last" ] && { show_input "$last"; echo "  reproduce: $bin $last"; }
	fi
done
exit $fail
