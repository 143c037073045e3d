package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestFloorBar: the repeatability table counts, over every choice of 3 rounds, the choices in
// which a target meets the bar in every cell, judges p99 separately, and gives each cell's mean
// ratio with its confidence interval; nothing is written for 3 rounds or fewer.
func TestFloorBar(t *testing.T) {
	ts := []*target{{Name: "direct", kind: kindDirect}, {Name: "same", kind: kindSlotgate}, {Name: "half", kind: kindSlotgate},
		{Name: "slowp99", kind: kindSlotgate}, {Name: floorName, kind: kindFloor}}
	mk := func(p99 float64, rps ...float64) *targetResult {
		r := &targetResult{}
		for _, x := range rps {
			m := unmeasured()
			m.RPS, m.P99 = x, p99
			r.Rounds = append(r.Rounds, m)
		}
		r.Median = medianMetrics(r.Rounds)
		return r
	}
	cell1 := &cell{Gen: genRB, Workload: "GET 16B", Clients: 50, Pipeline: 1, Results: map[string]*targetResult{
		"direct": mk(100, 200, 200, 200, 200), floorName: mk(100, 100, 100, 100, 100),
		"same": mk(100, 100, 100, 100, 100), "half": mk(100, 100, 100, 100, 100), "slowp99": mk(120, 100, 100, 100, 100),
	}}
	// In the second cell "half" is at the floor in two rounds and 10 % behind in two: of the four
	// choices of 3 rounds, the two that take both slow rounds miss the bar.
	cell2 := &cell{Gen: genRB, Workload: "SET 16B", Clients: 50, Pipeline: 16, Results: map[string]*targetResult{
		"direct": mk(100, 200, 200, 200, 200), floorName: mk(100, 100, 100, 100, 100),
		"same": mk(100, 100, 100, 100, 100), "half": mk(100, 100, 100, 90, 90), "slowp99": mk(100, 100, 100, 100, 100),
	}}
	var buf bytes.Buffer
	renderFloorBar(&buf, []*cell{cell1, cell2}, ts)
	out := buf.String()
	for _, want := range []string{
		"| same | 100 % | 100 % | GET 16B c=50 P=1 1.000 ±0.000; SET 16B c=50 P=16 1.000 ±0.000 |",
		"| half | 50 % | 50 % | GET 16B c=50 P=1 1.000 ±0.000; SET 16B c=50 P=16 0.950 ±0.092 |",
		"| slowp99 | 100 % | 0 % |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| direct |") || strings.Contains(out, "| floor |") {
		t.Errorf("direct or the floor itself listed:\n%s", out)
	}

	// Three rounds: the medians already say it.
	for _, c := range []*cell{cell1, cell2} {
		for _, r := range c.Results {
			r.Rounds = r.Rounds[:3]
		}
	}
	buf.Reset()
	renderFloorBar(&buf, []*cell{cell1, cell2}, ts)
	if buf.Len() != 0 {
		t.Errorf("written for 3 rounds:\n%s", buf.String())
	}
}

func TestMeanCI(t *testing.T) {
	if m, h := meanCI([]float64{0.9, 1.1}); math.Abs(m-1) > 1e-9 || math.Abs(h-12.706*0.1) > 1e-9 {
		t.Errorf("meanCI(0.9, 1.1) = %v ±%v, want 1 ±1.2706", m, h)
	}
	if m, h := meanCI([]float64{2}); m != 2 || !math.IsNaN(h) {
		t.Errorf("meanCI(2) = %v ±%v, want 2 ±NaN", m, h)
	}
	if t975(100) != 1.96 || t975(11) != 2.201 {
		t.Errorf("t975(100) = %v, t975(11) = %v", t975(100), t975(11))
	}
}
