package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/slotgate/slotgate/internal/testcluster"
)

// Generators.
const (
	genOwn = "own"
	genRB  = "redis-benchmark"
)

// cell is one workload at one concurrency and pipeline depth, for one generator.
type cell struct {
	Gen      string `json:"generator"`
	Workload string `json:"workload"`
	Clients  int    `json:"clients"`
	Pipeline int    `json:"pipeline"`
	w        workload
	Results  map[string]*targetResult `json:"results"` // by target name
}

func (c *cell) name() string {
	return fmt.Sprintf("%s %s c=%d P=%d", c.Gen, c.Workload, c.Clients, c.Pipeline)
}

type targetResult struct {
	Rounds []metrics `json:"rounds"`
	Median metrics   `json:"median"`
}

// metrics of one target in one cell and round. Latencies are µs; -1 means not measured.
type metrics struct {
	RPS          float64 `json:"rps"`
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	Seconds      float64 `json:"seconds"`
	P50          float64 `json:"p50_us"`
	P90          float64 `json:"p90_us"`
	P95          float64 `json:"p95_us"`
	P99          float64 `json:"p99_us"`
	P999         float64 `json:"p999_us"`
	Max          float64 `json:"max_us"`
	Avg          float64 `json:"avg_us"`
	CPUTicks     int64   `json:"cpu_ticks"`
	CPUPerReq    float64 `json:"cpu_us_per_req"`
	Mallocs      float64 `json:"mallocs"`
	AllocsPerReq float64 `json:"allocs_per_req"`
	BackendCmds  int64   `json:"backend_commands"`
	BackendReads int64   `json:"backend_reads"`
	CmdsPerRead  float64 `json:"cmds_per_read"`
	GenCPUPerReq float64 `json:"generator_cpu_us_per_req"` // slotbench's own CPU (own generator only)
	GenAllocs    float64 `json:"generator_allocs_per_req"` // slotbench's own heap allocations (own generator only)
	// Disturbed: an AOF rewrite or RDB save ran on a master during the measurement (its numbers
	// measure Redis's fork as much as the target).
	Disturbed bool   `json:"disturbed,omitempty"`
	Error     string `json:"error,omitempty"`
}

func unmeasured() metrics {
	return metrics{P50: -1, P90: -1, P95: -1, P99: -1, P999: -1, Max: -1, Avg: -1,
		CPUPerReq: -1, GenCPUPerReq: -1, GenAllocs: -1, AllocsPerReq: -1, CmdsPerRead: -1, CPUTicks: -1, Mallocs: -1, BackendCmds: -1, BackendReads: -1}
}

type bench struct {
	cfg       config
	argv      []string
	cluster   *testcluster.Cluster
	seed      string
	password  string
	topo      *topology
	ms        *masters
	targets   []*target
	cells     []*cell
	cleanOnce sync.Once
	started   time.Time
	prog      *progress
	pools     map[string][]req
	failures  []string
	disturbed []string // measurements during which a master ran an AOF rewrite or RDB save
	// targets in another scheduler autogroup than slotbench's (probe.go): not measured alike
	otherGroups []string
	warm        func(*target) error // replaces warmUp's load (tests)
	only        *regexp.Regexp
}

func (b *bench) logf(format string, args ...any) {
	if b.prog != nil {
		b.prog.clear()
	}
	fmt.Fprintf(os.Stderr, "slotbench: "+format+"\n", args...)
}

// plan lists the cells. Full run: every combination of workload × c ∈ {1, 50, 200} × P ∈ {1, 16}
// except the ones dropped to stay near 20 minutes (see bench/README.md).
func (b *bench) plan() {
	gens := map[string]bool{}
	for _, g := range strings.Split(b.cfg.gens, ",") {
		gens[strings.TrimSpace(g)] = true
	}
	if gens[genRB] {
		if _, err := exec.LookPath("redis-benchmark"); err != nil {
			b.logf("redis-benchmark not on PATH: only the own generator runs")
			gens[genRB] = false
		}
	}
	add := func(gen string, w workload, c, p int) {
		if !gens[gen] {
			return
		}
		cl := &cell{Gen: gen, Workload: w.Name, Clients: c, Pipeline: p, w: w, Results: map[string]*targetResult{}}
		if b.only != nil && !b.only.MatchString(cl.name()) {
			return
		}
		b.cells = append(b.cells, cl)
	}
	type cp struct{ c, p int }
	if b.cfg.quick {
		add(genOwn, wGet16, 50, 1)
		add(genOwn, wSet16, 50, 1)
		add(genOwn, wGet16, 50, 16)
		add(genOwn, wSet16, 50, 16)
		add(genOwn, wMget10, 50, 1)
		for _, x := range []cp{{50, 1}, {50, 16}} {
			add(genRB, wSet16, x.c, x.p)
			add(genRB, wGet16, x.c, x.p)
		}
		return
	}
	small := []cp{{1, 1}, {50, 1}, {50, 16}, {200, 1}, {200, 16}}
	for _, w := range []workload{wGet16, wSet16} {
		for _, x := range small {
			add(genOwn, w, x.c, x.p)
		}
	}
	for _, w := range []workload{wGet1K, wSet1K, wMget10} {
		for _, x := range []cp{{50, 1}, {50, 16}} {
			add(genOwn, w, x.c, x.p)
		}
	}
	for _, x := range []cp{{50, 1}, {50, 16}, {200, 1}} {
		add(genOwn, wMix, x.c, x.p)
	}
	for _, x := range []cp{{1, 1}, {50, 1}, {50, 16}, {200, 1}} {
		add(genRB, wSet16, x.c, x.p)
		add(genRB, wGet16, x.c, x.p)
	}
}

func (b *bench) run() int {
	b.started = time.Now()
	if b.cfg.only != "" {
		re, err := regexp.Compile(b.cfg.only)
		if err != nil {
			b.logf("-only: %v", err)
			return 2
		}
		b.only = re
	}
	b.plan()
	if len(b.cells) == 0 {
		b.logf("no cell to run")
		return 2
	}
	if err := b.setup(); err != nil {
		b.logf("setup: %v", err)
		return 1
	}
	sizes := map[int]bool{}
	for _, c := range b.cells {
		if c.Gen == genOwn {
			sizes[c.w.size] = true
		}
	}
	for size := range sizes {
		t0 := time.Now()
		if err := preload(b.topo, b.password, size); err != nil {
			b.logf("preload: %v", err)
			return 1
		}
		b.logf("preloaded %d keys of %d B in %v", keySpace, size, time.Since(t0).Round(time.Millisecond))
	}
	if b.cfg.fresh {
		for _, t := range b.targets {
			if err := b.warmUp(t); err != nil {
				b.logf("-fresh: %v", err)
				return 1
			}
		}
	}
	b.pools = map[string][]req{}
	total := len(b.cells) * len(b.targets) * b.cfg.rounds
	b.prog = newProgress(total, b.started)
	for r := range b.cfg.rounds {
		if r > 0 && b.cfg.fresh {
			if err := b.renew(); err != nil {
				b.logf("-fresh: %v", err)
				return 1
			}
		}
		for _, c := range b.cells {
			for _, t := range b.targets {
				b.prog.set(fmt.Sprintf("round %d/%d  %s -> %s", r+1, b.cfg.rounds, c.name(), t.Name))
				m := b.measure(c, t)
				tr := c.Results[t.Name]
				if tr == nil {
					tr = &targetResult{}
					c.Results[t.Name] = tr
				}
				tr.Rounds = append(tr.Rounds, m)
				if m.Error != "" {
					b.failures = append(b.failures, fmt.Sprintf("%s -> %s round %d: %s", c.name(), t.Name, r+1, m.Error))
				}
				b.prog.step()
			}
		}
	}
	b.prog.done()
	for _, c := range b.cells {
		for _, tr := range c.Results {
			tr.Median = medianMetrics(tr.Rounds)
		}
	}
	return b.report()
}

// renew starts every proxy slotbench started afresh (-fresh), one after the other, and warms
// each up.
func (b *bench) renew() error {
	for _, t := range b.targets {
		if t.start == nil {
			continue
		}
		if err := t.renew(); err != nil {
			return err
		}
		if err := b.warmUp(t); err != nil {
			return err
		}
	}
	return nil
}

// warmUp runs an unmeasured load through a proxy slotbench started (-fresh), so that a new
// process's first cell does not measure its warm-up: buffers and FIFOs growing to their working
// size, gnet's event list settling, the first GC cycles. Without it the round's first cell (SET
// P=1) counted 6,500 allocations where a warm process makes 1,000 (0.016 per request against
// 0.004). redis-benchmark cells have no warm-up of their own.
func (b *bench) warmUp(t *target) error {
	if t.start == nil {
		return nil
	}
	if b.warm != nil {
		return b.warm(t)
	}
	for _, test := range []string{"set", "get"} {
		if _, errs, _, _, err := runRB(rbArgs(t, b.seed, b.password, test, 50, 16, 16, 100000)); err != nil || errs > 0 {
			return fmt.Errorf("warm-up of %s (%s): %d errors, %v", t.Name, test, errs, err)
		}
	}
	return nil
}

// pool returns the pre-built requests of w for t (cached: one pool per workload and routing).
func (b *bench) pool(w workload, t *target) []req {
	k := w.Name + "/proxy"
	var topo *topology
	if t.kind == kindDirect {
		k, topo = w.Name+"/direct", b.topo
	}
	if p := b.pools[k]; p != nil {
		return p
	}
	p := buildPool(w, topo, uint64(len(b.pools)+1))
	b.pools[k] = p
	return p
}

// measure runs one cell against one target.
func (b *bench) measure(c *cell, t *target) metrics {
	m := unmeasured()
	wantCmds := t.kind != kindOther
	var s0, s1 sample
	var cmdErr error
	before := func() {
		if wantCmds {
			cmdErr = b.ms.resetStats()
		}
		s0 = takeSample(t)
	}
	after := func() {
		s1 = takeSample(t)
		if wantCmds && cmdErr == nil {
			m.BackendCmds, m.BackendReads, cmdErr = b.ms.stats()
			if n, err := b.ms.persistenceWork(); err == nil && n > 0 {
				m.Disturbed = true
				b.disturbed = append(b.disturbed, c.name()+" -> "+t.Name)
			}
		}
	}
	switch c.Gen {
	case genOwn:
		addrs := []string{t.Addr}
		pw := ""
		if t.kind == kindDirect {
			addrs, pw = b.topo.masters, b.password
		}
		res, err := runGen(addrs, pw, c.Clients, c.Pipeline, b.pool(c.w, t), b.cfg.warmup, b.cfg.duration, cellHooks{before, after})
		if err != nil {
			m.Error = err.Error()
		}
		if res == nil {
			m.Errors = 1
			return m
		}
		m.Requests, m.Errors, m.Seconds = res.requests, res.errors, res.elapsed.Seconds()
		m.RPS = float64(res.requests) / res.elapsed.Seconds()
		if res.requests > 0 {
			h := res.hist
			m.P50 = float64(h.ValueAtQuantile(50))
			m.P90 = float64(h.ValueAtQuantile(90))
			m.P95 = float64(h.ValueAtQuantile(95))
			m.P99 = float64(h.ValueAtQuantile(99))
			m.P999 = float64(h.ValueAtQuantile(99.9))
			m.Max = float64(h.Max())
			m.Avg = h.Mean()
		}
	case genRB:
		n := b.cfg.rbN
		switch {
		case c.Clients == 1:
			n /= 8
		case c.Pipeline >= 16:
			n *= 4 // several 250 ms ticks of redis-benchmark --cluster even at 800k req/s
		}
		test := "get"
		if c.w.kind == kSet {
			test = "set"
		}
		before()
		row, errs, el, cpu, err := runRB(rbArgs(t, b.seed, b.password, test, c.Clients, c.Pipeline, c.w.size, n))
		after()
		m.Errors, m.Seconds = errs, el.Seconds()
		if err != nil {
			m.Error = err.Error()
			return m
		}
		m.Requests, m.RPS = int64(n), row.RPS
		m.GenCPUPerReq = float64(cpu.Microseconds()) / float64(n)
		m.P50, m.P95, m.P99, m.Max, m.Avg = row.P50*1000, row.P95*1000, row.P99*1000, row.Max*1000, row.Avg*1000
		// Per-request figures use the time the requests took, not the process's lifetime.
		m.Seconds = float64(n) / row.RPS
	}
	if m.Error == "" && cmdErr != nil {
		m.Error = cmdErr.Error()
	}
	if m.Requests > 0 {
		if s0.ticksOK && s1.ticksOK {
			m.CPUTicks = s1.ticks - s0.ticks
			m.CPUPerReq = float64(m.CPUTicks) * 1e6 / float64(clkTck) / float64(m.Requests)
		}
		if s0.mallocOK && s1.mallocOK {
			// Everything the process allocated in the window, its timers and topology refresh
			// included: an idle rate measured once and subtracted from every cell was taken at
			// one moment of one process (866 a second right after start against 1 a second
			// later) and hid what the cells allocated.
			m.Mallocs = s1.mallocs - s0.mallocs
			m.AllocsPerReq = m.Mallocs / float64(m.Requests)
		}
		if c.Gen == genOwn && s1.self > 0 {
			m.GenCPUPerReq = float64(s1.self-s0.self) * 1e6 / float64(clkTck) / float64(m.Requests)
			m.GenAllocs = float64(s1.selfObjs-s0.selfObjs) / float64(m.Requests)
		}
		if m.BackendReads > 0 {
			m.CmdsPerRead = float64(m.BackendCmds) / float64(m.BackendReads)
		}
	}
	return m
}
