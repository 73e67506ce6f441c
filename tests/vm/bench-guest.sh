#!/bin/sh
# tests/vm/bench-guest.sh: the guest half of scripts/bench.sh (issue 7).  Not
# a test (make check only runs tests/vm/t-*.sh); scripts/bench.sh hands it to
# scripts/vm-run.sh.  See docs/performance.md for the method.
#
# Every scenario runs against the raw device, the stock dm-writecache (target
# "writecache") and ours (loaded as target_name=writecache_cxx), both modules
# loaded side by side; the targets take turns within each repetition, and
# their order rotates from one repetition to the next.  Each measurement is
# one line on the console, parsed by the host:
#   BENCH scen=NAME tgt=raw|rawseq|stock|ours rep=N jobs=N key=value ...
# (rawseq: the pmem latency runs once more on the raw device, sequentially
# through the cache area, the page footprint a cache has.)
# A measurement that could not be taken prints "BENCH-ERROR ..." and makes
# the script exit 1.  Latencies are in ns, memory in kB.
#
# Parameters (harness.KEY=VALUE on the kernel command line, vm-run --append):
#   reps=3         repetitions
#   runtime=8      seconds per fio run (after ramp=1 seconds of warm-up)
#   fio_size=64M   region each fio run writes (randomly, 4 KiB blocks)
#   jobs=1,2,4     fio job counts of the IOPS scenarios
#   area=BYTES     pmem cache area of the latency, IOPS and drain scenarios
#                  (at the end of /dev/pmem0; default 1 GiB)
#   drain=65536    dirty blocks written back by the drain scenario
#   act=0          pmem cache area of the activation scenario in bytes
#                  (0: all of /dev/pmem0)
#   scen=all       comma list of: pmem_lat,pmem_iops,ssd_lat,ssd_iops,
#                  drain,ram_ssd (all RAM figures but the activation's),act
. /tests/lib.sh

REPS=$(harness_arg reps 3)
RT=$(harness_arg runtime 8)
RAMP=$(harness_arg ramp 1)
FSIZE=$(harness_arg fio_size 64M)
JOBS=$(harness_arg jobs 1,2,4 | tr , ' ')
AREA=$(harness_arg area 1073741824)
DRAIN=$(harness_arg drain 65536)
ACT=$(harness_arg act 0)
SCEN=$(harness_arg scen all)

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
S=$HARNESS_SSD
DM=bench
DEV=/dev/mapper/$DM
PARAMS=/sys/module/dm_writecache_cxx/parameters
ERRORS=0
FIOOUT=/tmp/bench-fio.json
FIOERR=/tmp/bench-fio.err

wants() {
	case ",$SCEN," in *",all,"* | *",$1,"*) return 0 ;; esac
	return 1
}

# bench_err SCEN TGT REP WHY...: a measurement that was not taken.
bench_err() {
	_be=$1 _bt=$2 _br=$3
	shift 3
	echo "BENCH-ERROR scen=$_be tgt=$_bt rep=$_br why=$*"
	ERRORS=$((ERRORS + 1))
}

# now_ns: NOW = CLOCK_MONOTONIC in ns, without forking (the header of
# /proc/timer_list; a fork costs milliseconds under TCG).
now_ns() {
	{
		read -r _n1
		read -r _n2
		read -r _n3
	} </proc/timer_list
	_n3=${_n3#now at }
	NOW=${_n3% nsecs}
}

# rotate REP WORDS...: WORDS rotated left by REP - 1 (each target takes
# each place in turn); order3 / order4 / order2 REP: this repetition's
# order of the targets.
rotate() {
	_k=$((($1 - 1) % ($# - 1)))
	shift
	while [ "$_k" -gt 0 ]; do
		_w=$1
		shift
		set -- "$@" "$_w"
		_k=$((_k - 1))
	done
	echo "$@"
}
order3() { rotate "$1" raw stock ours; }
order4() { rotate "$1" raw rawseq stock ours; }
order2() { rotate "$1" stock ours; }

tname() {
	case $1 in
	stock) echo writecache ;;
	ours) echo writecache_cxx ;;
	esac
}

# area_start DEV BYTES: start_sector of a cache area of BYTES at the end of
# DEV (0 for all of it).
area_start() {
	_ab=$(dev_bytes "$1")
	if [ "$2" = 0 ] || [ "$2" -ge "$_ab" ]; then
		echo 0
	else
		echo $(((_ab - $2) / 4096 * 8))
	fi
}

# status field helpers (n_blocks is INFO field 2, free 3, writeback 4).
st_field() { dmsetup status "$DM" | awk -v n=$(($1 + 3)) '{ print $n }'; }

# mkcache TGT p|s [OPTS...]: create $DM, a fresh cache (zeroed superblock).
mkcache() {
	_mt=$1 _mm=$2
	shift 2
	if [ "$_mm" = p ]; then
		dd if=/dev/zero of="$P" bs=512 seek="$PSS" count=8 conv=fsync 2>/dev/null || return
		_mc="$P 4096 $(($# + 2)) start_sector $PSS${*:+ $*}"
	else
		zero_sb "$S" || return
		_mc="$S 4096 $#${*:+ $*}"
	fi
	dm_create "$DM" "0 $OSEC $(tname "$_mt") $_mm $O $_mc"
}

rmcache() {
	dmsetup info "$DM" >/dev/null 2>&1 || return 0
	dm_remove "$DM"
}

# fio_fields FILE: the figures of fio's JSON output (one group-reported job)
# as key=value words: iops, ios, w_mean and w_p50/w_p99/w_p999 (write
# completion latency), s_* (fdatasync latency, when there are syncs).
fio_fields() {
	awk '
	function key(s) { sub(/^[[:space:]]*"/, "", s); sub(/".*$/, "", s); return s }
	function val(s) { sub(/^[^:]*: */, "", s); sub(/,[[:space:]]*$/, "", s); return s }
	function out(k, v) { if (!(k in seen)) { seen[k] = 1; line = line " " k "=" v } }
	/^[[:space:]]*"[^"]*" : [{[][[:space:]]*$/ { st[++d] = key($0); next }
	/^[[:space:]]*[{[][[:space:]]*$/ { st[++d] = "."; next }
	/^[[:space:]]*[]}],?[[:space:]]*$/ { d--; next }
	/^[[:space:]]*"[^"]*" : / {
		p = ""
		for (i = 1; i <= d; i++) p = p "/" st[i]
		p = p "/" key($0)
		v = val($0)
		if (p == "/./jobs/./error") out("err", v)
		else if (p == "/./jobs/./write/iops") out("iops", v)
		else if (p == "/./jobs/./write/total_ios") out("ios", v)
		else if (p == "/./jobs/./write/clat_ns/mean") out("w_mean", int(v))
		else if (p == "/./jobs/./write/clat_ns/percentile/50.000000") out("w_p50", v)
		else if (p == "/./jobs/./write/clat_ns/percentile/99.000000") out("w_p99", v)
		else if (p == "/./jobs/./write/clat_ns/percentile/99.900000") out("w_p999", v)
		else if (p == "/./jobs/./sync/lat_ns/N") out("s_n", v)
		else if (p == "/./jobs/./sync/lat_ns/mean") out("s_mean", int(v))
		else if (p == "/./jobs/./sync/lat_ns/percentile/50.000000") out("s_p50", v)
		else if (p == "/./jobs/./sync/lat_ns/percentile/99.000000") out("s_p99", v)
		else if (p == "/./jobs/./sync/lat_ns/percentile/99.900000") out("s_p999", v)
	}
	END { print substr(line, 2) }' "$1"
}

# sysstat: SB (busy jiffies of all vCPUs), SI (idle + iowait jiffies) and
# SC (context switches so far), from /proc/stat without forking.
sysstat() {
	while read -r _k _a _b _c _d _e _f _g _h _rest; do
		case "$_k" in
		cpu) SB=$((_a + _b + _c + _f + _g + _h)) SI=$((_d + _e)) ;;
		ctxt) SC=$_a ;;
		esac
	done </proc/stat
}

# run_fio SCEN TGT REP JOBS FILE OFFSET FIO-ARGS...: one time-based 4 KiB
# random-write run over FSIZE bytes at OFFSET of FILE; prints its BENCH line.
run_fio() {
	_fs=$1 _ft=$2 _fr=$3 _fj=$4 _ff=$5 _fo=$6
	shift 6
	rm -f "$FIOOUT"
	sysstat
	_sb=$SB _si=$SI _sc=$SC
	now_ns
	_t0=$NOW
	if ! fio --name=bench --filename="$_ff" --offset="$_fo" --size="${RUN_SIZE:-$FSIZE}" \
		--rw=randwrite --bs=4k --ioengine=psync --direct=1 \
		--numjobs="$_fj" --group_reporting --time_based --runtime="$RT" \
		--ramp_time="$RAMP" --percentile_list=50:99:99.9 \
		--output-format=json --output="$FIOOUT" "$@" >"$FIOERR" 2>&1; then
		bench_err "$_fs" "$_ft" "$_fr" "fio failed: $(tail -n 3 "$FIOERR" | tr '\n' ' ')"
		return 1
	fi
	now_ns
	sysstat
	# vCPU busy share and context switches per second over the whole run
	_sys="busy=$(((SB - _sb) * 100 / (SB - _sb + SI - _si + 1))) ctxt_s=$(((SC - _sc) * 1000000000 / (NOW - _t0)))"
	_fl=$(fio_fields "$FIOOUT")
	case " $_fl " in
	*" err=0 "*" w_p999="*) ;;
	*)
		bench_err "$_fs" "$_ft" "$_fr" "no figures in fio output: $_fl"
		return 1
		;;
	esac
	echo "BENCH scen=$_fs tgt=$_ft rep=$_fr jobs=$_fj $_fl $_sys"
}

# fio_on SCEN TGT REP JOBS MODE FIO-ARGS...: run_fio against the raw device
# (MODE p: the start of the pmem cache area; s: the SSD) or a fresh cache of
# target TGT; prints the target's status afterwards (comment line).
fio_on() {
	_os=$1 _ot=$2 _or=$3 _oj=$4 _om=$5
	shift 5
	if [ "$_ot" = rawseq ]; then
		# The page footprint of a cache: sequential writes through the
		# whole pmem cache area (see docs/performance.md).
		RUN_SIZE=$(($(dev_bytes "$P") - PSS * 512))
		run_fio "$_os" rawseq "$_or" "$_oj" "$P" $((PSS * 512)) "$@" --rw=write
		_or=$?
		RUN_SIZE=
		return $_or
	fi
	if [ "$_ot" = raw ]; then
		if [ "$_om" = p ]; then
			run_fio "$_os" raw "$_or" "$_oj" "$P" $((PSS * 512)) "$@"
		else
			run_fio "$_os" raw "$_or" "$_oj" "$S" 0 "$@"
		fi
		return
	fi
	if ! mkcache "$_ot" "$_om" >/tmp/bench-mk.out 2>&1; then
		bench_err "$_os" "$_ot" "$_or" "table create failed: $(tail -n 2 /tmp/bench-mk.out | tr '\n' ' ')"
		return 1
	fi
	run_fio "$_os" "$_ot" "$_or" "$_oj" "$DEV" 0 "$@"
	echo "# $_os $_ot rep $_or jobs $_oj status: $(dmsetup status "$DM" | cut -d' ' -f4-)"
	rmcache || bench_err "$_os" "$_ot" "$_or" "table remove failed"
}

# meminfo: FREE (free pages in kB, counting the per-CPU free lists, which
# /proc/meminfo's MemFree leaves out: they swing by megabytes), VU
# (VmallocUsed) and SL (Slab) in kB, after dropping the page cache.
meminfo() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	FREE=$(awk '$1 == "pages" && $2 == "free" { s += $3 } $1 == "count:" { s += $2 } END { print s * 4 }' /proc/zoneinfo)
	VU=0 SL=0
	while read -r _mk _mv _mu; do
		case "$_mk" in
		VmallocUsed:) VU=$_mv ;;
		Slab:) SL=$_mv ;;
		esac
	done </proc/meminfo
}

# Kernel-side durations of the device-mapper ioctls, from the function_graph
# tracer limited to three functions (no other function is hooked):
# table_load (DM_TABLE_LOAD: the target's constructor), dev_suspend
# (DM_DEV_SUSPEND, also resume: the target's resume), target_message
# (DM_TARGET_MSG).  They exclude dmsetup's own start-up, ~50 ms under TCG.
# The tracer is switched on once, first thing, and never off: switching
# it patches live kernel code (the sched_switch tracepoint in __schedule),
# which under multi-vCPU TCG now and then oopses on a stale int3 (seen
# when switching it off); a crash this early only costs a reboot.
TR=/sys/kernel/tracing
TRACE=0
trace_setup() {
	[ -e $TR/trace ] || mount -t tracefs nodev $TR 2>/dev/null || return 1
	echo 0 >$TR/tracing_on &&
		echo table_load >$TR/set_ftrace_filter &&
		echo dev_suspend >>$TR/set_ftrace_filter &&
		echo target_message >>$TR/set_ftrace_filter &&
		echo 1 >$TR/max_graph_depth &&
		echo function_graph >$TR/current_tracer &&
		echo >$TR/trace &&
		echo 1 >$TR/tracing_on || return 1
	TRACE=1
}
# trace_clear; ...; trace_ns FUNC: KNS = the duration in ns of the last call
# of FUNC since trace_clear (empty if none).
trace_clear() { [ "$TRACE" = 1 ] && echo >$TR/trace; }
trace_ns() {
	KNS=
	[ "$TRACE" = 1 ] || return 1
	KNS=$(awk -v f="$1" '
		index($0, " " f " [dm_mod]") || index($0, " " f "()") {
			for (i = 2; i <= NF; i++) if ($i == "us") d = $(i - 1)
		}
		END { if (d != "") printf "%d\n", d * 1000 }' $TR/trace)
	[ -n "$KNS" ]
}

# ram_one SCEN TGT REP p|s START_SECTOR: the memory a fresh, empty table
# of TGT holds (free pages before and after its creation).
ram_one() {
	_rs=$1 _rt=$2 _rr=$3 _rm=$4 _rss=$5
	if [ "$_rm" = p ]; then _rd=$P; else _rd=$S; fi
	dd if=/dev/zero of="$_rd" bs=512 seek="$_rss" count=8 conv=fsync 2>/dev/null
	meminfo
	_rf=$FREE _rv=$VU _rl=$SL
	if ! dm_create "$DM" "0 $OSEC $(tname "$_rt") $_rm $O $_rd 4096 2 start_sector $_rss" >/tmp/bench-mk.out 2>&1; then
		bench_err "$_rs" "$_rt" "$_rr" "table create failed: $(tail -n 2 /tmp/bench-mk.out | tr '\n' ' ')"
		return 1
	fi
	meminfo
	_rc=
	[ "$_rt" = ours ] && _rc=" core_ram=$(cat $PARAMS/core_ram_bytes)"
	echo "BENCH scen=$_rs tgt=$_rt rep=$_rr jobs=1 blocks=$(st_field 2) free_kb=$((_rf - FREE)) vmalloc_kb=$((VU - _rv)) slab_kb=$((SL - _rl))$_rc"
	rmcache || bench_err "$_rs" "$_rt" "$_rr" "table remove failed"
}

# --- set-up --------------------------------------------------------------------------
info "bench: kernel $HARNESS_KVER, $(nproc) CPUs, reps $REPS, runtime ${RT}s (+${RAMP}s ramp), fio region $FSIZE, jobs $JOBS"
check "load the stock dm-writecache (target writecache)" load_stock
check "load ours beside it (target writecache_cxx)" load_ours target_name=writecache_cxx
if ! module_loaded dm_writecache || ! module_loaded dm_writecache_cxx; then
	finish
fi
OSEC=$(dev_sectors "$O")
if trace_setup; then
	info "ioctl durations from ftrace (function_graph on table_load, dev_suspend, target_message)"
else
	info "no ftrace: ioctl durations are the dmsetup command times minus a no-op dmsetup"
	TRACE=0
fi
PSS=$(area_start "$P" "$AREA")
info "origin $O $(dev_bytes "$O") B; pmem $P $(dev_bytes "$P") B, cache area from sector $PSS; ssd $S $(dev_bytes "$S") B"

# Touch every page the pmem scenarios use once (the nvdimm is a host file
# mapping: first touches fault on the host).
now_ns
t0=$NOW
check "prime the pmem cache area" fio --name=prime --filename="$P" --offset=$((PSS * 512)) \
	--size=$(($(dev_bytes "$P") - PSS * 512)) --rw=write --bs=1M --ioengine=psync --direct=1
now_ns
info "primed $(($(dev_bytes "$P") - PSS * 512)) B of pmem in $(((NOW - t0) / 1000000)) ms"

# --- the scenarios ------------------------------------------------------------------
rep=1
while [ "$rep" -le "$REPS" ]; do
	info "=== repetition $rep of $REPS (order: $(order3 $rep))"
	if wants pmem_lat; then
		for t in $(order4 $rep); do
			fio_on pmem_lat_fdatasync "$t" "$rep" 1 p --fdatasync=1
			fio_on pmem_lat_dsync "$t" "$rep" 1 p --sync=dsync
		done
	fi
	if wants pmem_iops; then
		for j in $JOBS; do
			for t in $(order3 $rep); do
				fio_on pmem_iops "$t" "$rep" "$j" p
			done
		done
	fi
	if wants ssd_lat; then
		for t in $(order3 $rep); do
			fio_on ssd_lat_fdatasync "$t" "$rep" 1 s --fdatasync=1
			fio_on ssd_lat_dsync "$t" "$rep" 1 s --sync=dsync
		done
	fi
	if wants ssd_iops; then
		for j in $JOBS; do
			for t in $(order3 $rep); do
				fio_on ssd_iops "$t" "$rep" "$j" s
			done
		done
	fi
	if wants drain; then
		# DRAIN blocks written once each in random order over a contiguous
		# region, then one synchronous "flush" message: commit, write every
		# dirty block back to the origin, wait.
		for t in $(order2 $rep); do
			if ! mkcache "$t" p >/tmp/bench-mk.out 2>&1; then
				bench_err drain "$t" "$rep" "table create failed: $(tail -n 2 /tmp/bench-mk.out | tr '\n' ' ')"
				continue
			fi
			if ! fio --name=dirty --filename="$DEV" --size=$((DRAIN * 4096)) --rw=randwrite \
				--bs=4k --ioengine=psync --direct=1 >"$FIOERR" 2>&1; then
				bench_err drain "$t" "$rep" "fio failed: $(tail -n 3 "$FIOERR" | tr '\n' ' ')"
				rmcache
				continue
			fi
			nb=$(st_field 2)
			dirty=$((nb - $(st_field 3)))
			now_ns
			t0=$NOW
			dmsetup message "$DM" 0 clear_stats
			now_ns
			base=$((NOW - t0))
			trace_clear
			now_ns
			t0=$NOW
			if dmsetup message "$DM" 0 flush; then
				now_ns
				cmd=$((NOW - t0))
				trace_ns target_message || KNS=$((cmd - base))
				left=$((nb - $(st_field 3)))
				if [ "$left" = 0 ]; then
					echo "BENCH scen=drain tgt=$t rep=$rep jobs=1 blocks=$dirty ns=$KNS cmd_ns=$cmd base_ns=$base"
				else
					bench_err drain "$t" "$rep" "$left blocks still cached after the flush"
				fi
			else
				bench_err drain "$t" "$rep" "flush message failed"
			fi
			rmcache || bench_err drain "$t" "$rep" "table remove failed"
		done
	fi
	if wants ram_ssd; then
		# Kernel memory held by an (empty) table, at two cache sizes per
		# mode, so that the host can split it into a per-block and a
		# fixed part: SSD mode over all of the SSD and over a quarter of
		# it; pmem mode over the scenario area (the activation scenario
		# gives the large pmem size).
		SQS=$(area_start "$S" $(($(dev_bytes "$S") / 4)))
		for t in $(order2 $rep); do
			ram_one ram_ssd "$t" "$rep" s 0
			ram_one ram_ssd_small "$t" "$rep" s "$SQS"
			ram_one ram_pmem_small "$t" "$rep" p "$PSS"
		done
	fi
	rep=$((rep + 1))
done

if wants act; then
	# A cache full of committed entries (all but 64 blocks, so that no
	# watermark starts writeback: high_watermark 100 writes back only when
	# no block is free), then a fresh activation of it, alternately by each
	# module: "dmsetup load" (constructor) and "dmsetup resume" (the scan of
	# every entry), each timed; and the memory the live table holds.
	PSS=$(area_start "$P" "$ACT")
	ACT_OPTS="high_watermark 100 low_watermark 100"
	act_table() { echo "0 $OSEC $(tname "$1") p $O $P 4096 6 start_sector $PSS $ACT_OPTS"; }
	fill=0
	if mkcache ours p $ACT_OPTS >/tmp/bench-mk.out 2>&1; then
		nb=$(st_field 2)
		fill=$(((nb - 64) / 256 * 256))
		if [ $((fill * 8)) -gt "$OSEC" ]; then
			fill=$((OSEC / 8 / 256 * 256))
		fi
		now_ns
		t0=$NOW
		if fio --name=fill --filename="$DEV" --size=$((fill * 4096)) --rw=write --bs=1M \
			--ioengine=psync --direct=1 --end_fsync=1 >"$FIOERR" 2>&1; then
			now_ns
			info "activation: filled $fill of $nb blocks in $(((NOW - t0) / 1000000)) ms"
			info "status after the fill: $(dmsetup status $DM | cut -d' ' -f4-)"
		else
			bench_err act fill 0 "fio failed: $(tail -n 3 "$FIOERR" | tr '\n' ' ')"
			fill=0
		fi
		rmcache
	else
		bench_err act fill 0 "table create failed: $(tail -n 2 /tmp/bench-mk.out | tr '\n' ' ')"
	fi
	rep=1
	while [ "$fill" -gt 0 ] && [ "$rep" -le "$REPS" ]; do
		for t in $(order2 $rep); do
			meminfo
			mf=$FREE vu=$VU sl=$SL
			dmsetup create "$DM" --notable || {
				bench_err act "$t" "$rep" "dmsetup create --notable failed"
				continue
			}
			tab=$(act_table "$t")
			trace_clear
			now_ns
			t0=$NOW
			dmsetup load "$DM" --table "$tab"
			lrc=$?
			now_ns
			t1=$NOW
			trace_ns table_load
			kl=$KNS
			trace_clear
			now_ns
			t2=$NOW
			dmsetup resume "$DM"
			rrc=$?
			now_ns
			t3=$NOW
			trace_ns dev_suspend
			kr=$KNS
			now_ns
			t4=$NOW
			dmsetup info "$DM" >/dev/null
			now_ns
			base=$((NOW - t4))
			if [ $lrc != 0 ] || [ $rrc != 0 ]; then
				bench_err act "$t" "$rep" "load ($lrc) or resume ($rrc) failed"
				dmsetup remove "$DM"
				continue
			fi
			[ -n "$kl" ] || kl=$((t1 - t0 - base))
			[ -n "$kr" ] || kr=$((t3 - t2 - base))
			meminfo
			nb=$(st_field 2)
			cached=$((nb - $(st_field 3)))
			core=
			[ "$t" = ours ] && core=" core_ram=$(cat $PARAMS/core_ram_bytes)"
			if [ "$cached" = "$fill" ]; then
				echo "BENCH scen=act tgt=$t rep=$rep jobs=1 blocks=$nb cached=$cached load_ns=$kl resume_ns=$kr load_cmd_ns=$((t1 - t0)) resume_cmd_ns=$((t3 - t2)) base_ns=$base free_kb=$((mf - FREE)) vmalloc_kb=$((VU - vu)) slab_kb=$((SL - sl))$core"
			else
				bench_err act "$t" "$rep" "$cached blocks cached after activation, expected $fill"
			fi
			dmsetup mknodes "$DM" >/dev/null 2>&1
			rmcache || bench_err act "$t" "$rep" "table remove failed"
		done
		rep=$((rep + 1))
	done
fi

check "unload both modules" unload_writecache
if [ "$ERRORS" = 0 ]; then
	pass "every measurement taken"
else
	fail "every measurement taken" "$ERRORS failed"
fi
finish
