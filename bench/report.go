package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// median returns the median of xs (mean of the two middle values for an even count); values
// below zero mean "not measured" and are ignored; -1 when nothing was measured.
func median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if x >= 0 {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return -1
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// medianMetrics takes the median of every numeric field over the rounds, field by field;
// Errors is the sum, Error the first one.
func medianMetrics(rs []metrics) metrics {
	var out metrics
	if len(rs) == 0 {
		return unmeasured()
	}
	ov := reflect.ValueOf(&out).Elem()
	for i := range ov.NumField() {
		f := ov.Field(i)
		xs := make([]float64, len(rs))
		for j := range rs {
			rv := reflect.ValueOf(rs[j]).Field(i)
			switch f.Kind() {
			case reflect.Float64:
				xs[j] = rv.Float()
			case reflect.Int64:
				xs[j] = float64(rv.Int())
			}
		}
		switch f.Kind() {
		case reflect.Float64:
			f.SetFloat(median(xs))
		case reflect.Int64:
			f.SetInt(int64(median(xs)))
		}
	}
	out.Errors = 0
	for _, r := range rs {
		out.Errors += r.Errors
		if out.Error == "" {
			out.Error = r.Error
		}
	}
	return out
}

// fmtNum formats a figure for the table: "-" when not measured.
func fmtNum(v float64, prec int) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func fmtRPS(v float64) string {
	if v <= 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func fmtLat(v float64) string {
	if v < 0 {
		return "-"
	}
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// renderTable writes one Markdown table for the cells of one generator: a row per cell and
// target; the cell columns are left empty on the rows after the first target.
func renderTable(w io.Writer, cells []*cell, targets []*target) {
	fmt.Fprintln(w, "| workload | c | P | target | req/s | ×direct | p50 µs | p99 µs | p99.9 µs | max µs | CPU µs/req | allocs/req | cmds/read | gen CPU µs/req | errors |")
	fmt.Fprintln(w, "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range cells {
		var direct float64
		if r := c.Results["direct"]; r != nil {
			direct = r.Median.RPS
		}
		for i, t := range targets {
			r := c.Results[t.Name]
			if r == nil {
				continue
			}
			m := r.Median
			ratio := "-"
			if direct > 0 && m.RPS > 0 {
				ratio = strconv.FormatFloat(m.RPS/direct, 'f', 2, 64)
			}
			lead := fmt.Sprintf("| %s | %d | %d ", c.Workload, c.Clients, c.Pipeline)
			if i > 0 {
				lead = "| | | "
			}
			cpu, allocs, cpr := "", "", ""
			switch t.kind {
			case kindSlotgate:
				cpu, allocs = fmtNum(m.CPUPerReq, 2), fmtNum(m.AllocsPerReq, 3)
			case kindFloor:
				cpu = fmtNum(m.CPUPerReq, 2)
			}
			if t.kind != kindOther {
				cpr = fmtNum(m.CmdsPerRead, 2)
			}
			fmt.Fprintf(w, "%s| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n",
				lead, t.Name, fmtRPS(m.RPS), ratio, fmtLat(m.P50), fmtLat(m.P99), fmtLat(m.P999), fmtLat(m.Max),
				cpu, allocs, cpr, fmtNum(m.GenCPUPerReq, 2), m.Errors)
		}
	}
}

// Names of the floor targets (-floor, -floor-aa).
const (
	floorName     = "floor"
	floorTwinName = "floor-b"
)

// renderFloorRatios writes, for every cell the floor was measured in, each other target's
// median req/s and p99 divided by the floor's, and the same ratio round by round (rounds run
// side by side, so each round's ratio is a fair one too). With -floor-aa the floor's twin is
// among them: its ratios are how far one binary lands from itself in this run, the resolution
// of every other ratio. Nothing is written without a floor.
func renderFloorRatios(w io.Writer, cells []*cell, targets []*target) {
	header := false
	for _, c := range cells {
		floor := c.Results[floorName]
		if floor == nil || floor.Median.RPS <= 0 {
			continue
		}
		if !header {
			fmt.Fprintln(w, "\n#### Against the floor (÷ floor; "+floorTwinName+" is a second floorproxy: the measurement's own spread)")
			fmt.Fprintln(w)
			fmt.Fprintln(w, "| workload | c | P | target | req/s ÷ floor | p99 ÷ floor | req/s ÷ floor, round by round |")
			fmt.Fprintln(w, "|---|--:|--:|---|--:|--:|---|")
			header = true
		}
		first := true
		for _, t := range targets {
			r := c.Results[t.Name]
			if r == nil || t.Name == floorName || t.kind == kindDirect {
				continue
			}
			lead := "| | | "
			if first {
				lead = fmt.Sprintf("| %s | %d | %d ", c.Workload, c.Clients, c.Pipeline)
				first = false
			}
			var rounds []string
			for i, m := range r.Rounds {
				if i < len(floor.Rounds) && floor.Rounds[i].RPS > 0 {
					rounds = append(rounds, strconv.FormatFloat(m.RPS/floor.Rounds[i].RPS, 'f', 2, 64))
				}
			}
			p99 := "-"
			if floor.Median.P99 > 0 && r.Median.P99 > 0 {
				p99 = strconv.FormatFloat(r.Median.P99/floor.Median.P99, 'f', 2, 64)
			}
			fmt.Fprintf(w, "%s| %s | %.2f | %s | %s |\n", lead, t.Name, r.Median.RPS/floor.Median.RPS, p99, strings.Join(rounds, " "))
		}
	}
}

// shellQuote quotes an argument for the printed command line.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (b *bench) commandLine() string {
	parts := []string{"bin/slotbench"}
	if len(os.Args) > 0 {
		parts[0] = os.Args[0]
	}
	for _, a := range b.argv {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// report prints the tables, writes the JSON and the plot, and decides the exit status.
func (b *bench) report() int {
	w := os.Stdout
	cmdline := b.commandLine()
	fmt.Fprintf(w, "```\n$ %s\n```\n", cmdline)
	fresh := ""
	if b.cfg.fresh {
		fresh = " (new proxy processes each round)"
	}
	fmt.Fprintf(w, "%s; %d round(s)%s, median per cell; own generator: %v per cell after %v warm-up; redis-benchmark: -n %d (c=1: n/8, P=16: 4n).\n",
		time.Now().Format("2006-01-02 15:04"), b.cfg.rounds, fresh, b.cfg.duration, b.cfg.warmup, b.cfg.rbN)
	fmt.Fprintf(w, "Targets:")
	for _, t := range b.targets {
		fmt.Fprintf(w, " %s (%s)", t.Name, t.Addr)
	}
	fmt.Fprintf(w, ".\nOne row per target under each workload, c (clients), P (requests in flight per client). CPU µs/req: the proxy process (slotgate, floor); allocs/req: slotgate's; "+
		"cmds/read: total_commands_processed / total_reads_processed summed over the masters (includes a little control traffic); "+
		"gen CPU µs/req: the load generator itself, which shares the machine.\n")
	for _, gen := range []string{genOwn, genRB} {
		var cs []*cell
		for _, c := range b.cells {
			if c.Gen == gen {
				cs = append(cs, c)
			}
		}
		if len(cs) == 0 {
			continue
		}
		title := "slotbench's own generator (netpoll, pipelined, latency per request)"
		if gen == genRB {
			title = "redis-benchmark (it reports no p99.9)"
		}
		fmt.Fprintf(w, "\n### %s\n\n", title)
		renderTable(w, cs, b.targets)
		renderFloorRatios(w, cs, b.targets)
		renderFloorBar(w, cs, b.targets)
	}
	if len(b.disturbed) > 0 {
		fmt.Fprintf(w, "\n**Disturbed:** a master ran an AOF rewrite or RDB save (a fork and a child writing the dataset, on the CPUs and disk the measurement shares) during %d measurement(s): %s. Their rounds measure Redis's persistence as much as the target; compare the other rounds.\n",
			len(b.disturbed), strings.Join(b.disturbed, "; "))
	}
	if len(b.otherGroups) > 0 {
		fmt.Fprintf(w, "\n**Not measured alike:** %s: in another scheduler autogroup (a session of its own) than slotbench and its load generator. The kernel shares CPU between autogroups first, so this target had another share of the machine than the others (15-20 %% of req/s in one measurement, bench/README.md); start every proxy from one shell, or set kernel.sched_autogroup_enabled=0.\n",
			strings.Join(b.otherGroups, "; "))
	}
	code := 0
	if b.cfg.jsonPath != "" {
		if err := b.writeJSON(b.cfg.jsonPath, cmdline); err != nil {
			b.logf("json: %v", err)
			code = 1
		}
	}
	if b.cfg.plotPath != "" {
		if err := b.writePlot(b.cfg.plotPath); err != nil {
			b.logf("plot: %v", err)
			code = 1
		}
	}
	var errCount int64
	for _, c := range b.cells {
		for _, t := range b.targets {
			r := c.Results[t.Name]
			if r == nil {
				continue
			}
			for _, m := range r.Rounds {
				errCount += m.Errors
			}
			// The gate uses the own generator's cells: their window holds requests only. A
			// redis-benchmark cell also counts accepting its c connections.
			if t.kind == kindSlotgate && c.Gen == genOwn && r.Median.AllocsPerReq > b.cfg.maxAllocs {
				b.logf("FAIL: %s on %s: %.3f allocations per request (limit %.3f)", c.name(), t.Name, r.Median.AllocsPerReq, b.cfg.maxAllocs)
				code = 1
			}
		}
	}
	for _, f := range b.failures {
		b.logf("error: %s", f)
	}
	if errCount > 0 || len(b.failures) > 0 {
		b.logf("FAIL: %d request errors", errCount)
		code = 1
	}
	return code
}

func (b *bench) writeJSON(path, cmdline string) error {
	doc := struct {
		Command   string    `json:"command"`
		Started   time.Time `json:"started"`
		Seconds   float64   `json:"seconds"`
		Rounds    int       `json:"rounds"`
		Duration  string    `json:"cell_duration"`
		Warmup    string    `json:"warmup"`
		RBN       int       `json:"redis_benchmark_n"`
		ClkTck    int64     `json:"clk_tck"`
		Masters   []string  `json:"masters"`
		Targets   []*target `json:"targets"`
		Cells     []*cell   `json:"cells"`
		MaxAllocs float64   `json:"max_allocs"`
	}{cmdline, b.started, time.Since(b.started).Seconds(), b.cfg.rounds, b.cfg.duration.String(), b.cfg.warmup.String(),
		b.cfg.rbN, clkTck, b.topo.masters, b.targets, b.cells, b.cfg.maxAllocs}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(data, '\n'))
}
