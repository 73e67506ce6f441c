#!/bin/sh
# tests/vm/pathlen-guest.sh: the guest half of scripts/pathlen.sh (issue 13):
# path length in instructions per I/O.  Not a test (make check only runs
# tests/vm/t-*.sh); scripts/pathlen.sh hands it to scripts/vm-run.sh
# --icount, under which the guest's clocks count executed instructions
# (1 ns = 1 instruction), so fio's latencies and the kernel clock read
# around a command are instruction counts.  See docs/performance.md,
# "Path length (instructions per I/O)".
#
# Scenarios (harness.scen, a comma list; default all):
#   write  QD1 4 KiB random writes (fio psync, direct) in three modes (none,
#          fdatasync=1, sync=dsync) against raw /dev/pmem0, dm-zero,
#          dm-linear over /dev/pmem0, the stock dm-writecache (target
#          "writecache") and ours (target "writecache_cxx"), p mode over
#          the pmem with /dev/vda as origin
#   graph  function_graph call counts under the two targets' map functions
#          (wc_map, writecache_map) for a few writes per mode
#   act    activation of a ~1M-block cache (512-byte blocks, ~90% committed):
#          the instructions of dmsetup create --notable, load and resume,
#          and the kernel-side table_load / dev_suspend
# Each figure is one console line, parsed by the host:
#   PATHLEN scen=write tgt=T mode=M rep=N ios=.. clat=.. [sync=.. syncs=..] ...
#   PATHLEN scen=graph tgt=T mode=M bios=.. maps=.. calls=.. fn=NAME
#   PATHLEN scen=act tgt=T rep=N blocks=.. cached=.. create=.. load=.. ...
#   PATHLEN-PHASE name=write|graph|act|end ns=..   (the clock at each phase)
#   PATHLEN-TREE tgt=T mode=M |...   (the call tree of one traced write)
# A figure that could not be taken prints "PATHLEN-ERROR ..." and makes the
# script fail; "PATHLEN-SKIP ..." says why a scenario could not run at all.
#
# Parameters (harness.KEY=VALUE, vm-run --append):
#   ios=8000       writes per measured fio run (fio --number_ios)
#   region=32M     the region the measured writes go to (at random, each
#                  block once: ios <= region / 4 KiB); the warm-up pass writes
#                  the same number of blocks to the next region
#   reps=3         repetitions of the write scenario
#   graph_ios=16   writes traced per target and mode (at most region / 16 KiB)
#   area=512M      the cache area of the write and graph scenarios (4 KiB
#                  blocks; the end of /dev/pmem0)
#   act_area=512M  the activation cache area (the end of /dev/pmem0)
#   act_fill=90    percent of its blocks written and committed beforehand
#   act_reps=2     activations per module
. /tests/lib.sh

IOS=$(harness_arg ios 8000)
REGION=$(harness_arg region 32M)
REPS=$(harness_arg reps 3)
GRAPH_IOS=$(harness_arg graph_ios 16)
AREA=$(harness_arg area 512M)
ACT_AREA=$(harness_arg act_area 512M)
ACT_FILL=$(harness_arg act_fill 90)
ACT_REPS=$(harness_arg act_reps 2)
SCEN=$(harness_arg scen all)

O=$HARNESS_ORIGIN
P=$HARNESS_PMEM
DM=pathlen
DEV=/dev/mapper/$DM
ERRORS=0
FIOOUT=/tmp/pathlen-fio.json
FIOERR=/tmp/pathlen-fio.err
TR=/sys/kernel/tracing

wants() {
	case ",$SCEN," in *",all,"* | *",$1,"*) return 0 ;; esac
	return 1
}

# pl_err SCEN TGT WHY...: a figure that was not taken.
pl_err() {
	_es=$1 _et=$2
	shift 2
	echo "PATHLEN-ERROR scen=$_es tgt=$_et why=$*"
	ERRORS=$((ERRORS + 1))
}

# bytes SIZE: 32M, 1G, 4k or plain bytes.
bytes() {
	case "$1" in
	*[kK]) echo $((${1%?} * 1024)) ;;
	*[mM]) echo $((${1%?} * 1048576)) ;;
	*[gG]) echo $((${1%?} * 1073741824)) ;;
	*) echo "$1" ;;
	esac
}

# now_ns: NOW = CLOCK_MONOTONIC in ns (= instructions under icount), read
# from the header of /proc/timer_list without forking.
now_ns() {
	{
		read -r _n1
		read -r _n2
		read -r _n3
	} </proc/timer_list
	_n3=${_n3#now at }
	NOW=${_n3% nsecs}
}

tname() {
	case $1 in
	stock) echo writecache ;;
	ours) echo writecache_cxx ;;
	esac
}

# st_field N: INFO status field N of $DM (2 n_blocks, 3 free, 4 writeback).
st_field() { dmsetup status "$DM" | awk -v n=$(($1 + 3)) '{ print $n }'; }

rmdev() {
	dmsetup info "$DM" >/dev/null 2>&1 || return 0
	dm_remove "$DM"
}

# fio_fields FILE: the figures of job "meas" in fio's JSON output, as
# key=value words: err, ios (writes), clat (mean write completion latency,
# ns), sync and syncs (mean fdatasync latency and count, if any).
fio_fields() {
	awk '
	function key(s) { sub(/^[[:space:]]*"/, "", s); sub(/".*$/, "", s); return s }
	function val(s) { sub(/^[^:]*: */, "", s); sub(/,[[:space:]]*$/, "", s); gsub(/"/, "", s); return s }
	function out(k, v) { if (!(k in seen)) { seen[k] = 1; line = line " " k "=" v } }
	/^[[:space:]]*"[^"]*" : [{[][[:space:]]*$/ { st[++d] = key($0); next }
	/^[[:space:]]*[{[][[:space:]]*$/ { st[++d] = "."; next }
	/^[[:space:]]*[]}],?[[:space:]]*$/ { d--; next }
	/^[[:space:]]*"[^"]*" : / {
		p = ""
		for (i = 1; i <= d; i++) p = p "/" st[i]
		p = p "/" key($0)
		v = val($0)
		if (p == "/./jobs/./jobname") job = v
		if (job != "meas") next
		if (p == "/./jobs/./error") out("err", v)
		else if (p == "/./jobs/./write/total_ios") out("ios", v)
		else if (p == "/./jobs/./write/clat_ns/mean") out("clat", sprintf("%.1f", v))
		else if (p == "/./jobs/./sync/lat_ns/N") syncs = v
		else if (p == "/./jobs/./sync/lat_ns/mean") sync = v
	}
	END {
		if (syncs > 0) line = line sprintf(" sync=%.1f syncs=%d", sync, syncs)
		print substr(line, 2)
	}' "$1"
}

# fio_run FILE MODE N JOB-ARGS...: N 4 KiB random writes per job (each to
# a distinct block of its RB-byte region), in one fio process; the jobs
# (--name=..., --offset=...) run one after the other.  FIO_FIELDS = the
# figures of the job named "meas".
fio_run() {
	_ff=$1 _fm=$2 _fn=$3
	shift 3
	case "$_fm" in
	none) _fx= ;;
	fdatasync) _fx=--fdatasync=1 ;;
	dsync) _fx=--sync=dsync ;;
	esac
	rm -f "$FIOOUT"
	FIO_FIELDS=
	# shellcheck disable=SC2086
	fio --filename="$_ff" --size="$RB" --rw=randwrite --bs=4k \
		--ioengine=psync --direct=1 --number_ios="$_fn" --randrepeat=1 \
		--output-format=json --output="$FIOOUT" $_fx "$@" \
		>"$FIOERR" 2>&1 || return 1
	FIO_FIELDS=$(fio_fields "$FIOOUT")
}

# fio_ok N MODE: FIO_FIELDS has no error, N writes, a write latency and,
# for MODE fdatasync, a sync latency.
fio_ok() {
	case " $FIO_FIELDS " in *" err=0 "*) ;; *) return 1 ;; esac
	case " $FIO_FIELDS " in *" ios=$1 "*) ;; *) return 1 ;; esac
	case " $FIO_FIELDS " in *" clat="[0-9]*) ;; *) return 1 ;; esac
	[ "$2" != fdatasync ] && return 0
	case " $FIO_FIELDS " in *" sync="[0-9]*) ;; *) return 1 ;; esac
}

# fio_pass FILE MODE N: a warm-up job (N writes to the second region of
# FILE), then the measured job "meas" (N writes to the first region).
fio_pass() {
	fio_run "$1" "$2" "$3" --name=warm --offset="$RB" --name=meas --offset=0 --stonewall
}

# mkdev TGT: the device a target's writes go to; DEV_OF = its path.
mkdev() {
	case "$1" in
	raw)
		DEV_OF=$P
		return 0
		;;
	zero) _mt="0 $((2 * RB / 512)) zero" ;;
	linear) _mt="0 $((2 * RB / 512)) linear $P 0" ;;
	stock | ours)
		dd if=/dev/zero of="$P" bs=512 seek="$PSS" count=8 conv=fsync 2>/dev/null || return
		_mt="0 $OSEC $(tname "$1") p $O $P 4096 2 start_sector $PSS"
		;;
	esac
	DEV_OF=$DEV
	dm_create "$DM" "$_mt"
}

# write_one TGT MODE REP: one measurement (fresh device), its PATHLEN line.
write_one() {
	_wt=$1 _wm=$2 _wr=$3
	if ! mkdev "$_wt" >/tmp/pathlen-mk.out 2>&1; then
		pl_err write "$_wt" "mode=$_wm rep=$_wr: device setup failed: $(tail -n 2 /tmp/pathlen-mk.out | tr '\n' ' ')"
		return 1
	fi
	if ! fio_pass "$DEV_OF" "$_wm" "$IOS"; then
		pl_err write "$_wt" "mode=$_wm rep=$_wr: fio failed: $(tail -n 3 "$FIOERR" | tr '\n' ' ')"
		rmdev
		return 1
	fi
	_ws=
	case "$_wt" in
	stock | ours)
		# used blocks and writeback: no writeback may have started
		_ws=" nb=$(st_field 2) free=$(st_field 3) wb=$(st_field 4)"
		;;
	esac
	if ! fio_ok "$IOS" "$_wm"; then
		pl_err write "$_wt" "mode=$_wm rep=$_wr: unexpected fio figures: $FIO_FIELDS"
		rmdev
		return 1
	fi
	echo "PATHLEN scen=write tgt=$_wt mode=$_wm rep=$_wr $FIO_FIELDS$_ws"
	[ "$_wt" = raw ] || rmdev || pl_err write "$_wt" "mode=$_wm rep=$_wr: device remove failed"
}

# --- tracing ----------------------------------------------------------------------
TRACE=0
trace_mount() {
	[ -e $TR/trace ] || mount -t tracefs nodev $TR 2>/dev/null || return 1
	grep -qw function_graph $TR/available_tracers
}

# The trace is cut into sections by trace_marker lines "pathlen-MODE"
# (a measured job) and "pathlen-warm" (a warm-up job, not counted), which
# fio's exec_prerun writes before each job (through tee: fio sends the
# command's output to a file of its own).

# graph_count TGT ROOT: the call counts under ROOT in each measured section
# of the trace buffer, one PATHLEN line per mode and function (names as the
# kernel has them: C++ names mangled, the host demangles).
graph_count() {
	awk -v tgt="$1" -v root="$2" -v bios="$GRAPH_IOS" '
	# " 0)   0.215 us    |    name [module]() {", "...();", "}" or a marker
	{
		i = index($0, "|")
		if (!i) next
		s = substr($0, i + 1)
		if (s ~ /\/\* pathlen-/) {
			sec = s
			sub(/^.*\/\* pathlen-/, "", sec)
			sub(/[^a-z].*$/, "", sec)
			if (sec == "warm") sec = ""
			else modes[sec] = 1
			next
		}
		if (sec == "" || s !~ /\(\)( \{|;)[[:space:]]*$/) next
		sub(/^[[:space:]]+/, "", s)
		sub(/\(\).*$/, "", s)
		sub(/ \[[^]]*\]$/, "", s)
		if (s == root) maps[sec]++
		n[sec, s]++
	}
	END {
		for (k in n) {
			split(k, p, SUBSEP)
			printf "PATHLEN scen=graph tgt=%s mode=%s bios=%d maps=%d calls=%d fn=%s\n", tgt, p[1], bios, maps[p[1]], n[k], p[2]
		}
	}' $TR/trace
}

# graph_tree TGT: the first traced map call of each measured section as
# PATHLEN-TREE lines (at most 300 each).
graph_tree() {
	awk -v tgt="$1" '
	{
		i = index($0, "|")
		if (!i) next
		s = substr($0, i + 1)
		if (s ~ /\/\* pathlen-/) {
			sec = s
			sub(/^.*\/\* pathlen-/, "", sec)
			sub(/[^a-z].*$/, "", sec)
			if (sec == "warm") sec = ""
			on = 0; k = 0
			next
		}
		if (sec == "" || done[sec]) next
		if (!on && s ~ /^  [^ ]/ && s ~ /\(\) \{/) on = 1
		if (!on) next
		print "PATHLEN-TREE tgt=" tgt " mode=" sec " |" s
		if (++k >= 300 || s ~ /^  \}/) done[sec] = 1
	}' $TR/trace
}

# graph_one TGT: one fresh cache, one fio process whose jobs run one after
# the other: per mode a warm-up (64 writes to a region of its own) and
# GRAPH_IOS traced writes to another fresh region.  The tracer is switched
# on once per target: switching it patches every kernel function, which
# TCG pays for by retranslating the kernel, and with it on every kernel
# call pays the tracer's hook, fio's start-up included.
graph_one() {
	_gt=$1
	_root=wc_map
	[ "$_gt" = stock ] && _root=writecache_map
	if ! mkdev "$_gt" >/tmp/pathlen-mk.out 2>&1; then
		pl_err graph "$_gt" "device setup failed: $(tail -n 2 /tmp/pathlen-mk.out | tr '\n' ' ')"
		return 1
	fi
	if ! echo "$_root" >$TR/set_graph_function 2>/tmp/pathlen-tr.err; then
		pl_err graph "$_gt" "cannot trace $_root: $(cat /tmp/pathlen-tr.err)"
		rmdev
		return 1
	fi
	_q=$((RB / 4))
	set --
	_gi=0
	for _gm in none fdatasync dsync; do
		case "$_gm" in
		none) _gx= ;;
		fdatasync) _gx=--fdatasync=1 ;;
		dsync) _gx=--sync=dsync ;;
		esac
		# shellcheck disable=SC2086
		set -- "$@" --name="warm-$_gm" --offset=$((RB + _gi * _q)) --number_ios=64 $_gx \
			--exec_prerun="echo pathlen-warm | tee $TR/trace_marker" --stonewall \
			--name="meas-$_gm" --offset=$((_gi * _q)) --number_ios="$GRAPH_IOS" $_gx \
			--exec_prerun="echo pathlen-$_gm | tee $TR/trace_marker" --stonewall
		_gi=$((_gi + 1))
	done
	echo function_graph >$TR/current_tracer
	echo 0 >$TR/options/funcgraph-irqs 2>/dev/null
	echo 0 >$TR/options/funcgraph-proc 2>/dev/null
	echo >$TR/trace
	echo 1 >$TR/tracing_on
	fio --filename="$DEV_OF" --size="$_q" --rw=randwrite --bs=4k --ioengine=psync \
		--direct=1 --randrepeat=1 "$@" >"$FIOERR" 2>&1
	_grc=$?
	echo 0 >$TR/tracing_on
	if [ $_grc != 0 ]; then
		pl_err graph "$_gt" "fio failed: $(tail -n 3 "$FIOERR" | tr '\n' ' ')"
	elif ! grep -q "$_root" $TR/trace; then
		pl_err graph "$_gt" "no $_root calls in the trace"
	else
		graph_count "$_gt" "$_root"
		graph_tree "$_gt"
	fi
	echo nop >$TR/current_tracer
	echo >$TR/set_graph_function
	rmdev
}

# --- set-up --------------------------------------------------------------------------
RB=$(bytes "$REGION")
info "pathlen: kernel $HARNESS_KVER, $(nproc) CPU(s), scen $SCEN, $IOS writes per run over $RB B, $REPS rep(s)"
check "load the stock dm-writecache (target writecache)" load_stock
check "load ours beside it (target writecache_cxx)" load_ours target_name=writecache_cxx
check "load dm-zero" modprobe dm-zero
if ! module_loaded dm_writecache || ! module_loaded dm_writecache_cxx; then
	finish
fi
OSEC=$(dev_sectors "$O")
PB=$(dev_bytes "$P")
AB=$(bytes "$AREA")
[ "$AB" -lt "$PB" ] || AB=$((PB / 4096 * 4096))
AAB=$(bytes "$ACT_AREA")
[ "$AAB" -lt "$PB" ] || AAB=$((PB / 4096 * 4096))
# The caches use the end of the pmem: the write scenario's (4 KiB blocks)
# the last AB bytes, the activation's (512-byte blocks) the last AAB; raw
# and dm-linear write to its first 2 * RB.
PSS=$(((PB - AB) / 4096 * 8))
info "origin $O $(dev_bytes "$O") B; pmem $P $PB B: raw/linear regions [0, $((2 * RB))), cache area from byte $((PSS * 512))"
if [ $((2 * RB)) -gt $((PSS * 512)) ]; then
	pl_err setup all "the raw regions overlap the cache area (pmem too small)"
fi
if [ $((IOS * 4096)) -gt "$RB" ]; then
	pl_err setup all "ios=$IOS does not fit the region $RB (each block is written once)"
fi
now_ns
t0=$NOW
now_ns
info "now_ns itself: $((NOW - t0)) instructions"
NULL_NS=$((NOW - t0))
# Touch the whole pmem once (the nvdimm is a host file mapping; under
# icount a host fault costs no guest instructions, but it costs time).
check "prime the pmem" fio --name=prime --filename="$P" --size="$PB" --rw=write --bs=1M \
	--ioengine=psync --direct=1

# phase NAME: the clock at the start of a phase (the host reports each
# phase's instructions).
phase() {
	now_ns
	echo "PATHLEN-PHASE name=$1 ns=$NOW"
}

# --- write: QD1 4 KiB random writes -----------------------------------------------------
phase write
if wants write; then
	rep=1
	while [ "$rep" -le "$REPS" ]; do
		info "=== write, repetition $rep of $REPS"
		for t in raw zero linear stock ours; do
			for m in none fdatasync dsync; do
				write_one "$t" "$m" "$rep"
			done
		done
		rep=$((rep + 1))
	done
	if [ "$REPS" = 1 ]; then
		# One repeated figure, for the spread within a boot.
		write_one ours dsync 2
		write_one stock dsync 2
	fi
fi

# --- graph: calls per write under the map functions ------------------------------------
phase graph
if wants graph; then
	if ! trace_mount; then
		echo "PATHLEN-SKIP scen=graph why=no tracefs or no function_graph tracer in this kernel"
	elif ! grep -q "^wc_map " $TR/available_filter_functions ||
		! grep -q "^writecache_map " $TR/available_filter_functions; then
		echo "PATHLEN-SKIP scen=graph why=wc_map or writecache_map not traceable (available_filter_functions)"
	else
		echo 0 >$TR/tracing_on
		echo nop >$TR/current_tracer
		echo >$TR/set_ftrace_filter
		echo 0 >$TR/max_graph_depth
		echo 8192 >$TR/buffer_size_kb
		# Interrupts that land in a traced write: funcgraph-irqs=0 drops
		# hard-irq context, these drop the softirqs run on irq exit.
		echo >$TR/set_graph_notrace
		for _f in irq_enter_rcu irq_exit_rcu handle_softirqs __do_softirq; do
			echo "$_f" >>$TR/set_graph_notrace 2>/dev/null
		done
		TRACE=1
		for t in stock ours; do
			graph_one "$t"
		done
	fi
fi

# --- act: activation of a ~1M-block cache ----------------------------------------------
# ktime FUNC: KNS = the duration in ns of the last call of FUNC in the
# trace buffer (function_graph limited to table_load and dev_suspend).
ktime() {
	KNS=
	[ "$TRACE" = 2 ] || return 1
	KNS=$(awk -v f="$1" '
		index($0, " " f " [dm_mod]") || index($0, " " f "()") {
			for (i = 2; i <= NF; i++) if ($i == "us") d = $(i - 1)
		}
		END { if (d != "") printf "%d\n", d * 1000 }' $TR/trace)
	[ -n "$KNS" ]
}

# timed CMD...: run CMD; T = its instructions (the clock read subtracted).
timed() {
	now_ns
	_t0=$NOW
	"$@"
	_trc=$?
	now_ns
	T=$((NOW - _t0 - NULL_NS))
	return $_trc
}

phase act
if wants act; then
	APSS=$(((PB - AAB) / 4096 * 8))
	ACT_OPTS="high_watermark 100 low_watermark 100"
	act_table() { echo "0 $OSEC $(tname "$1") p $O $P 512 6 start_sector $APSS $ACT_OPTS"; }
	if trace_mount && echo table_load >$TR/set_ftrace_filter 2>/dev/null &&
		echo dev_suspend >>$TR/set_ftrace_filter && echo 1 >$TR/max_graph_depth &&
		echo function_graph >$TR/current_tracer && echo 1 >$TR/tracing_on; then
		TRACE=2
	else
		info "no function_graph on table_load/dev_suspend: command figures only"
	fi
	fill=0
	dd if=/dev/zero of="$P" bs=512 seek="$APSS" count=8 conv=fsync 2>/dev/null
	if dm_create "$DM" "$(act_table ours)" >/tmp/pathlen-mk.out 2>&1; then
		nb=$(st_field 2)
		# ACT_FILL percent of the blocks, in whole MiB (fio bs=1M)
		fill=$((nb * ACT_FILL / 100 / 2048 * 2048))
		[ $((fill * 512)) -le $((OSEC * 512)) ] || fill=$((OSEC / 2048 * 2048))
		now_ns
		t0=$NOW
		if fio --name=fill --filename="$DEV" --size=$((fill * 512)) --rw=write --bs=1M \
			--ioengine=psync --direct=1 --end_fsync=1 >"$FIOERR" 2>&1; then
			now_ns
			info "activation: filled $fill of $nb blocks in $(((NOW - t0) / 1000000)) M instructions"
			info "status after the fill: $(dmsetup status $DM | cut -d' ' -f4-)"
		else
			pl_err act fill "fio failed: $(tail -n 3 "$FIOERR" | tr '\n' ' ')"
			fill=0
		fi
		rmdev
	else
		pl_err act fill "table create failed: $(tail -n 2 /tmp/pathlen-mk.out | tr '\n' ' ')"
	fi
	rep=1
	while [ "$fill" -gt 0 ] && [ "$rep" -le "$ACT_REPS" ]; do
		for t in stock ours; do
			# dmsetup's own cost: a command that does one ioctl
			timed dmsetup version >/dev/null
			base=$T
			[ "$TRACE" = 2 ] && echo >$TR/trace
			if ! timed dmsetup create "$DM" --notable; then
				pl_err act "$t" "rep=$rep: dmsetup create --notable failed"
				continue
			fi
			tc=$T
			tab=$(act_table "$t")
			timed dmsetup load "$DM" --table "$tab"
			lrc=$?
			tl=$T
			ktime table_load
			kl=$KNS
			timed dmsetup resume "$DM"
			rrc=$?
			tres=$T
			ktime dev_suspend
			kr=$KNS
			if [ $lrc != 0 ] || [ $rrc != 0 ]; then
				pl_err act "$t" "rep=$rep: load ($lrc) or resume ($rrc) failed"
				dmsetup remove "$DM"
				continue
			fi
			nb=$(st_field 2)
			cached=$((nb - $(st_field 3)))
			if [ "$cached" = "$fill" ]; then
				echo "PATHLEN scen=act tgt=$t rep=$rep blocks=$nb cached=$cached create=$tc load=$tl resume=$tres dmsetup_base=$base${kl:+ k_load=$kl}${kr:+ k_resume=$kr}"
			else
				pl_err act "$t" "rep=$rep: $cached blocks cached after activation, expected $fill"
			fi
			dmsetup mknodes "$DM" >/dev/null 2>&1
			rmdev || pl_err act "$t" "rep=$rep: table remove failed"
		done
		rep=$((rep + 1))
	done
	if [ "$TRACE" = 2 ]; then
		echo 0 >$TR/tracing_on
		echo nop >$TR/current_tracer
	fi
fi

phase end
check "unload both modules" unload_writecache
if [ "$ERRORS" = 0 ]; then
	pass "every figure taken"
else
	fail "every figure taken" "$ERRORS failed"
fi
finish
