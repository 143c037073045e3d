package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// The bar of issue 15 against the floor, judged as one run of barRounds rounds judges it: each
// cell's median req/s at least barRPS of the floor's, and its median p99 at most barP99 of it.
const (
	barRounds = 3
	barRPS    = 0.95
	barP99    = 1.10
)

// renderFloorBar writes, when more than barRounds rounds were measured, how repeatable the bar
// is for each target: each cell's mean round-by-round ratio to the floor with its 95 %
// confidence interval, and over every choice of barRounds of the rounds (the same rounds in
// every cell, as a short run would have measured them) how often the target meets the bar in
// every cell. The floor's twin (-floor-aa) shows what an identical binary scores: a target far
// below it is slower, one level with it is within what this machine can resolve.
func renderFloorBar(w io.Writer, cells []*cell, targets []*target) {
	var cs []*cell
	rounds := math.MaxInt
	for _, c := range cells {
		if f := c.Results[floorName]; f != nil && f.Median.RPS > 0 {
			cs = append(cs, c)
			rounds = min(rounds, len(f.Rounds))
		}
	}
	if len(cs) == 0 || rounds <= barRounds {
		return
	}
	header := false
	for _, t := range targets {
		if t.Name == floorName || t.kind == kindDirect {
			continue
		}
		var means []string
		ok := true
		for _, c := range cs {
			r := c.Results[t.Name]
			if r == nil || len(r.Rounds) < rounds {
				ok = false
				break
			}
			m, ci := meanCI(roundRatios(r, c.Results[floorName], rounds, rpsOf))
			means = append(means, fmt.Sprintf("%s c=%d P=%d %.3f ±%.3f", c.Workload, c.Clients, c.Pipeline, m, ci))
		}
		if !ok {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\n#### Repeatability of the bar (req/s ≥ %.2f× the floor in every cell, p99 ≤ %.2f×, judged on %d rounds)\n\n", barRPS, barP99, barRounds)
			fmt.Fprintf(w, "Over every choice of %d of the %d rounds (the same rounds in every cell), how often each target meets the bar; and each cell's mean req/s ÷ floor round by round with its 95 %% confidence interval.\n\n", barRounds, rounds)
			fmt.Fprintln(w, "| target | bar met (req/s) | bar met (req/s and p99) | mean req/s ÷ floor per cell |")
			fmt.Fprintln(w, "|---|--:|--:|---|")
			header = true
		}
		rps, both := barPassRate(cs, t.Name, rounds)
		fmt.Fprintf(w, "| %s | %.0f %% | %.0f %% | %s |\n", t.Name, 100*rps, 100*both, strings.Join(means, "; "))
	}
}

// rpsOf and p99Of pick the metrics the bar judges.
func rpsOf(m metrics) float64 { return m.RPS }
func p99Of(m metrics) float64 { return m.P99 }

// roundRatios is target r's metric over the floor's, round by round, for the first n rounds.
func roundRatios(r, floor *targetResult, n int, v func(metrics) float64) []float64 {
	out := make([]float64, 0, n)
	for i := range n {
		if a, f := v(r.Rounds[i]), v(floor.Rounds[i]); a > 0 && f > 0 {
			out = append(out, a/f)
		}
	}
	return out
}

// barPassRate is the share of the choices of barRounds of the first n rounds in which target
// meets the bar in every cell: on req/s alone, and on req/s and p99.
func barPassRate(cells []*cell, target string, n int) (rps, both float64) {
	choices, passRPS, passBoth := 0, 0, 0
	pick := make([]int, barRounds)
	var walk func(k, from int)
	walk = func(k, from int) {
		if k == barRounds {
			choices++
			okRPS, okBoth := true, true
			for _, c := range cells {
				r, f := c.Results[target], c.Results[floorName]
				rr := medianOf(r, pick, rpsOf) / medianOf(f, pick, rpsOf)
				pp := medianOf(r, pick, p99Of) / medianOf(f, pick, p99Of)
				if !(rr >= barRPS) {
					okRPS, okBoth = false, false
				} else if !(pp <= barP99) {
					okBoth = false
				}
			}
			if okRPS {
				passRPS++
			}
			if okBoth {
				passBoth++
			}
			return
		}
		for i := from; i < n; i++ {
			pick[k] = i
			walk(k+1, i+1)
		}
	}
	walk(0, 0)
	return float64(passRPS) / float64(choices), float64(passBoth) / float64(choices)
}

// medianOf is the median of a metric over the picked rounds of r.
func medianOf(r *targetResult, pick []int, v func(metrics) float64) float64 {
	xs := make([]float64, len(pick))
	for i, p := range pick {
		xs[i] = v(r.Rounds[p])
	}
	return median(xs)
}

// meanCI is the mean of xs and the half-width of its 95 % confidence interval (Student's t).
func meanCI(xs []float64) (mean, half float64) {
	n := len(xs)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	if n < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
	return mean, t975(n-1) * sd / math.Sqrt(float64(n))
}

// t975 is the 97.5th percentile of Student's t distribution with df degrees of freedom.
func t975(df int) float64 {
	table := [...]float64{12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042}
	if df >= 1 && df <= len(table) {
		return table[df-1]
	}
	return 1.96
}
