#!/bin/bash
# scripts/pathlen.sh: path length in instructions per I/O (issue 13).  One
# QEMU guest boot per kernel under -icount (scripts/vm-run.sh --icount:
# guest clocks count executed instructions) runs tests/vm/pathlen-guest.sh:
# QD1 4 KiB random writes (fio psync) in three modes against raw pmem,
# dm-zero, dm-linear, the stock dm-writecache and ours; function_graph call
# counts under both targets' map functions; the activation of a ~1M-block
# cache.  Then the core's write path alone under valgrind --tool=callgrind
# (tests/pathlen/).  Writes OUT/report.md and OUT/results.txt.  See
# docs/performance.md, "Path length (instructions per I/O)".
#
#   scripts/pathlen.sh               both kernels, full sizes -> docs/bench/pathlen/
#   scripts/pathlen.sh --quick       6.1 only, 2000 writes per run, one
#                                    repetition, a smaller activation
#                                    (a few minutes) -> build/pathlen-quick/
#   scripts/pathlen.sh --callgrind   only the userspace callgrind run (no
#                                    guest) -> build/pathlen-callgrind/
#   scripts/pathlen.sh --report DIR  regenerate DIR/report.md from
#                                    DIR/results.txt and DIR/meta.txt
# Options: --kver 6.1|6.12|all|FULL-VERSION (default all; --quick: 6.1),
# --out DIR, --rev REV (measure the sources of git revision REV, exported
# with git archive, instead of the working tree; the scripts stay this
# tree's), --ios N (writes per fio run), --reps N, --no-callgrind,
# --no-lock (the caller already holds /tmp/wc-qemu.lock; so does
# WC_QEMU_LOCK_HELD=1 in the environment).
#
# No figure is asserted: the exit status is non-zero iff some figure could
# not be taken or is obviously broken (missing, zero, not a number).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
LOCK=/tmp/wc-qemu.lock

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; }
die() {
	echo "pathlen: ERROR: $*" >&2
	exit 2
}
note() { echo "pathlen: $*"; }

QUICK=0
KVER_ARG=
OUT=
REV=
IOS=
REPS=
CG=1
CG_ONLY=0
USE_LOCK=1
[ -n "${WC_QEMU_LOCK_HELD:-}" ] && USE_LOCK=0
REPORT_ONLY=
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1; shift ;;
	--kver) KVER_ARG=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--rev) REV=${2:?}; shift 2 ;;
	--ios) IOS=${2:?}; shift 2 ;;
	--reps) REPS=${2:?}; shift 2 ;;
	--callgrind) CG_ONLY=1; shift ;;
	--no-callgrind) CG=0; shift ;;
	--no-lock) USE_LOCK=0; shift ;;
	--report) REPORT_ONLY=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument $1" ;;
	esac
done

# ---------------------------------------------------------------------------------
# The report: OUT/results.txt -> OUT/report.md.  Lines:
#   kver=K scen=write tgt=T mode=M rep=N ios=.. clat=.. [sync=.. syncs=..] [nb= free= wb=]
#   kver=K scen=graph tgt=T mode=M bios=.. maps=.. calls=.. fn=NAME
#   kver=K scen=act tgt=T rep=N blocks=.. cached=.. create=.. load=.. resume=.. dmsetup_base=.. [k_load=.. k_resume=..]
#   kver=K scen=phase name=.. ns=..
#   scen=callgrind mode=M writes=N total=.. write_bio=.. flush_bio=.. per_write=.. abi="..."
#   scen=callgrind_fn mode=M kind=incl|self ir=.. per_write=.. fn=NAME
# (fn= is last; C++ names are demangled for the report with c++filt.)
# ---------------------------------------------------------------------------------
make_report() {
	local dir=$1
	{
		cat "$dir/meta.txt"
		echo "==="
		if command -v c++filt >/dev/null; then c++filt <"$dir/results.txt"; else cat "$dir/results.txt"; fi
	} | awk '
	function fmt(v) { return v == "" ? "–" : sprintf("%.0f", v) }
	function fmt1(v) { return v == "" ? "–" : sprintf("%.1f", v) }
	function fm(v) { return v == "" ? "–" : sprintf("%.1f", v / 1e6) }
	function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "–" : sprintf("%.2f", a / b) }
	function short(s) { sub(/\(.*$/, "", s); return s }
	function add(k, v) {
		n[k]++; sum[k] += v
		if (!(k in mn) || v < mn[k]) mn[k] = v
		if (!(k in mx) || v > mx[k]) mx[k] = v
	}
	function mean(k) { return (k in n) ? sum[k] / n[k] : "" }
	function sp(k) { return (k in n) && n[k] > 1 ? sprintf("%.0f", mx[k] - mn[k]) : "" }
	function addk(kv) { if (!(kv in kseen)) { kseen[kv] = 1; kl[++nk] = kv } }
	/^===$/ { body = 1; next }
	!body { meta[++nmeta] = $0; next }
	{
		delete f
		line = $0
		fnv = ""
		if ((i = index(line, " fn=")) > 0) { fnv = substr(line, i + 4); line = substr(line, 1, i - 1) }
		m = split(line, w, " ")
		for (j = 1; j <= m; j++) { e = index(w[j], "="); if (e) f[substr(w[j], 1, e - 1)] = substr(w[j], e + 1) }
		s = f["scen"]; kv = f["kver"]
		if (s == "write") {
			addk(kv)
			b = kv SUBSEP f["tgt"] SUBSEP f["mode"]
			add(b SUBSEP "clat", f["clat"])
			if (f["mode"] == "fdatasync") {
				add(b SUBSEP "sync", f["sync"])
				add(b SUBSEP "sum", f["clat"] + f["sync"])
			}
			if (f["tgt"] == "stock" || f["tgt"] == "ours") {
				used = f["nb"] - f["free"]
				if (!(b in maxused) || used > maxused[b]) maxused[b] = used
				nbk[kv] = f["nb"]
			}
			ios[kv] = f["ios"]
		} else if (s == "act") {
			addk(kv)
			b = kv SUBSEP f["tgt"]
			actblocks[kv] = f["blocks"]; actcached[kv] = f["cached"]
			add(b SUBSEP "create", f["create"]); add(b SUBSEP "load", f["load"])
			add(b SUBSEP "resume", f["resume"]); add(b SUBSEP "base", f["dmsetup_base"])
			add(b SUBSEP "cmdsum", f["create"] + f["load"] + f["resume"])
			if (f["k_load"] != "") { add(b SUBSEP "k_load", f["k_load"]); add(b SUBSEP "k_resume", f["k_resume"]); add(b SUBSEP "k_sum", f["k_load"] + f["k_resume"]) }
		} else if (s == "graph") {
			addk(kv)
			b = kv SUBSEP f["tgt"] SUBSEP f["mode"]
			gbios[b] = f["bios"]; gmaps[b] = f["maps"]
			g = short(fnv)
			gc[b SUBSEP g] += f["calls"]
			if (!((b SUBSEP g) in gseen)) { gseen[b SUBSEP g] = 1; gn[b]++; gf[b, gn[b]] = g }
			gtot[b] += f["calls"]
		} else if (s == "phase") {
			ph[kv, f["name"]] = f["ns"]
		} else if (s == "callgrind" && f["pmem"] == "native") {
			cgnat[f["mode"]] = f["per_write"]
		} else if (s == "callgrind") {
			cgm[++ncg] = f["mode"]; cgw[f["mode"]] = f["writes"]; cgpw[f["mode"]] = f["per_write"]
			cgwb[f["mode"]] = f["write_bio"]; cgfb[f["mode"]] = f["flush_bio"]; cgt[f["mode"]] = f["total"]
			a = $0; sub(/^.*abi="/, "", a); sub(/".*$/, "", a); cgabi = a
		} else if (s == "callgrind_fn") {
			b = f["mode"] SUBSEP f["kind"]
			cfn[b, ++cfc[b]] = fnv; cfi[b, cfc[b]] = f["per_write"]
		}
	}
	END {
		split("raw zero linear stock ours", T, " ")
		split("raw dm-zero dm-linear stock&nbsp;dm-writecache ours", TL, " ")
		TL[4] = "stock dm-writecache"
		split("none fdatasync dsync", M, " ")
		split("none:clat fdatasync:clat fdatasync:sync fdatasync:sum dsync:clat", C, " ")
		print "# Path length: instructions per I/O"
		print ""
		for (i = 1; i <= nmeta; i++) print "- " meta[i]
		print ""
		print "Generated by `scripts/pathlen.sh`; method and discussion in `docs/performance.md`, section \"Path length (instructions per I/O)\". Guests run under QEMU TCG with `-icount shift=0,sleep=off`: 1 ns of guest time is one guest instruction, so every figure below is a count of guest instructions (kernel and user). Means over the repetitions; \"spread\" is max − min over them."
		for (ki = 1; ki <= nk; ki++) {
			kv = kl[ki]
			print ""
			print "## Kernel " kv
			if ((kv SUBSEP "end") in ph)
				printf "\nGuest phases (instructions): write %s M, graph %s M, act %s M.\n", fm(ph[kv, "graph"] - ph[kv, "write"]), fm(ph[kv, "act"] - ph[kv, "graph"]), fm(ph[kv, "end"] - ph[kv, "act"])
			print ""
			printf "### QD1 4 KiB random writes: instructions per `pwrite` (%s writes per run, fio psync, direct)\n\n", ios[kv]
			print "fio clat mean of one `pwrite`; fdatasync mode: the write, the `fdatasync` (fio sync latency mean) and their sum; O_DSYNC: one `pwrite` that is a FUA write plus a flush."
			print ""
			print "| target | no sync | fdatasync: write | fdatasync: sync | fdatasync: sum | O_DSYNC |"
			print "|---|---|---|---|---|---|"
			for (ti = 1; ti <= 5; ti++) {
				t = T[ti]; b = kv SUBSEP t
				printf "| %s | %s | %s | %s | %s | %s |\n", TL[ti], fmt(mean(b SUBSEP "none" SUBSEP "clat")), fmt(mean(b SUBSEP "fdatasync" SUBSEP "clat")), fmt(mean(b SUBSEP "fdatasync" SUBSEP "sync")), fmt(mean(b SUBSEP "fdatasync" SUBSEP "sum")), fmt(mean(b SUBSEP "dsync" SUBSEP "clat"))
			}
			for (ti = 2; ti <= 5; ti++)
				diffrow(kv, T[ti], "raw", TL[ti] " − raw")
			ratiorow(kv, "raw", "**ours overhead / stock overhead**")
			for (ti = 4; ti <= 5; ti++)
				diffrow(kv, T[ti], "zero", TL[ti] " − dm-zero")
			ratiorow(kv, "zero", "**ours overhead / stock overhead, above dm-zero**")
			print ""
			printf "Spread (max − min over the repetitions, instructions; the number of repetitions in brackets):"
			for (ti = 1; ti <= 5; ti++)
				for (mi = 1; mi <= 3; mi++) {
					k = kv SUBSEP T[ti] SUBSEP M[mi] SUBSEP (M[mi] == "fdatasync" ? "sum" : "clat")
					if (sp(k) != "") printf " %s %s %s (%d);", TL[ti], M[mi], sp(k), n[k]
				}
			print ""
			print ""
			printf "Cache blocks in use after a run (of %s): at most", nbk[kv]
			for (ti = 4; ti <= 5; ti++)
				for (mi = 1; mi <= 3; mi++)
					printf " %s/%s %s;", T[ti], M[mi], maxused[kv SUBSEP T[ti] SUBSEP M[mi]]
			print " writeback never started (`wb=0` in every result line)."
			if ((kv SUBSEP "stock" SUBSEP "create") in n) {
				print ""
				printf "### Activation: %s blocks of 512 B, %s of them committed (instructions, M)\n\n", actblocks[kv], actcached[kv]
				print "Command figures: the guest clock read around each `dmsetup` command (fork, exec and the dmsetup process included); \"dmsetup base\" is `dmsetup version` (the same process, one trivial ioctl). Kernel figures: function_graph durations of `table_load` (the constructor) and `dev_suspend` (the resume)."
				print ""
				print "| module | create --notable | load | resume | all three | dmsetup base | kernel: table_load | kernel: dev_suspend | kernel: both |"
				print "|---|---|---|---|---|---|---|---|---|"
				for (ti = 4; ti <= 5; ti++) {
					b = kv SUBSEP T[ti]
					printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", TL[ti], fm(mean(b SUBSEP "create")), fm(mean(b SUBSEP "load")), fm(mean(b SUBSEP "resume")), fm(mean(b SUBSEP "cmdsum")), fm(mean(b SUBSEP "base")), fm(mean(b SUBSEP "k_load")), fm(mean(b SUBSEP "k_resume")), fm(mean(b SUBSEP "k_sum"))
				}
				so = kv SUBSEP "ours"; ss = kv SUBSEP "stock"
				printf "| ours / stock | %s | %s | %s | %s | | %s | %s | %s |\n", ratio(mean(so SUBSEP "create"), mean(ss SUBSEP "create")), ratio(mean(so SUBSEP "load"), mean(ss SUBSEP "load")), ratio(mean(so SUBSEP "resume"), mean(ss SUBSEP "resume")), ratio(mean(so SUBSEP "cmdsum"), mean(ss SUBSEP "cmdsum")), ratio(mean(so SUBSEP "k_load"), mean(ss SUBSEP "k_load")), ratio(mean(so SUBSEP "k_resume"), mean(ss SUBSEP "k_resume")), ratio(mean(so SUBSEP "k_sum"), mean(ss SUBSEP "k_sum"))
				if (n[ss SUBSEP "k_sum"] > 1)
					printf "\nSpread of load + resume (kernel) over %d activations each: stock %s, ours %s instructions.\n", n[ss SUBSEP "k_sum"], sp(ss SUBSEP "k_sum"), sp(so SUBSEP "k_sum")
			}
			hasg = 0
			for (mi = 1; mi <= 3; mi++) if ((kv SUBSEP "ours" SUBSEP M[mi]) in gbios) hasg = 1
			if (hasg) {
				print ""
				print "### Kernel functions called per `pwrite` (function_graph)"
				print ""
				print "Every function entered under the target'"'"'s map function (`wc_map`, ours; `writecache_map`, stock), counted over a few traced writes and divided by their number. \"map calls\" counts the map calls themselves (O_DSYNC and fdatasync: the write bio and the empty flush bio). Functions the compiler inlined, and `notrace` ones, do not appear."
				for (mi = 1; mi <= 3; mi++) {
					bo = kv SUBSEP "ours" SUBSEP M[mi]; bs = kv SUBSEP "stock" SUBSEP M[mi]
					if (!(bo in gbios) && !(bs in gbios)) continue
					printf "\n**Mode %s** (%s writes traced): map calls per pwrite ours %s, stock %s; functions entered per pwrite ours %s, stock %s.\n\n", M[mi], gbios[bo], fmt1(gmaps[bo] / gbios[bo]), fmt1(gmaps[bs] / gbios[bs]), fmt1(gtot[bo] / gbios[bo]), fmt1(gtot[bs] / gbios[bs])
					print "| ours: function | calls | stock: function | calls |"
					print "|---|---|---|---|"
					# sort each side by calls, descending (selection sort: short lists)
					no = sortg(bo, SO); ns = sortg(bs, SS)
					lim = 32
					for (r = 1; r <= (no > ns ? no : ns) && r <= lim; r++)
						printf "| %s | %s | %s | %s |\n", r <= no ? "`" SO[r] "`" : "", r <= no ? fmt1(gc[bo SUBSEP SO[r]] / gbios[bo]) : "", r <= ns ? "`" SS[r] "`" : "", r <= ns ? fmt1(gc[bs SUBSEP SS[r]] / gbios[bs]) : ""
					if (no > lim || ns > lim) {
						mo = no > lim ? gc[bo SUBSEP SO[lim + 1]] / gbios[bo] : 0
						ms = ns > lim ? gc[bs SUBSEP SS[lim + 1]] / gbios[bs] : 0
						printf "\n(Not shown: %d more functions of ours, %d of stock'"'"'s, each at most %s calls per pwrite; all are in results.txt.)\n", (no > lim) ? no - lim : 0, (ns > lim) ? ns - lim : 0, fmt1((mo > ms) ? mo : ms)
					}
				}
			}
		}
		if (ncg) {
			print ""
			print "## The core alone: valgrind --tool=callgrind (tests/pathlen)"
			print ""
			printf "Userspace build of the core (drive.c: %s), generic flush layer (a cached memcpy and a full barrier), pthread locks; instructions per write = the inclusive cost of `drive_write_bio` plus `drive_flush_bio` over the measured writes (each 4 KiB to a block not yet cached, after as many warm-up writes).\n\n", cgabi
			print "| mode | writes | per write: write bio | per write: flush bio | per write: both | measured loop / writes | both, x86 layer |"
			print "|---|---|---|---|---|---|---|"
			for (i = 1; i <= ncg; i++) {
				mo = cgm[i]
				printf "| %s | %s | %s | %s | %s | %s | %s |\n", mo, cgw[mo], fmt1(cgwb[mo] / cgw[mo]), fmt1(cgfb[mo] / cgw[mo]), fmt1(cgpw[mo]), fmt1(cgt[mo] / cgw[mo]), fmt1(cgnat[mo])
			}
			print ""
			print "\"x86 layer\": the same driver built with the native flush layer (`PMEM=native`), which valgrind 3.19 runs: its CPUID reports no CLFLUSHOPT, so the 4 KiB copy is the `movnti` loop, where the guest kernel (`-cpu max`, CLFLUSHOPT) copies cached and writes each line back with `clflushopt`."
			for (i = 1; i <= ncg; i++) {
				mo = cgm[i]
				printf "\n**Mode %s**, instructions per write, top functions:\n\n", mo
				print "| inclusive | function | self | function |"
				print "|---|---|---|---|"
				bi = mo SUBSEP "incl"; bx = mo SUBSEP "self"
				for (r = 1; r <= (cfc[bi] > cfc[bx] ? cfc[bi] : cfc[bx]); r++)
					printf "| %s | %s | %s | %s |\n", r <= cfc[bi] ? fmt1(cfi[bi, r]) : "", r <= cfc[bi] ? "`" short(cfn[bi, r]) "`" : "", r <= cfc[bx] ? fmt1(cfi[bx, r]) : "", r <= cfc[bx] ? "`" short(cfn[bx, r]) "`" : ""
			}
		}
	}
	# diffrow KVER TGT BASE LABEL: TGT minus BASE in each column.
	function diffrow(kv, t, base, label,    ci, cc, a, z) {
		printf "| %s |", label
		for (ci = 1; ci <= 5; ci++) {
			split(C[ci], cc, ":")
			a = mean(kv SUBSEP t SUBSEP cc[1] SUBSEP cc[2]); z = mean(kv SUBSEP base SUBSEP cc[1] SUBSEP cc[2])
			printf " %s |", (a == "" || z == "") ? "–" : fmt(a - z)
		}
		print ""
	}
	# ratiorow KVER BASE LABEL: (ours - BASE) / (stock - BASE) in each column.
	function ratiorow(kv, base, label,    ci, cc, o, st, z) {
		printf "| %s |", label
		for (ci = 1; ci <= 5; ci++) {
			split(C[ci], cc, ":")
			z = mean(kv SUBSEP base SUBSEP cc[1] SUBSEP cc[2])
			o = mean(kv SUBSEP "ours" SUBSEP cc[1] SUBSEP cc[2]); st = mean(kv SUBSEP "stock" SUBSEP cc[1] SUBSEP cc[2])
			printf " **%s** |", (o == "" || st == "" || z == "") ? "–" : ratio(o - z, st - z)
		}
		print ""
	}
	function sortg(b, OUTA,    k, i, j, t) {
		k = gn[b] + 0
		for (i = 1; i <= k; i++) OUTA[i] = gf[b, i]
		for (i = 1; i <= k; i++)
			for (j = i + 1; j <= k; j++)
				if (gc[b SUBSEP OUTA[j]] > gc[b SUBSEP OUTA[i]] || (gc[b SUBSEP OUTA[j]] == gc[b SUBSEP OUTA[i]] && OUTA[j] < OUTA[i])) {
					t = OUTA[i]; OUTA[i] = OUTA[j]; OUTA[j] = t
				}
		return k
	}' >"$dir/report.md"
	note "report: $dir/report.md"
}

# check_results DIR KVERS...: print what is missing or broken (nothing: all
# figures are there).
check_results() {
	local dir=$1 k t m
	shift
	local r=$dir/results.txt
	for k in "$@"; do
		for t in raw zero linear stock ours; do
			for m in none fdatasync dsync; do
				grep -q "^kver=$k scen=write tgt=$t mode=$m " "$r" || echo "$k: no write figure for $t/$m"
			done
		done
		for t in stock ours; do
			grep -q "^kver=$k scen=act tgt=$t " "$r" || echo "$k: no activation figure for $t"
			if ! grep -q "^kver=$k scen=graph-skip " "$r"; then
				for m in none fdatasync dsync; do
					grep -q "^kver=$k scen=graph tgt=$t mode=$m " "$r" || echo "$k: no call counts for $t/$m"
				done
			fi
		done
	done
	if [ "$CG" = 1 ]; then
		for m in none fdatasync dsync; do
			grep -q "^scen=callgrind pmem=generic mode=$m " "$r" || echo "callgrind: no figure for $m"
		done
	fi
	# Obviously broken figures: a value that must be a positive number.
	awk '
	function bad(k) { printf "broken figure %s=%s in: %s\n", k, f[k], $0 }
	function pos(k) { if (!(k in f) || f[k] !~ /^[0-9]+(\.[0-9]+)?$/ || f[k] + 0 <= 0) bad(k) }
	{
		delete f
		line = $0
		if ((i = index(line, " fn=")) > 0) line = substr(line, 1, i - 1)
		m = split(line, w, " ")
		for (j = 1; j <= m; j++) { e = index(w[j], "="); if (e) f[substr(w[j], 1, e - 1)] = substr(w[j], e + 1) }
		s = f["scen"]
		if (s == "write") {
			pos("clat"); pos("ios")
			if (f["mode"] == "fdatasync") pos("sync")
			if (f["tgt"] == "stock" || f["tgt"] == "ours") { if (f["wb"] != "0") bad("wb"); pos("free") }
		} else if (s == "act") {
			pos("create"); pos("load"); pos("resume"); pos("dmsetup_base"); pos("cached")
			if ("k_load" in f) { pos("k_load"); pos("k_resume") }
		} else if (s == "graph") {
			pos("bios"); pos("maps"); pos("calls")
		} else if (s == "callgrind") {
			pos("per_write"); pos("write_bio"); pos("total")
			if (f["mode"] != "none") pos("flush_bio")
		}
	}' "$r"
	[ ! -s "$dir/errors.txt" ] || sed 's/^/guest: /' "$dir/errors.txt"
}

if [ -n "$REPORT_ONLY" ]; then
	[ -f "$REPORT_ONLY/results.txt" ] || die "no $REPORT_ONLY/results.txt"
	[ -f "$REPORT_ONLY/meta.txt" ] || : >"$REPORT_ONLY/meta.txt"
	make_report "$REPORT_ONLY"
	exit 0
fi

# ---------------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------------
START=$(date +%s)
cd "$REPO"

if [ "$QUICK" = 1 ]; then
	: "${IOS:=2000}" "${REPS:=1}" "${KVER_ARG:=6.1}"
	GRAPH_IOS=4 ACT_AREA=128M ACT_REPS=1 CG_N=2000
	DEF_OUT=$REPO/build/pathlen-quick
else
	: "${IOS:=8000}" "${REPS:=3}" "${KVER_ARG:=all}"
	GRAPH_IOS=16 ACT_AREA=512M ACT_REPS=3 CG_N=8000
	DEF_OUT=$REPO/docs/bench/pathlen
fi
[ "$CG_ONLY" = 1 ] && DEF_OUT=$REPO/build/pathlen-callgrind
: "${OUT:=$DEF_OUT}"
case "$IOS" in '' | *[!0-9]* | 0) die "--ios needs a positive number" ;; esac
[ "$IOS" -le 8192 ] || die "--ios at most 8192 (each write goes to a distinct block of a 32 MiB region)"
case "$REPS" in '' | *[!0-9]* | 0) die "--reps needs a positive number" ;; esac
REGION=32M
NV_SIZE=640M

# Kernels.
KVERS=()
if [ "$CG_ONLY" = 0 ]; then
	case "$KVER_ARG" in
	all)
		while read -r _s v; do KVERS+=("$v"); done < <("$HERE/kernels.sh")
		;;
	6.1 | 6.12)
		v=$("$HERE/kernels.sh" "$KVER_ARG") || true
		[ -n "$v" ] || die "no $KVER_ARG kernel with headers and image installed (make deps)"
		KVERS=("$v")
		;;
	*) KVERS=("$KVER_ARG") ;;
	esac
	[ ${#KVERS[@]} -gt 0 ] || die "no kernel found (scripts/kernels.sh)"
	for v in "${KVERS[@]}"; do
		[ -d "/usr/src/linux-headers-$v" ] || die "no headers for $v"
	done
fi

mkdir -p "$OUT" "$REPO/build"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "$REPO/build/pathlen-work.XXXXXX")
trap 'rm -rf "$WORK/src"' EXIT

# The sources measured: the working tree, or a revision exported.
SRC=$REPO
if [ -n "$REV" ]; then
	git -C "$REPO" rev-parse --verify -q "$REV^{commit}" >/dev/null || die "no revision $REV"
	mkdir -p "$WORK/src"
	git -C "$REPO" archive "$REV" | tar -x -C "$WORK/src"
	SRC=$WORK/src
	DESC="revision $(git -C "$REPO" rev-parse --short "$REV") ($REV)"
else
	DESC="working tree at $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
fi
note "measuring the $DESC; work directory $WORK"

: >"$OUT/results.txt"
: >"$OUT/errors.txt"
QEMU_VER=$(qemu-system-x86_64 --version 2>/dev/null | head -1 | sed 's/QEMU emulator version //' || echo unknown)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
LOCK_WAIT=0
VMFAIL=0

# --- callgrind: the core alone ------------------------------------------------------------
# cg_lines: callgrind_annotate's "N (P%)  file:function [object]" lines as
# "N<TAB>function".
cg_lines() {
	sed -n 's/^ *\([0-9,][0-9,]*\) ([^)]*)  [^:]*:\(.*\) \[[^]]*\]$/\1\t\2/p' |
		awk -F'\t' -v OFS='\t' '{ gsub(/,/, "", $1); print }'
}

# cg_run LAYER MODE: one callgrind run of the driver built with pmem layer
# LAYER (generic: the figures and the top functions; native: the figures);
# its results.txt lines.
cg_run() {
	local layer=$1 m=$2 dir=$WORK/cg-$1 cg out log per tot wb fb abi
	cg=$dir/callgrind.out.$m
	log=$dir/valgrind.$m.log
	if ! timeout 600 valgrind --tool=callgrind --toggle-collect=measure_loop \
		--callgrind-out-file="$cg" "$dir/pathlen-drive" -n "$CG_N" -r 8192 -a 512 \
		-m "$m" >"$dir/drive.$m.out" 2>"$log"; then
		tail -n 5 "$log" "$dir/drive.$m.out"
		echo "callgrind: $layer layer, mode $m: the driver failed (log $log)"
		return 1
	fi
	abi=$(sed -n 's/.*abi="\([^"]*\)".*/\1/p' "$dir/drive.$m.out")
	out=$dir/annotate.$m
	callgrind_annotate --inclusive=yes --threshold=100 "$cg" 2>/dev/null | cg_lines >"$out.incl"
	callgrind_annotate --threshold=100 "$cg" 2>/dev/null | cg_lines >"$out.self"
	tot=$(callgrind_annotate "$cg" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
	wb=$(awk -F'\t' '$2 == "drive_write_bio" { print $1; exit }' "$out.incl")
	fb=$(awk -F'\t' '$2 == "drive_flush_bio" { print $1; exit }' "$out.incl")
	per=$(awk -v a="${wb:-0}" -v b="${fb:-0}" -v n="$CG_N" 'BEGIN { printf "%.1f", (a + b) / n }')
	echo "scen=callgrind pmem=$layer mode=$m writes=$CG_N total=${tot:-0} write_bio=${wb:-0} flush_bio=${fb:-0} per_write=$per abi=\"$abi\"" >>"$OUT/results.txt"
	printf 'callgrind %-7s %-9s %8s instructions per write (write bio %s, flush bio %s; loop total / N %s)\n' "$layer" "$m" "$per" \
		"$(awk -v a="${wb:-0}" -v n="$CG_N" 'BEGIN { printf "%.1f", a / n }')" \
		"$(awk -v a="${fb:-0}" -v n="$CG_N" 'BEGIN { printf "%.1f", a / n }')" \
		"$(awk -v a="${tot:-0}" -v n="$CG_N" 'BEGIN { printf "%.1f", a / n }')"
	[ "$layer" = generic ] || return 0
	# Top functions: inclusive (without the driver's own frames) and self.
	awk -F'\t' -v m="$m" -v n="$CG_N" '
		$2 ~ /^(main|measure_loop|one_write|\(below main\)|0x[0-9a-f]+|__libc_start_main.*|__libc_start_call_main)$/ { next }
		k < 14 { k++; printf "scen=callgrind_fn mode=%s kind=incl ir=%s per_write=%.1f fn=%s\n", m, $1, $1 / n, $2 }' \
		"$out.incl" >>"$OUT/results.txt"
	awk -F'\t' -v m="$m" -v n="$CG_N" '
		k < 14 { k++; printf "scen=callgrind_fn mode=%s kind=self ir=%s per_write=%.1f fn=%s\n", m, $1, $1 / n, $2 }' \
		"$out.self" >>"$OUT/results.txt"
	grep "^scen=callgrind_fn mode=$m kind=incl" "$OUT/results.txt" | head -n 10 |
		sed 's/.* per_write=\([^ ]*\) fn=\(.*\)/    \1\t\2/'
}

# run_callgrind: the driver built with the generic pmem layer (the brief
# figures; valgrind need not know the x86 layer's instructions) and, as a
# cross-check, with the native layer (valgrind 3.19 runs it: movnti).
run_callgrind() {
	local layer m
	command -v valgrind >/dev/null || {
		echo "callgrind: valgrind not installed (make deps)" >>"$OUT/errors.txt"
		return 1
	}
	for layer in generic native; do
		note "callgrind: building tests/pathlen against $SRC (PMEM=$layer)"
		if ! make -s -C "$REPO/tests/pathlen" TOP="$SRC" OUT="$WORK/cg-$layer" PMEM="$layer" \
			-j2 >"$WORK/cg-build-$layer.log" 2>&1; then
			tail -n 20 "$WORK/cg-build-$layer.log"
			echo "callgrind: build (PMEM=$layer) failed (log $WORK/cg-build-$layer.log)" >>"$OUT/errors.txt"
			continue
		fi
		for m in none fdatasync dsync; do
			cg_run "$layer" "$m" && continue
			# The native layer is a cross-check: its failure is noted,
			# not fatal.
			if [ "$layer" = generic ]; then
				echo "callgrind: generic layer, mode $m: no figure (logs in $WORK/cg-$layer)" >>"$OUT/errors.txt"
			else
				echo "scen=callgrind-skip pmem=$layer mode=$m" >>"$OUT/results.txt"
			fi
		done
	done
}

# --- the guests ----------------------------------------------------------------------------
run_guest() {
	local kver=$1 ko log vmout timeout append rc=0
	note "$kver: building the module"
	if ! "$SRC/scripts/kbuild.sh" "$kver" >"$WORK/kbuild-$kver.log" 2>&1; then
		tail -n 20 "$WORK/kbuild-$kver.log"
		echo "$kver: module build failed (log $WORK/kbuild-$kver.log)" >>"$OUT/errors.txt"
		return 1
	fi
	ko=$SRC/build/kbuild/$kver/dm-writecache-cxx.ko
	log=$WORK/console-$kver.log
	vmout=$WORK/vm-run-$kver.out
	append="harness.ios=$IOS harness.region=$REGION harness.reps=$REPS harness.graph_ios=$GRAPH_IOS"
	append="$append harness.act_area=$ACT_AREA harness.act_reps=$ACT_REPS"
	# Guest speed under icount: ~300 M instructions/s of this host.
	if [ "$QUICK" = 1 ]; then timeout=900; else timeout=$((1200 + REPS * IOS / 20)); fi
	local vm=("$HERE/vm-run.sh" --kver "$kver" --icount --ko "$ko" --nvdimm-size "$NV_SIZE"
		--timeout "$timeout" --log "$log" --append "$append"
		"$REPO/tests/vm/pathlen-guest.sh")
	note "$kver: guest under -icount (timeout ${timeout}s)"
	[ "$USE_LOCK" = 1 ] && note "waiting for $LOCK (one guest at a time)"
	local t0
	t0=$(date +%s)
	set +e
	if [ "$USE_LOCK" = 1 ]; then
		# shellcheck disable=SC2016
		WC_QEMU_LOCK_HELD=1 flock "$LOCK" bash -c 'date +%s >"$0"; exec "$@"' "$WORK/locked-at" "${vm[@]}" >"$vmout" 2>&1
	else
		date +%s >"$WORK/locked-at"
		"${vm[@]}" >"$vmout" 2>&1
	fi
	rc=$?
	set -e
	LOCK_WAIT=$((LOCK_WAIT + $(cat "$WORK/locked-at" 2>/dev/null || echo "$t0") - t0))
	grep -v '^    | \(PATHLEN\|ok \|# \)' "$vmout" | tail -n 30
	tr -d '\r' <"$log" | sed -n -e "s/^PATHLEN \(.*\)/kver=$kver \1/p" \
		-e "s/^PATHLEN-PHASE \(.*\)/kver=$kver scen=phase \1/p" \
		-e "s/^PATHLEN-SKIP scen=graph \(.*\)/kver=$kver scen=graph-skip \1/p" >>"$OUT/results.txt"
	tr -d '\r' <"$log" | sed -n "s/^PATHLEN-ERROR \(.*\)/$kver: \1/p" >>"$OUT/errors.txt"
	tr -d '\r' <"$log" | sed -n 's/^PATHLEN-TREE //p' | { c++filt 2>/dev/null || cat; } >"$OUT/graph-$kver.txt"
	tr -d '\r' <"$log" | grep '^# ' >"$OUT/guest-$kver.txt" || true
	if [ "$rc" != 0 ]; then
		echo "$kver: vm-run status $rc (console log $log)" >>"$OUT/errors.txt"
		return 1
	fi
}

if [ "$CG_ONLY" = 0 ]; then
	for v in "${KVERS[@]}"; do
		run_guest "$v" || VMFAIL=1
	done
fi
if [ "$CG" = 1 ] || [ "$CG_ONLY" = 1 ]; then
	CG=1
	run_callgrind || true
fi

WALL=$(($(date +%s) - START))
BUSY=$((WALL - LOCK_WAIT))
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); sources: $DESC"
	if [ "$CG_ONLY" = 0 ]; then
		echo "guests: ${KVERS[*]}; QEMU $QEMU_VER, TCG, -icount shift=0,sleep=off, 1 vCPU, 1 GiB RAM, nvdimm $NV_SIZE (fsdax /dev/pmem0), origin /dev/vda 1 GiB (virtio)"
		echo "parameters: $IOS writes per fio run over a $REGION region (each block once), after as many warm-up writes to the next $REGION; $REPS repetition(s)$([ "$QUICK" = 1 ] && echo ' (--quick)'); caches in the last 512 MiB of the pmem (4 KiB blocks, default watermarks: 50/45 %); activation cache: the last $ACT_AREA, 512-byte blocks, 90% committed, $ACT_REPS activation(s) per module; $GRAPH_IOS traced writes per target and mode"
	fi
	[ "$CG" = 1 ] && echo "callgrind: valgrind $(valgrind --version 2>/dev/null | sed 's/valgrind-//'), $CG_N measured writes after $CG_N warm-up writes, 4 KiB blocks, 512 MiB area"
	echo "host: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), load average $LOAD0 before, $LOAD1 after; wall time ${BUSY} s (+${LOCK_WAIT} s waiting for the lock)"
} >"$OUT/meta.txt"
make_report "$OUT"

problems=$(check_results "$OUT" "${KVERS[@]}")
echo "time: $BUSY s (plus $LOCK_WAIT s waiting for $LOCK)"
if [ "$VMFAIL" != 0 ] || [ -n "$problems" ]; then
	echo "$problems" | sed '/^$/d; s/^/pathlen: /'
	echo "pathlen: FAILED (work directory $WORK)"
	exit 1
fi
note "every figure taken; results in $OUT"
