#!/bin/sh
# I/O stress with a data model, under constant writeback, flushes, cleaner,
# suspend/resume and table reloads (issue #12 section 3), against the module
# chosen by harness.wc=stock|ours (tests/vm/wc-select.sh).
#
# Needs /tests/wc-stress, the static program of tests/stress (build it with
# make -C tests/stress, pass it with --extra build/tools/wc-stress;
# scripts/stress-long.sh does both); skips without it.
#
# For each mode (p: pmem cache on $HARNESS_PMEM, fsdax; s: SSD cache on
# $HARNESS_SSD) and each cache block size (4096, then 512 bytes: 2/3 and
# 1/3 of the mode's time):
#  - a small cache (STRESS_CACHE_MB at the end of the cache device, through
#    start_sector) with low watermarks and small autocommit, so writeback
#    and waits for free blocks run all the time, over the origin, whose
#    first STRESS_MB are zeroed first;
#  - wc-stress drives /dev/mapper/wc there: preadv/pwritev (and pwritev2
#    RWF_DSYNC) of 1 block .. 1 MiB with iovecs at random 512-byte offsets of
#    pages, so cache blocks straddle pages and bvecs; BLKDISCARD, fdatasync;
#    threads on disjoint ranges and on one shared range; every read
#    checked against its model (see tests/stress/wc-stress.c), then one
#    final pass over the region;
#  - meanwhile a control loop in this shell sends the flush and cleaner
#    messages, flush_on_suspend, suspends and resumes, reloads the same
#    table (dmsetup reload then suspend/resume, and suspend/load/resume;
#    a reload also ends the cleaner), and for a stretch of the run a table
#    with changed options (watermarks, writeback_jobs, autocommit);
#  - checks: wc-stress passes (no mismatch, no I/O error), every control
#    command succeeded, the status has no error, a last flush message
#    succeeds and leaves nothing dirty, and the kernel log is clean.
#
# Knobs (--append): harness.stress_seconds=N (per mode, default 60),
# harness.stress_seed=N (replay), harness.stress_modes=p,s (default both),
# harness.stress_bs=4096,512, harness.stress_mb=N (region, default 32),
# harness.stress_cache_mb=N (default 4), harness.stress_threads=D,S
# (disjoint, shared; default 3,3), harness.stress_ctl_max=S (longest a
# control command may take, default 30 s).
. /tests/lib.sh
STRESS=/tests/wc-stress
[ -x "$STRESS" ] || skip_all "no $STRESS: build it (make -C tests/stress) and pass --extra build/tools/wc-stress to vm-run (scripts/stress-long.sh does both)"
. /tests/wc-select.sh
. /tests/ssd-lib.sh

O=$HARNESS_ORIGIN
WC=/dev/mapper/wc
SECS=$(harness_arg stress_seconds 60)
SEED=$(harness_arg stress_seed "")
MODES=$(harness_arg stress_modes p,s | tr ',' ' ')
BSS=$(harness_arg stress_bs 4096,512 | tr ',' ' ')
MB=$(harness_arg stress_mb 32)
CMB=$(harness_arg stress_cache_mb 4)
THR=$(harness_arg stress_threads 3,3)
CTL_MAX=$(harness_arg stress_ctl_max 30)
NDIS=${THR%,*}
NSH=${THR#*,}
# Writeback starts at half full and stops just below; commits every 64
# blocks or 100 ms.  The changed table writes back harder, commits sooner.
OPTS="high_watermark 50 low_watermark 45 writeback_jobs 64 autocommit_blocks 64 autocommit_time 100"
ALT_OPTS="high_watermark 20 low_watermark 5 writeback_jobs 8 autocommit_blocks 16 autocommit_time 20"
CTL_STOP=/tmp/stress-ctl.stop
CTL_LOG=/tmp/stress-ctl.log

[ -n "$HARNESS_PMEM" ] || MODES=$(echo "$MODES" | sed 's/p//')
info "stress: modes '$MODES', block sizes '$BSS', $SECS s per mode, region $MB MiB, cache $CMB MiB, threads $NDIS disjoint + $NSH shared${SEED:+, seed $SEED}"

# --- the control loop (runs in the background during a stress run) -----------
# ctl NAME CMD...: run CMD; one line in CTL_LOG, "ok NAME MS" or
# "FAIL NAME MS ..." (MS: how long it took).
ctl() {
	_cn=$1
	shift
	_c0=$(now_cs)
	if "$@" >/tmp/stress-ctl.out 2>&1; then
		echo "ok $_cn $((($(now_cs) - _c0) * 10))" >>"$CTL_LOG"
	else
		_crc=$?
		echo "FAIL $_cn $((($(now_cs) - _c0) * 10)) (exit status $_crc): $(tr '\n' ' ' </tmp/stress-ctl.out)" >>"$CTL_LOG"
	fi
	# Never leave the device suspended (a failed step in the middle).
	if dmsetup info wc 2>/dev/null | grep -q SUSPENDED; then
		echo "FAIL $_cn left the device suspended" >>"$CTL_LOG"
		dmsetup resume wc
	fi
}
susp_resume() { dmsetup suspend wc && dmsetup resume wc; }
reload_live() { dmsetup reload wc --table "$1" && dmsetup suspend wc && dmsetup resume wc; }
reload_susp() { dmsetup suspend wc && dmsetup load wc --table "$1" && dmsetup resume wc; }
fos_suspend() { dmsetup message wc 0 flush_on_suspend && susp_resume; }

# ctl_loop TABLE ALT_TABLE: until CTL_STOP exists.  Cycles 3-8 of every 16
# use ALT_TABLE (the switches to it and back are reloads too).
ctl_loop() {
	_i=0
	_t=$1
	while [ ! -e "$CTL_STOP" ]; do
		_i=$((_i + 1))
		case $((_i % 16)) in
		3) ctl reload-changed-options reload_live "$2"; _t=$2 ;;
		9) ctl reload-original-options reload_susp "$1"; _t=$1 ;;
		esac
		case $((_i % 8)) in
		1 | 5) ctl flush timeout 200 dmsetup message wc 0 flush ;;
		2) ctl suspend-resume susp_resume ;;
		3)
			ctl cleaner dmsetup message wc 0 cleaner
			sleep 1 # writes go around, the cache drains
			ctl reload-same-table reload_live "$_t"
			;;
		4) ctl suspend-load-resume reload_susp "$_t" ;;
		6) ctl flush_on_suspend fos_suspend ;;
		7) ctl reload-same-table reload_live "$_t" ;;
		0) ctl status dmsetup status wc ;;
		esac
		sleep 0.5
	done
}

# --- one stress run --------------------------------------------------------------
# stress_run MODE BS SECONDS
stress_run() {
	M=$1 BS=$2 T=$3
	L="$M/$BS"
	if [ "$M" = p ]; then
		C=$HARNESS_PMEM
		wc_small_setup $((CMB << 20)) >/dev/null
	else
		C=$HARNESS_SSD
		ssd_small_setup $((CMB << 20)) >/dev/null
	fi
	SS=$WC_SS
	NOPT=$(($(echo "$OPTS" | wc -w) + 2))
	TABLE="0 $(dev_sectors "$O") writecache $M $O $C $BS $NOPT start_sector $SS $OPTS"
	ALT="0 $(dev_sectors "$O") writecache $M $O $C $BS $NOPT start_sector $SS $ALT_OPTS"
	info "[$L] table: $TABLE"
	info "[$L] changed: $ALT"
	check "[$L] zero the first $MB MiB of the origin" \
		dd if=/dev/zero of="$O" bs=1M count="$MB" oflag=direct || return
	check "[$L] zero the cache superblock" wc_zero_at "$C" "$SS" || return
	check "[$L] create wc" dm_create wc "$TABLE" || return
	check "[$L] wc is a block device" wc_is_dev "$WC" || return
	info "[$L] status at start: $(dmsetup status wc)"

	rm -f "$CTL_STOP" "$CTL_LOG"
	: >"$CTL_LOG"
	ctl_loop "$TABLE" "$ALT" &
	CTL_PID=$!
	T0=$(now_cs)
	"$STRESS" --dev "$WC" --size "${MB}M" --seconds "$T" --disjoint "$NDIS" --shared "$NSH" \
		${SEED:+--seed "$SEED"} >/tmp/stress.out 2>&1
	SRC=$?
	T1=$(now_cs)
	touch "$CTL_STOP"
	wait "$CTL_PID"
	T2=$(now_cs)
	sed "s|^|# [$L] |" /tmp/stress.out
	if [ $SRC -eq 0 ]; then
		pass "[$L] wc-stress: every read as modelled, no I/O error ($(((T1 - T0) / 100)) s)"
	else
		fail "[$L] wc-stress" "exit status $SRC; replay: --append harness.stress_seed=$(sed -n 's/^wc-stress: seed //p' /tmp/stress.out)"
		wc_stock_61 && info "[$L] note: stock 6.1 returns wrong data for reads that mix cached and uncached blocks (6.1's dm_accept_partial_bio)"
	fi
	info "[$L] control loop stopped $(((T2 - T1) * 10)) ms after wc-stress; commands: $(awk '{ print $1 ":" $2 }' "$CTL_LOG" | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')"
	NBAD=$(grep -c '^FAIL' "$CTL_LOG")
	grep '^FAIL' "$CTL_LOG" | sed "s|^|# [$L] ctl: |"
	check_eq "[$L] control commands that failed" 0 "$NBAD"
	# A control command that cannot finish while the I/O goes on (the flush
	# message) shows here in short runs, and in the time limit below.
	# (wc-stress stops early on a mismatch: then fewer are needed.) One
	# command per 10 s of phase: under TCG a flush racing the writers of a
	# 4 MiB SSD cache takes 5-15 s on ours (stock: up to 7.5 s).
	RAN=$(((T1 - T0) / 100))
	NEED=0
	[ "$RAN" -ge 2 ] && NEED=1
	[ "$RAN" -ge 20 ] && NEED=2
	[ "$RAN" -ge 40 ] && NEED=4
	check_eq "[$L] control loop got through $NEED commands or more" yes \
		"$([ "$(wc -l <"$CTL_LOG")" -ge $NEED ] && echo yes || echo no)"
	SLOW=$(sort -k3,3n "$CTL_LOG" | tail -n 1)
	info "[$L] slowest control command: ${SLOW% (exit*} ms"
	check_eq "[$L] every control command took at most $CTL_MAX s" yes \
		"$(awk -v m=$((CTL_MAX * 1000)) '$3 > m { bad = 1 } END { print bad ? "no" : "yes" }' "$CTL_LOG")"
	info "[$L] status after: $(dmsetup status wc)"
	check_eq "[$L] status: error field" 0 "$(wc_field wc error)"
	check "[$L] flush message" timeout 200 dmsetup message wc 0 flush
	check "[$L] nothing dirty after the flush" wc_cond wc '$3 == $2 && $4 == 0'
	check "[$L] remove wc" dm_remove wc
	check "[$L] kernel log clean" dmesg_bad
}

check "load $WC_UNDER_TEST writecache" load_wc || finish
for M in $MODES; do
	NBS=$(echo "$BSS" | wc -w)
	I=0
	for BS in $BSS; do
		I=$((I + 1))
		# 4096 gets two thirds when both sizes run; the last size gets the rest.
		if [ "$NBS" -eq 1 ]; then
			TT=$SECS
		elif [ "$I" -eq 1 ]; then
			TT=$((SECS * 2 / 3))
		else
			TT=$(((SECS - SECS * 2 / 3) / (NBS - 1)))
		fi
		[ "$TT" -ge 5 ] || TT=5
		stress_run "$M" "$BS" "$TT"
		rmwc
	done
done
check "unload $WC_MODULE" unload_wc
finish
