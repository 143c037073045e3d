// Command slotbench compares the throughput and latency of Redis Cluster access paths on one
// machine: the cluster itself ("direct", a cluster-aware client: the physical limit), slotgate
// with one and two event loops, and any other proxy given with -target. Two load generators
// measure every target, interleaved round by round: redis-benchmark (when on PATH) and
// slotbench's own pipelined, allocation-free generator on netpoll connections.
//
// With no arguments it starts a 3-master + 3-replica cluster (internal/testcluster) and two
// bin/slotgate processes, preloads the keys, runs the full matrix and prints Markdown tables.
// See bench/README.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Target kinds.
const (
	kindDirect   = iota // the cluster itself, through a cluster-aware client
	kindSlotgate        // a slotgate process (CPU, allocations, commands per read)
	kindOther           // any other endpoint (-target)
	kindFloor           // floorproxy (-floor): CPU and commands per read, no allocation count
)

// target is one endpoint measured.
type target struct {
	Name  string `json:"name"`
	Addr  string `json:"addr"`
	Admin string `json:"admin,omitempty"`
	PID   int    `json:"pid,omitempty"`
	Kind  string `json:"kind"`

	kind  int
	admin string
	pid   int
	proc  *child
	start func() error // starts (again) a process slotbench owns (nil: not started by slotbench)
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

type config struct {
	quick     bool
	rounds    int
	duration  time.Duration
	warmup    time.Duration
	rbN       int
	cluster   string
	password  string
	proxies   listFlag
	proxyAdm  listFlag
	proxyPID  listFlag
	targets   listFlag
	slotgate  string
	slotgateB string // a second build, measured beside the first (-slotgate-b)
	loops     listFlag
	jsonPath  string
	plotPath  string
	maxAllocs float64
	gens      string
	only      string
	floor     bool   // also start floorproxy as target "floor"
	floorBin  string // its binary
	floorAA   bool   // and a second one, measured like any target: the A/A pair
	fresh     bool   // new processes of the started proxies at every round

	failover    int           // -failover N: N master kills instead of the matrix (failover.go)
	soak        time.Duration // -soak D: D of mixed load with a master killed half-way (soak.go)
	nodeTimeout time.Duration // cluster-node-timeout of the cluster -failover or -soak starts
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(argv []string) int {
	var cfg config
	fs := flag.NewFlagSet("slotbench", flag.ContinueOnError)
	fs.BoolVar(&cfg.quick, "quick", false, "short run: GET/SET 16 B at c=50 P=1,16 and MGET at c=50 P=1, one round (about a minute)")
	fs.IntVar(&cfg.rounds, "rounds", 0, "rounds; each cell reports the median (default 3, 1 with -quick)")
	fs.DurationVar(&cfg.duration, "duration", 0, "measured time per cell of the own generator (default 5s, 1.5s with -quick)")
	fs.DurationVar(&cfg.warmup, "warmup", 0, "warm-up before each cell of the own generator (default 500ms, 200ms with -quick)")
	fs.IntVar(&cfg.rbN, "n", 0, "redis-benchmark -n per cell (default 400000, 100000 with -quick; c=1 cells use n/8, P=16 cells 4n)")
	fs.StringVar(&cfg.cluster, "cluster", "", "HOST:PORT of a running cluster to use instead of starting one")
	fs.StringVar(&cfg.password, "password", "", "password of -cluster")
	fs.Var(&cfg.proxies, "proxy", "HOST:PORT of a running slotgate to measure instead of starting them (repeatable or comma list)")
	fs.Var(&cfg.proxyAdm, "proxy-admin", "admin HOST:PORT of each -proxy, in order (for allocations per request)")
	fs.Var(&cfg.proxyPID, "proxy-pid", "PID of each -proxy, in order (for CPU per request)")
	fs.Var(&cfg.targets, "target", "NAME=HOST:PORT of another proxy to measure (repeatable)")
	fs.StringVar(&cfg.slotgate, "slotgate", "bin/slotgate", "slotgate binary started when no -proxy is given")
	fs.StringVar(&cfg.slotgateB, "slotgate-b", "", "a second slotgate binary, started like the first with every -loops value (targets slotgate-b-lN) and measured "+
		"in the same rounds: two builds side by side, with -fresh each round on new processes")
	fs.BoolVar(&cfg.floor, "floor", false, "also start floorproxy (internal/cmd/floorproxy: the least a gnet cluster proxy can do per request) and measure it as target \"floor\"")
	fs.StringVar(&cfg.floorBin, "floorproxy", "bin/floorproxy", "floorproxy binary started by -floor")
	fs.BoolVar(&cfg.floorAA, "floor-aa", false, "with -floor: start a second floorproxy, target \""+floorTwinName+"\", measured like the others: "+
		"how far one binary is from itself in the same run is the resolution of every ratio to the floor")
	fs.BoolVar(&cfg.fresh, "fresh", false, "start every proxy slotbench started (slotgate, the floors) afresh before each round after the first, "+
		"each new process warmed up by an unmeasured load (redis-benchmark SET and GET, c=50 P=16): each round samples a new process, not its warm-up")
	fs.Var(&cfg.loops, "loops", "slotgate -loops values to start, one process each (default 1,2)")
	fs.StringVar(&cfg.jsonPath, "json", "", "write every raw number and median to this file")
	fs.StringVar(&cfg.plotPath, "plot", "", "write a PNG latency chart (c=50 P=1 GET and SET 16 B) to this file")
	fs.Float64Var(&cfg.maxAllocs, "max-allocs", 0.05, "fail when a slotgate target allocates more than this per request in any cell")
	fs.StringVar(&cfg.gens, "gen", "own,redis-benchmark", "generators to run")
	fs.StringVar(&cfg.only, "only", "", "run only cells whose name (\"own GET 16B c=50 P=1\") matches this regexp")
	fs.IntVar(&cfg.failover, "failover", 0, "instead of the matrix: kill a master N times (SIGKILL) under write load through slotgate and time "+
		"kill→promotion, promotion→first success via slotgate and kill→first success; starts its own cluster and slotgate (0: off)")
	fs.DurationVar(&cfg.soak, "soak", 0, "instead of the matrix: this long of mixed load (GET/SET/MGET/MSET/DEL/INCR, pipelines, large values, "+
		"reconnecting clients) through slotgate with a master killed half-way; slotgate's RSS, goroutines and fds over time, every acknowledged "+
		"write read back; starts its own cluster and slotgate (0: off)")
	fs.DurationVar(&cfg.nodeTimeout, "node-timeout", time.Second, "with -failover or -soak: cluster-node-timeout of the cluster it starts (-soak: default 5s) "+
		"(Redis's default is 15s; the promotion delay scales with it, about node-timeout + 1s)")
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	if cfg.floorAA && !cfg.floor {
		fmt.Fprintln(os.Stderr, "slotbench: -floor-aa needs -floor (it starts the floor's twin)")
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "slotbench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if msg := cfg.checkFailover(fs); msg != "" {
		fmt.Fprintf(os.Stderr, "slotbench: %s\n", msg)
		return 2
	}
	cfg.defaults()

	b := &bench{cfg: cfg, argv: argv}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigc
		fmt.Fprintf(os.Stderr, "\nslotbench: %v: stopping\n", s)
		b.cleanup()
		os.Exit(130)
	}()
	var code int
	switch {
	case cfg.soak > 0:
		code = b.runSoak()
	case cfg.failover > 0:
		code = b.runFailover()
	default:
		code = b.run()
	}
	b.cleanup()
	return code
}

// checkFailover refuses flags that do not go with -failover (or -failover's flags without it);
// it returns the message, or "".
func (c *config) checkFailover(fs *flag.FlagSet) string {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	mode := "-failover"
	switch {
	case c.failover < 0:
		return "-failover: want a number of kills >= 0"
	case c.soak < 0:
		return "-soak: want a positive duration"
	case c.failover > 0 && c.soak > 0:
		return "-failover and -soak are two runs: give one"
	case c.failover == 0 && c.soak == 0:
		if set["node-timeout"] {
			return "-node-timeout only applies with -failover N or -soak D"
		}
		return ""
	case c.nodeTimeout <= 0:
		return "-node-timeout: want a positive duration"
	case c.soak > 0:
		mode = "-soak"
		if !set["node-timeout"] {
			// Minutes of heavy load on a shared machine: a 1 s timeout risks failovers nobody
			// asked for, whose losses the soak could not tell from slotgate's.
			c.nodeTimeout = soakNodeTimeout
		}
	}
	for _, name := range []string{"cluster", "password", "proxy", "proxy-admin", "proxy-pid", "target", "floor", "floorproxy", "floor-aa", "slotgate-b"} {
		if set[name] {
			return "-" + name + " cannot be used with " + mode + ": it kills and restarts masters, so it starts its own cluster and slotgate"
		}
	}
	for _, name := range []string{"quick", "rounds", "duration", "warmup", "n", "plot", "max-allocs", "gen", "only"} {
		if set[name] {
			return "-" + name + " does not apply to " + mode + " (it takes -node-timeout, -slotgate, -loops (first value) and -json)"
		}
	}
	return ""
}

func (c *config) defaults() {
	def := func(d *time.Duration, full, quick time.Duration) {
		if *d == 0 {
			*d = full
			if c.quick {
				*d = quick
			}
		}
	}
	def(&c.duration, 5*time.Second, 1500*time.Millisecond)
	def(&c.warmup, 500*time.Millisecond, 200*time.Millisecond)
	if c.rounds == 0 {
		c.rounds = 3
		if c.quick {
			c.rounds = 1
		}
	}
	if c.rbN == 0 {
		c.rbN = 400000
		if c.quick {
			c.rbN = 100000
		}
	}
	if len(c.loops) == 0 {
		c.loops = listFlag{"1", "2"}
	}
}
