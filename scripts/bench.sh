#!/bin/bash
# scripts/bench.sh: the benchmark of issue 7 (make bench).  Builds our module
# for the newest installed 6.12 kernel, boots ONE QEMU guest in which every
# scenario runs against the raw device, the stock dm-writecache and ours
# (tests/vm/bench-guest.sh), then writes OUT/report.md, OUT/results.txt and
# the PNG plots.  See docs/performance.md.
#
#   scripts/bench.sh                 full run: 3 repetitions -> docs/bench/
#   scripts/bench.sh --quick         smoke run (1 repetition, tiny sizes, a
#                                    few minutes) -> build/bench-quick/;
#                                    exit 1 if any scenario gave no numbers
#   scripts/bench.sh --report DIR    regenerate DIR/report.md and the plots
#                                    from DIR/results.txt
# Options: --reps N, --kver KVER (full version or series), --out DIR,
# --runtime S (seconds per fio run), --no-lock (the caller already holds
# /tmp/wc-qemu.lock; so does WC_QEMU_LOCK_HELD=1 in the environment).
#
# No figure is asserted: performance lives in the report; the exit status
# only says whether every measurement was taken.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
# die, note, wc_usage, wc_kver, the QEMU lock (WC_USE_QEMU_LOCK: 0 with
# WC_QEMU_LOCK_HELD=1 in the environment).
# shellcheck source=scripts/lib.sh
. "$HERE/lib.sh"

QUICK=0
REPS=
KVER=
OUT=
RUNTIME=
REPORT_ONLY=
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1; shift ;;
	--reps) REPS=${2:?}; shift 2 ;;
	--kver) KVER=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--runtime) RUNTIME=${2:?}; shift 2 ;;
	--no-lock) WC_USE_QEMU_LOCK=0; shift ;;
	--report) REPORT_ONLY=${2:?}; shift 2 ;;
	-h | --help) wc_usage; exit 0 ;;
	*) wc_usage >&2; die "unknown argument $1" ;;
	esac
done

# ---------------------------------------------------------------------------------
# The report: OUT/results.txt (one "scen=.. tgt=.. rep=.. jobs=.. k=v .." line
# per measurement) -> OUT/report.md and OUT/*.png.
# ---------------------------------------------------------------------------------

# aggregate RESULTS: "key scen jobs tgt median min max n" lines, one per
# figure, with the derived figures (latencies in us, memory in B/block).
aggregate() {
	awk '
	function put(k, v) {
		n = ++cnt[k]
		val[k, n] = v
	}
	{
		delete f
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			f[kv[1]] = kv[2]
		}
		s = f["scen"]; t = f["tgt"]; j = f["jobs"]
		b = s SUBSEP j SUBSEP t
		if (s ~ /_lat_/) {
			put(b SUBSEP "p50", f["w_p50"] / 1000)
			put(b SUBSEP "p99", f["w_p99"] / 1000)
			put(b SUBSEP "p999", f["w_p999"] / 1000)
			put(b SUBSEP "mean", f["w_mean"] / 1000)
			if ("s_p50" in f) {
				put(b SUBSEP "op_mean", 1e6 / f["iops"])
				put(b SUBSEP "s_p50", f["s_p50"] / 1000)
				put(b SUBSEP "s_p99", f["s_p99"] / 1000)
				put(b SUBSEP "s_p999", f["s_p999"] / 1000)
				put(b SUBSEP "sum_p50", (f["w_p50"] + f["s_p50"]) / 1000)
				put(b SUBSEP "sum_p99", (f["w_p99"] + f["s_p99"]) / 1000)
				put(b SUBSEP "sum_p999", (f["w_p999"] + f["s_p999"]) / 1000)
			} else {
				put(b SUBSEP "op_mean", 1e6 / f["iops"])
			}
			put(b SUBSEP "iops", f["iops"])
		} else if (s ~ /_iops$/) {
			put(b SUBSEP "iops", f["iops"])
			if ("ctxt_s" in f) put(b SUBSEP "ctxt_s", f["ctxt_s"])
			if ("busy" in f) put(b SUBSEP "busy", f["busy"])
		} else if (s == "drain") {
			put(b SUBSEP "ms", f["ns"] / 1e6)
			put(b SUBSEP "blocks_s", f["blocks"] / (f["ns"] / 1e9))
			put(b SUBSEP "blocks", f["blocks"])
		} else if (s == "act") {
			put(b SUBSEP "load_ms", f["load_ns"] / 1e6)
			put(b SUBSEP "resume_ms", f["resume_ns"] / 1e6)
			put(b SUBSEP "total_ms", (f["load_ns"] + f["resume_ns"]) / 1e6)
			put(b SUBSEP "cmd_ms", (f["load_cmd_ns"] + f["resume_cmd_ns"]) / 1e6)
			put(b SUBSEP "blocks", f["blocks"])
			put(b SUBSEP "mem_b", f["free_kb"] * 1024 / f["blocks"])
			put(b SUBSEP "free_kb", f["free_kb"])
			put(b SUBSEP "vmalloc_b", f["vmalloc_kb"] * 1024 / f["blocks"])
			if ("core_ram" in f) put(b SUBSEP "core_b", f["core_ram"] / f["blocks"])
		} else if (s ~ /^ram_/) {
			put(b SUBSEP "free_kb", f["free_kb"])
			put(b SUBSEP "blocks", f["blocks"])
			put(b SUBSEP "mem_b", f["free_kb"] * 1024 / f["blocks"])
			put(b SUBSEP "vmalloc_b", f["vmalloc_kb"] * 1024 / f["blocks"])
			if ("core_ram" in f) put(b SUBSEP "core_b", f["core_ram"] / f["blocks"])
		}
	}
	END {
		for (k in cnt) {
			n = cnt[k]
			for (i = 1; i <= n; i++) a[i] = val[k, i]
			for (i = 2; i <= n; i++) {
				x = a[i]
				for (m = i - 1; m >= 1 && a[m] > x; m--) a[m + 1] = a[m]
				a[m + 1] = x
			}
			med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
			split(k, p, SUBSEP)
			printf "%s %s %s %s %.6g %.6g %.6g %d\n", p[4], p[1], p[2], p[3], med, a[1], a[n], n
		}
	}' "$1" | sort
}

# make_report DIR: DIR/results.txt (+ DIR/meta.txt) -> DIR/report.md, plots.
make_report() {
	local dir=$1 agg
	[ -s "$dir/results.txt" ] || die "no results in $dir/results.txt"
	agg=$dir/aggregate.txt
	aggregate "$dir/results.txt" >"$agg"

	# Plot data: latency percentiles (us) and IOPS against jobs.
	awk -v mode=pmem -v out="$dir" '
	{ m[$1, $2, $3, $4] = $5; lo[$1, $2, $3, $4] = $6; hi[$1, $2, $3, $4] = $7 }
	END {
		split("pmem ssd", modes, " ")
		for (mi = 1; mi <= 2; mi++) {
			md = modes[mi]
			ntg = split(md == "pmem" ? "raw rawseq stock ours" : "raw stock ours", tg, " ")
			f = out "/lat-" md ".dat"
			print "# row: label; per target (" (md == "pmem" ? "raw rawseq stock ours" : "raw stock ours") "): median min max (us)" > f
			nr = split("p50 p99 p999", pc, " ")
			for (v = 1; v <= 2; v++) {
				sc = md (v == 1 ? "_lat_dsync" : "_lat_fdatasync")
				for (r = 1; r <= 3; r++) {
					key = (v == 1 ? "" : "sum_") pc[r]
					lbl = (v == 1 ? "O_DSYNC " : "write+fdatasync ") (r == 1 ? "p50" : r == 2 ? "p99" : "p99.9")
					line = "\"" lbl "\""
					for (ti = 1; ti <= ntg; ti++) {
						k = key SUBSEP sc SUBSEP 1 SUBSEP tg[ti]
						line = line " " ((k in m) ? m[k] " " lo[k] " " hi[k] : "NaN NaN NaN")
					}
					print line > f
				}
			}
			close(f)
			f = out "/iops-" md ".dat"
			print "# jobs; per target raw stock ours: median min max (IOPS)" > f
			ntg = split("raw stock ours", tg, " ")
			for (j = 1; j <= 64; j *= 2) {
				line = j; any = 0
				for (ti = 1; ti <= ntg; ti++) {
					k = "iops" SUBSEP md "_iops" SUBSEP j SUBSEP tg[ti]
					if (k in m) any = 1
					line = line " " ((k in m) ? m[k] " " lo[k] " " hi[k] : "NaN NaN NaN")
				}
				if (any) print line > f
			}
			close(f)
		}
	}' "$agg"
	if command -v gnuplot >/dev/null; then
		local md
		for md in pmem ssd; do
			gnuplot <<EOF || note "gnuplot failed for $md plots"
set terminal pngcairo size 900,520 font ",10" noenhanced
set output "$dir/lat-$md.png"
set title "$md mode: QD1 4 KiB random write with a flush per write (median of reps, bars min-max)"
set ylabel "latency (us, log scale)"
set logscale y
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.7 border -1
set key top left
set grid ytics
set xtics rotate by -20
$(if [ "$md" = pmem ] && grep -q '^scen=pmem_lat_[a-z]* tgt=rawseq ' "$dir/results.txt"; then
	echo 'plot "'"$dir/lat-$md.dat"'" using 2:3:4:xtic(1) title "raw (64 MiB, random)", "" using 5:6:7 title "raw (cache area, sequential)", "" using 8:9:10 title "stock", "" using 11:12:13 title "ours"'
elif [ "$md" = pmem ]; then
	echo 'plot "'"$dir/lat-$md.dat"'" using 2:3:4:xtic(1) title "raw", "" using 8:9:10 title "stock", "" using 11:12:13 title "ours"'
else
	echo 'plot "'"$dir/lat-$md.dat"'" using 2:3:4:xtic(1) title "raw", "" using 5:6:7 title "stock", "" using 8:9:10 title "ours"'
fi)
set output "$dir/iops-$md.png"
unset logscale y
set title "$md mode: 4 KiB random write IOPS against fio jobs (median, bars min-max)"
set ylabel "IOPS"
set xlabel "jobs"
set xtics rotate by 0
set logscale x 2
set xrange [0.8:5]
set yrange [0:*]
set key top left
# the three series side by side at each job count, so the bars stay apart
plot "$dir/iops-$md.dat" using (\$1*0.96):2:3:4 with yerrorlines lw 2 title "raw", \
     "" using 1:5:6:7 with yerrorlines lw 2 title "stock", \
     "" using (\$1*1.04):8:9:10 with yerrorlines lw 2 title "ours"
EOF
		done
	else
		note "gnuplot not installed (make deps): no plots"
	fi

	awk -v metafile="$dir/meta.txt" -v errfile="$dir/errors.txt" '
	function has(k) { return (k in M) }
	function med(key, s, j, t) { return M[key, s, j, t] }
	function fmt(x) {
		if (x == "") return "–"
		x += 0
		if (x >= 1000) return sprintf("%.0f", x)
		if (x >= 100) return sprintf("%.0f", x)
		if (x >= 10) return sprintf("%.1f", x)
		return sprintf("%.2f", x)
	}
	function cell(key, s, j, t, k) {
		k = key SUBSEP s SUBSEP j SUBSEP t
		if (!(k in M)) return "–"
		if (N[k] > 1) return fmt(M[k]) " (" fmt(L[k]) "–" fmt(H[k]) ")"
		return fmt(M[k])
	}
	function ratio(a, b) {
		if (a == "" || b == "" || b + 0 == 0) return "–"
		return sprintf("%.2f", a / b)
	}
	function g(key, s, j, t, k) {
		k = key SUBSEP s SUBSEP j SUBSEP t
		return (k in M) ? M[k] : ""
	}
	function row(label, key, s, j, hasraw, r, st, ou) {
		r = g(key, s, j, "raw"); st = g(key, s, j, "stock"); ou = g(key, s, j, "ours")
		printf "| %s | %s | %s | %s | %s | %s |\n", label, (hasraw ? cell(key, s, j, "raw") : "–"),
			cell(key, s, j, "stock"), cell(key, s, j, "ours"), ratio(ou, st), (hasraw ? ratio(ou, r) : "–")
	}
	# marginal BIG SMALL TGT: bytes per block from the free-page deltas of
	# two table sizes; fixedkb: what is left at the big size (KiB).
	function marginal(big, small, t,   fb, fs, nb, ns) {
		fb = g("free_kb", big, 1, t); fs = g("free_kb", small, 1, t)
		nb = g("blocks", big, 1, t); ns = g("blocks", small, 1, t)
		if (fb == "" || fs == "" || nb == "" || ns == "" || nb == ns) return ""
		return (fb - fs) * 1024 / (nb - ns)
	}
	function fixedkb(big, small, t,   m) {
		m = marginal(big, small, t)
		if (m == "") return ""
		return g("free_kb", big, 1, t) - m * g("blocks", big, 1, t) / 1024
	}
	# row4: a pmem latency row with the rawseq column as well
	function row4(label, key, s, j,   r, q, st, ou) {
		r = g(key, s, j, "raw"); q = g(key, s, j, "rawseq"); st = g(key, s, j, "stock"); ou = g(key, s, j, "ours")
		printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label, cell(key, s, j, "raw"), cell(key, s, j, "rawseq"),
			cell(key, s, j, "stock"), cell(key, s, j, "ours"), ratio(ou, st), ratio(ou, r), ratio(ou, q)
	}
	function verdict(c, known) { return known ? (c ? "**met**" : "**not met**") : "n/a" }
	# goal_lat LABEL SCEN KEY: overhead above raw <= 0.5 x stock and total <= 1.3 x raw
	function goal_lat(label, s, key,   r, q, st, ou, ovs, ovo, ok, known) {
		r = g(key, s, 1, "raw"); st = g(key, s, 1, "stock"); ou = g(key, s, 1, "ours")
		known = (r != "" && st != "" && ou != "")
		if (known) {
			ovs = st - r; ovo = ou - r
			ok = (ovo <= 0.5 * ovs) && (ou <= 1.3 * r)
			q = g(key, s, 1, "rawseq")
			printf "| %s | overhead ≤ 0.5× stock, total ≤ 1.3× raw | raw %s µs, stock %s, ours %s; overhead ours %s vs stock %s µs (%s×); ours/raw %s%s | %s |\n",
				label, fmt(r), fmt(st), fmt(ou), fmt(ovo), fmt(ovs), ratio(ovo, ovs), ratio(ou, r),
				(q == "") ? "" : sprintf(" (against raw seq. %s µs: overhead ours %s vs stock %s, ours/raw seq. %s)", fmt(q), fmt(ou - q), fmt(st - q), ratio(ou, q)),
				verdict(ok, 1)
		} else
			printf "| %s | overhead ≤ 0.5× stock, total ≤ 1.3× raw | – | n/a |\n", label
	}
	FILENAME == metafile { meta[++nmeta] = $0; next }
	FILENAME == errfile { err[++nerr] = $0; next }
	{ k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4; M[k] = $5; L[k] = $6; H[k] = $7; N[k] = $8 }
	END {
		print "# Benchmark report"
		print ""
		print "Generated by `scripts/bench.sh` from `results.txt` (one line per measurement) in one guest boot."
		print "Cells: median over the repetitions (min–max). Ratios compare medians. Latencies in µs."
		print ""
		for (i = 1; i <= nmeta; i++) print "- " meta[i]
		if (nerr) {
			print ""
			print "**Measurements that failed:**"
			print ""
			for (i = 1; i <= nerr; i++) print "    " err[i]
		}
		print ""
		print "## Goals (issue 7)"
		print ""
		print "| Scenario | Goal | Measured | Verdict |"
		print "|---|---|---|---|"
		goal_lat("pmem QD1, O_DSYNC (FUA + flush), p50", "pmem_lat_dsync", "p50")
		goal_lat("pmem QD1, O_DSYNC, p99", "pmem_lat_dsync", "p99")
		goal_lat("pmem QD1, write + fdatasync, mean per write", "pmem_lat_fdatasync", "op_mean")
		for (jj = 2; jj <= 4; jj *= 2) {
			r = g("iops", "pmem_iops", jj, "raw"); ou = g("iops", "pmem_iops", jj, "ours"); st = g("iops", "pmem_iops", jj, "stock")
			known = (r != "" && ou != "")
			printf "| pmem IOPS, %d jobs | ≥ 0.9× raw | raw %s, stock %s (%s× raw), ours %s (%s× raw) | %s |\n", jj,
				fmt(r), fmt(st), ratio(st, r), fmt(ou), ratio(ou, r), verdict(known && ou >= 0.9 * r, known)
		}
		r1 = g("iops", "pmem_iops", 1, "raw"); r2 = g("iops", "pmem_iops", 2, "raw")
		o1 = g("iops", "pmem_iops", 1, "ours"); o2 = g("iops", "pmem_iops", 2, "ours")
		s1 = g("iops", "pmem_iops", 1, "stock"); s2 = g("iops", "pmem_iops", 2, "stock")
		known = (r1 != "" && r2 != "" && o1 != "" && o2 != "")
		printf "| pmem scaling 1 → 2 jobs | ours ≥ raw | raw %s×, stock %s×, ours %s× | %s |\n",
			ratio(r2, r1), ratio(s2, s1), ratio(o2, o1), verdict(known && o2 / o1 >= r2 / r1, known)
		for (v = 1; v <= 2; v++) {
			big = (v == 1) ? "act" : "ram_ssd"
			small = (v == 1) ? "ram_pmem_small" : "ram_ssd_small"
			cp = g("core_b", big, 1, "ours")
			mo = marginal(big, small, "ours"); ms = marginal(big, small, "stock")
			known = (cp != "" && mo != "")
			printf "| RAM per block, %s | ≤ 32 B | ours %s B (module counter), %s B per block + %s KiB per table (free pages, %s and %s blocks); stock %s B + %s KiB | %s |\n",
				(v == 1) ? "pmem" : "SSD", fmt(cp), fmt(mo), fmt(fixedkb(big, small, "ours")),
				fmt(g("blocks", small, 1, "ours")), fmt(g("blocks", big, 1, "ours")),
				fmt(ms), fmt(fixedkb(big, small, "stock")), verdict(known && cp <= 32 && mo <= 32, known)
		}
		st = g("total_ms", "act", 1, "stock"); ou = g("total_ms", "act", 1, "ours")
		known = (st != "" && ou != "")
		printf "| Activation (load + resume, %s blocks) | ≤ 0.5× stock | stock %s ms, ours %s ms (%s×) | %s |\n",
			fmt(g("blocks", "act", 1, "ours")), fmt(st), fmt(ou), ratio(ou, st), verdict(known && ou <= 0.5 * st, known)
		st = g("blocks_s", "drain", 1, "stock"); ou = g("blocks_s", "drain", 1, "ours")
		known = (st != "" && ou != "")
		printf "| Writeback drain (%s blocks) | ≥ stock | stock %s blocks/s, ours %s blocks/s (%s×) | %s |\n",
			fmt(g("blocks", "drain", 1, "ours")), fmt(st), fmt(ou), ratio(ou, st), verdict(known && ou >= st, known)
		for (jj = 1; jj <= 4; jj *= 2) {
			st = g("iops", "ssd_iops", jj, "stock"); ou = g("iops", "ssd_iops", jj, "ours")
			known = (st != "" && ou != "")
			printf "| SSD IOPS, %d job%s | ≥ stock | stock %s, ours %s (%s×) | %s |\n", jj, (jj > 1 ? "s" : ""),
				fmt(st), fmt(ou), ratio(ou, st), verdict(known && ou >= st, known)
		}
		for (v = 1; v <= 2; v++) {
			s = (v == 1) ? "ssd_lat_dsync" : "ssd_lat_fdatasync"
			key = (v == 1) ? "p50" : "op_mean"
			lbl = (v == 1) ? "O_DSYNC, p50" : "write + fdatasync, mean"
			r = g(key, s, 1, "raw"); st = g(key, s, 1, "stock"); ou = g(key, s, 1, "ours")
			known = (r != "" && st != "" && ou != "")
			printf "| SSD QD1 latency, %s | overhead above raw ≤ stock'"'"'s | raw %s µs, stock %s, ours %s; overhead ours %s vs stock %s µs | %s |\n",
				lbl, fmt(r), fmt(st), fmt(ou), fmt(ou - r), fmt(st - r), verdict(known && ou - r <= st - r, known)
		}
		print ""
		print "## pmem mode"
		print ""
		print "QD1 4 KiB random writes, fio psync, direct; O_DSYNC makes each write a FUA write followed by a flush (block/fops.c), so one `pwrite` is the whole durable write; with `fdatasync=1` the write and the flush are two system calls, timed separately by fio (\"mean per write\" = 1/IOPS covers both). \"raw\" writes at random in the 64 MiB region the caches get; \"raw seq.\" writes sequentially through the whole cache area, the pages a cache touches as it hands out blocks in order: under TCG every new page costs a soft-TLB fill, which shows as latency (docs/performance.md)."
		print ""
		print "| Figure | raw | raw seq. | stock | ours | ours/stock | ours/raw | ours/raw seq. |"
		print "|---|---|---|---|---|---|---|---|"
		row4("O_DSYNC p50 (µs)", "p50", "pmem_lat_dsync", 1)
		row4("O_DSYNC p99 (µs)", "p99", "pmem_lat_dsync", 1)
		row4("O_DSYNC p99.9 (µs)", "p999", "pmem_lat_dsync", 1)
		row4("O_DSYNC mean (µs)", "mean", "pmem_lat_dsync", 1)
		row4("fdatasync: mean per write (µs)", "op_mean", "pmem_lat_fdatasync", 1)
		row4("fdatasync: write p50 (µs)", "p50", "pmem_lat_fdatasync", 1)
		row4("fdatasync: write p99 (µs)", "p99", "pmem_lat_fdatasync", 1)
		row4("fdatasync: write p99.9 (µs)", "p999", "pmem_lat_fdatasync", 1)
		row4("fdatasync: sync p50 (µs)", "s_p50", "pmem_lat_fdatasync", 1)
		row4("fdatasync: sync p99 (µs)", "s_p99", "pmem_lat_fdatasync", 1)
		row4("fdatasync: sync p99.9 (µs)", "s_p999", "pmem_lat_fdatasync", 1)
		print ""
		print "| Figure | raw | stock | ours | ours/stock | ours/raw |"
		print "|---|---|---|---|---|---|"
		for (jj = 1; jj <= 64; jj *= 2)
			if (g("iops", "pmem_iops", jj, "raw") != "" || g("iops", "pmem_iops", jj, "ours") != "")
				row(sprintf("IOPS, %d job%s", jj, jj > 1 ? "s" : ""), "iops", "pmem_iops", jj, 1)
		for (jj = 1; jj <= 64; jj *= 2)
			if (g("ctxt_s", "pmem_iops", jj, "ours") != "")
				row(sprintf("IOPS run, %d job%s: context switches/s", jj, jj > 1 ? "s" : ""), "ctxt_s", "pmem_iops", jj, 1)
		for (jj = 1; jj <= 64; jj *= 2)
			if (g("busy", "pmem_iops", jj, "ours") != "")
				row(sprintf("IOPS run, %d job%s: vCPUs busy (%%)", jj, jj > 1 ? "s" : ""), "busy", "pmem_iops", jj, 1)
		print ""
		print "![pmem latency](lat-pmem.png)"
		print "![pmem IOPS](iops-pmem.png)"
		print ""
		print "## SSD mode (cache on /dev/vdb, virtio; raw = /dev/vdb)"
		print ""
		print "| Figure | raw | stock | ours | ours/stock | ours/raw |"
		print "|---|---|---|---|---|---|"
		row("O_DSYNC p50 (µs)", "p50", "ssd_lat_dsync", 1, 1)
		row("O_DSYNC p99 (µs)", "p99", "ssd_lat_dsync", 1, 1)
		row("O_DSYNC p99.9 (µs)", "p999", "ssd_lat_dsync", 1, 1)
		row("O_DSYNC mean (µs)", "mean", "ssd_lat_dsync", 1, 1)
		row("fdatasync: mean per write (µs)", "op_mean", "ssd_lat_fdatasync", 1, 1)
		row("fdatasync: write p50 (µs)", "p50", "ssd_lat_fdatasync", 1, 1)
		row("fdatasync: write p99 (µs)", "p99", "ssd_lat_fdatasync", 1, 1)
		row("fdatasync: write p99.9 (µs)", "p999", "ssd_lat_fdatasync", 1, 1)
		row("fdatasync: sync p50 (µs)", "s_p50", "ssd_lat_fdatasync", 1, 1)
		row("fdatasync: sync p99 (µs)", "s_p99", "ssd_lat_fdatasync", 1, 1)
		row("fdatasync: sync p99.9 (µs)", "s_p999", "ssd_lat_fdatasync", 1, 1)
		for (jj = 1; jj <= 64; jj *= 2)
			if (g("iops", "ssd_iops", jj, "raw") != "" || g("iops", "ssd_iops", jj, "ours") != "")
				row(sprintf("IOPS, %d job%s", jj, jj > 1 ? "s" : ""), "iops", "ssd_iops", jj, 1)
		print ""
		print "![SSD latency](lat-ssd.png)"
		print "![SSD IOPS](iops-ssd.png)"
		print ""
		print "## Writeback drain, activation, RAM"
		print ""
		print "Times are kernel-side ioctl durations (ftrace function_graph on `target_message`, `table_load`, `dev_suspend`); `dmsetup` itself adds ~50 ms per command under TCG (\"command\" rows)."
		print ""
		print "| Figure | raw | stock | ours | ours/stock | ours/raw |"
		print "|---|---|---|---|---|---|"
		row(sprintf("drain of %s dirty blocks: `flush` message (ms)", fmt(g("blocks", "drain", 1, "ours"))), "ms", "drain", 1, 0)
		row("drain rate (blocks/s)", "blocks_s", "drain", 1, 0)
		row(sprintf("activation of %s cached blocks: load (ms)", fmt(g("blocks", "act", 1, "ours"))), "load_ms", "act", 1, 0)
		row("activation: resume (ms)", "resume_ms", "act", 1, 0)
		row("activation: load + resume (ms)", "total_ms", "act", 1, 0)
		row("activation: the two dmsetup commands (ms)", "cmd_ms", "act", 1, 0)
		row("pmem RAM per block (activation, full), free pages (B)", "mem_b", "act", 1, 0)
		row("pmem RAM per block, VmallocUsed (B)", "vmalloc_b", "act", 1, 0)
		row("pmem RAM per block, core_ram_bytes (B)", "core_b", "act", 1, 0)
		row(sprintf("pmem RAM per block (%s blocks, empty), free pages (B)", fmt(g("blocks", "ram_pmem_small", 1, "ours"))), "mem_b", "ram_pmem_small", 1, 0)
		row(sprintf("SSD RAM per block (%s blocks, empty), free pages (B)", fmt(g("blocks", "ram_ssd", 1, "ours"))), "mem_b", "ram_ssd", 1, 0)
		row(sprintf("SSD RAM per block (%s blocks, empty), free pages (B)", fmt(g("blocks", "ram_ssd_small", 1, "ours"))), "mem_b", "ram_ssd_small", 1, 0)
		row("SSD RAM per block, VmallocUsed (B)", "vmalloc_b", "ram_ssd", 1, 0)
		row("SSD RAM per block, core_ram_bytes (B)", "core_b", "ram_ssd", 1, 0)
	}' "$dir/meta.txt" "$dir/errors.txt" "$agg" >"$dir/report.md"
	note "report: $dir/report.md"
}

# expected_missing DIR: print the scenario/target pairs without numbers.
expected_missing() {
	local dir=$1 s t j
	for s in pmem_lat_fdatasync pmem_lat_dsync ssd_lat_fdatasync ssd_lat_dsync; do
		for t in raw stock ours; do
			grep -q "^scen=$s tgt=$t " "$dir/results.txt" || echo "$s $t"
		done
	done
	for s in pmem_iops ssd_iops; do
		for j in 1 2 4; do
			for t in raw stock ours; do
				grep -q "^scen=$s tgt=$t rep=[0-9]* jobs=$j " "$dir/results.txt" || echo "$s jobs=$j $t"
			done
		done
	done
	for s in drain ram_ssd ram_ssd_small ram_pmem_small act; do
		for t in stock ours; do
			grep -q "^scen=$s tgt=$t " "$dir/results.txt" || echo "$s $t"
		done
	done
}

if [ -n "$REPORT_ONLY" ]; then
	[ -f "$REPORT_ONLY/meta.txt" ] || : >"$REPORT_ONLY/meta.txt"
	[ -f "$REPORT_ONLY/errors.txt" ] || : >"$REPORT_ONLY/errors.txt"
	make_report "$REPORT_ONLY"
	exit 0
fi

# ---------------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------------
cd "$REPO"
START=$(date +%s)

# Sizes.  Full: a 4 GiB nvdimm (about 1M cache blocks for the activation),
# a 2 GiB SSD, a 5 GiB origin (the activation's 1M blocks need 1M distinct
# origin sectors).  Quick: the harness defaults and small regions.
if [ "$QUICK" = 1 ]; then
	: "${REPS:=1}"
	: "${RUNTIME:=1}"
	RAMP=0 FIO_SIZE=16M NV_SIZE=512M SSD_MB=256 ORIGIN_MB=1024
	AREA=$((128 << 20)) DRAIN=2048 ACT=$((64 << 20))
	: "${OUT:=$REPO/build/bench-quick}"
else
	: "${REPS:=3}"
	: "${RUNTIME:=8}"
	RAMP=1 FIO_SIZE=64M NV_SIZE=4G SSD_MB=2048 ORIGIN_MB=5120
	AREA=$((1 << 30)) DRAIN=65536 ACT=0
	: "${OUT:=$REPO/docs/bench}"
fi
case "$REPS" in '' | *[!0-9]* | 0) die "--reps needs a positive number" ;; esac
case "$RUNTIME" in '' | *[!0-9]* | 0) die "--runtime needs a positive number of seconds" ;; esac
SMP=4 # the job-scaling scenario runs 1, 2 and 4 fio jobs
MEM=2G

# Kernel: the newest installed 6.12 unless told otherwise.
if [ -z "$KVER" ]; then
	KVER=$(wc_series_kver 6.12) || die "no 6.12 kernel with headers installed (make deps)"
else
	KVER=$(wc_kver "$KVER") || die "no $KVER kernel installed"
fi
[ -d "/usr/src/linux-headers-$KVER" ] || die "no headers for $KVER"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# A scratch directory per run (disk images, build and console logs): runs
# may wait for the lock side by side.
mkdir -p "$REPO/build"
WORK=$(mktemp -d "$REPO/build/bench-work.XXXXXX")
trap 'rm -f "$WORK/ssd.img" "$WORK/origin.img"' EXIT

note "building the module for $KVER"
"$HERE/kbuild.sh" "$KVER" >"$WORK/kbuild.log" 2>&1 || {
	tail -n 30 "$WORK/kbuild.log"
	die "module build failed (log: $WORK/kbuild.log)"
}
KO=$REPO/build/kbuild/$KVER/dm-writecache-cxx.ko

# Disk images: the SSD written in full and the origin's drain region
# written once, so that no run pays for the host filesystem allocating
# blocks of a sparse file.
note "disk images in $WORK"
rm -f "$WORK/ssd.img" "$WORK/origin.img"
dd if=/dev/zero of="$WORK/ssd.img" bs=1M count="$SSD_MB" conv=fsync status=none
dd if=/dev/zero of="$WORK/origin.img" bs=1M count=$((DRAIN * 4096 / 1048576 + 16)) conv=fsync status=none
truncate -s "${ORIGIN_MB}M" "$WORK/origin.img"

APPEND="harness.reps=$REPS harness.runtime=$RUNTIME harness.ramp=$RAMP harness.fio_size=$FIO_SIZE"
APPEND="$APPEND harness.area=$AREA harness.drain=$DRAIN harness.act=$ACT harness.jobs=1,2,4"
# Time limit: ~30 fio runs per repetition plus fills and drains.
TIMEOUT=$((600 + REPS * (30 * (RUNTIME + RAMP + 5) + 240)))
[ "$QUICK" = 1 ] && TIMEOUT=$((300 + REPS * 30 * (RUNTIME + RAMP + 5)))

LOG=$WORK/console.log
VMOUT=$WORK/vm-run.out
VM=("$HERE/vm-run.sh" --kver "$KVER" --ko "$KO" --smp "$SMP" --mem "$MEM"
	--pmem nvdimm --nvdimm-size "$NV_SIZE"
	--origin-image "$WORK/origin.img" --ssd-image "$WORK/ssd.img"
	--timeout "$TIMEOUT" --log "$LOG" --append "$APPEND" "$REPO/tests/vm/bench-guest.sh")
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
PRE_LOCK=$(($(date +%s) - START))
LOCK_WAIT=0
note "guest: $KVER, $SMP vCPUs, $MEM, nvdimm $NV_SIZE; $REPS repetition(s) of ${RUNTIME}s fio runs (timeout ${TIMEOUT}s)"
# run_vm: one boot (under the lock unless --no-lock); VMRC its status.
run_vm() {
	set +e
	wc_qemu_run --stamp "$WORK/locked-at" "${VM[@]}" >"$VMOUT" 2>&1
	VMRC=$?
	set -e
}
[ "$WC_USE_QEMU_LOCK" = 1 ] && note "waiting for $WC_QEMU_LOCK (one guest at a time)"
# A guest that dies before its first measurement is booted again (twice
# at most): with several vCPUs, TCG now and then trips over the kernel's
# live code patching (an int3 oops at boot, or when the guest switches
# the tracer on).
for attempt in 1 2 3; do
	run_vm
	tr -d '\r' <"$LOG" | grep -q '^BENCH ' && break
	[ "$attempt" = 3 ] && break
	note "the guest died before the benchmark began (attempt $attempt; log $LOG.$attempt):"
	cp "$LOG" "$LOG.$attempt"
	grep -v '^    | ' "$VMOUT" | tail -n 3
done
if [ "$WC_USE_QEMU_LOCK" = 1 ]; then
	LOCKED_AT=$(tail -n 1 "$WORK/locked-at" 2>/dev/null || date +%s)
	LOCK_WAIT=$((LOCKED_AT - START))
fi
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
grep -v '^    | \(ok\|#\|BENCH\)' "$VMOUT" | tail -n 40
rm -f "$WORK/ssd.img" "$WORK/origin.img"

tr -d '\r' <"$LOG" | sed -n 's/^BENCH //p' >"$OUT/results.txt"
tr -d '\r' <"$LOG" | sed -n 's/^BENCH-ERROR //p' >"$OUT/errors.txt"
WALL=$(($(date +%s) - START))
# The time spent waiting for other guests to finish (the lock) is not ours.
BUSY=$WALL
if [ "$LOCK_WAIT" -gt 0 ]; then
	# Build and images ran before the wait; count them, not the wait.
	BUSY=$((WALL - (LOCK_WAIT - PRE_LOCK)))
fi
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
	echo "guest: kernel $KVER, $SMP vCPUs, $MEM RAM, QEMU TCG ($(qemu-system-x86_64 --version | head -1 | sed 's/QEMU emulator version //')), nvdimm $NV_SIZE fsdax, SSD /dev/vdb $SSD_MB MiB and origin /dev/vda $ORIGIN_MB MiB (virtio, cache=none)"
	echo "host: $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), load average $LOAD0 before, $LOAD1 after"
	echo "parameters: $REPS repetition(s)$([ "$QUICK" = 1 ] && echo ' (--quick)'), fio runs of ${RUNTIME} s after ${RAMP} s warm-up over $FIO_SIZE, drain of $DRAIN blocks; wall time ${BUSY} s (plus $((WALL - BUSY)) s waiting for other guests)"
} >"$OUT/meta.txt"
make_report "$OUT"

missing=$(expected_missing "$OUT")
nerr=$(wc -l <"$OUT/errors.txt")
if [ "$VMRC" != 0 ] || [ -n "$missing" ] || [ "$nerr" != 0 ]; then
	[ -z "$missing" ] || echo "$missing" | sed 's/^/bench: no numbers for /'
	[ "$nerr" = 0 ] || sed 's/^/bench: failed: /' "$OUT/errors.txt"
	echo "bench: FAILED (vm-run status $VMRC; console log $LOG); wall time ${BUSY} s (+$((WALL - BUSY)) s waiting for the lock)"
	exit 1
fi
note "every scenario produced numbers; wall time ${BUSY} s (+$((WALL - BUSY)) s waiting for the lock)"
