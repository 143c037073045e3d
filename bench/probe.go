package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// clkTck is the kernel's clock tick rate (getconf CLK_TCK), used to turn utime+stime into time.
var clkTck = func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}()

// parseProcStat returns utime+stime (clock ticks) from the text of /proc/PID/stat. The command
// name (field 2) is in parentheses and may hold spaces, so fields are counted after the last ')'.
func parseProcStat(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no ')'")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': field 3 (state) is f[0]; utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("proc stat: too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	return u + s, nil
}

// cpuTicks reads utime+stime of pid (0: not known).
func cpuTicks(pid int) (int64, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	v, err := parseProcStat(b)
	return v, err == nil
}

// autogroup names the scheduler group of pid ("/autogroup-16"); "" when the kernel does not
// group processes by session (kernel.sched_autogroup_enabled=0) or pid cannot be read. With
// autogroups, CPU is shared fairly between sessions first, then between the processes of each:
// a proxy started from the cluster's terminal shares the redis-servers' half of the machine,
// one started from slotbench's shares the load generator's.
func autogroup(pid int) string {
	on, err := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled")
	if err != nil || strings.TrimSpace(string(on)) != "1" {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/autogroup")
	if err != nil {
		return ""
	}
	g, _, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	return g
}

// otherGroups lists the targets with a known PID whose scheduler autogroup is not slotbench's
// own (which its load generators and the processes it starts inherit).
func otherGroups(targets []*target) []string {
	own := autogroup(os.Getpid())
	if own == "" {
		return nil
	}
	var out []string
	for _, t := range targets {
		if t.pid <= 0 {
			continue
		}
		if g := autogroup(t.pid); g != "" && g != own {
			out = append(out, fmt.Sprintf("%s (pid %d, %s; slotbench %s)", t.Name, t.pid, g, own))
		}
	}
	return out
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

// scrapeMallocs returns the heap objects allocated since the start of the process behind
// admin: from /debug/mallocs, which allocates next to nothing itself, or from the
// go_memstats_mallocs_total of /metrics where a build has no such page (a scrape then allocates
// about a thousand objects, which count as the measured load's).
func scrapeMallocs(admin string) (float64, bool) {
	if admin == "" {
		return 0, false
	}
	if resp, err := httpClient.Get("http://" + admin + "/debug/mallocs"); err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
		resp.Body.Close()
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && resp.StatusCode == http.StatusOK {
			return float64(v), true
		}
	}
	resp, err := httpClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	v, ok := metricValue(resp.Body, "go_memstats_mallocs_total")
	io.Copy(io.Discard, resp.Body)
	return v, ok
}

// metricValue finds an unlabelled sample "name value" in Prometheus text.
func metricValue(r io.Reader, name string) (float64, bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || len(line) <= len(name) || line[len(name)] != ' ' {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[len(name)+1:]), 64)
		return v, err == nil
	}
	return 0, false
}

// sample is what is read from a target's process and from the masters around one cell.
type sample struct {
	ticks    int64
	ticksOK  bool
	mallocs  float64
	mallocOK bool
	self     int64  // utime+stime of slotbench itself (the load generator's cost)
	selfObjs uint64 // heap objects slotbench has allocated so far
	at       time.Time
}

func takeSample(t *target) sample {
	s := sample{at: time.Now()}
	s.ticks, s.ticksOK = cpuTicks(t.pid)
	s.mallocs, s.mallocOK = scrapeMallocs(t.admin)
	s.self, _ = cpuTicks(os.Getpid())
	s.selfObjs = selfAllocs()
	return s
}

// masters holds one control connection per master, for CONFIG RESETSTAT and INFO stats.
type masters struct {
	conns []*ctl
	addrs []string
}

func dialMasters(addrs []string, password string) (*masters, error) {
	m := &masters{addrs: addrs}
	for _, a := range addrs {
		c, err := dialCtl(a, password, 3*time.Second)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.conns = append(m.conns, c)
	}
	return m, nil
}

func (m *masters) Close() {
	for _, c := range m.conns {
		c.Close()
	}
}

func (m *masters) resetStats() error {
	for i, c := range m.conns {
		if _, err := c.do(3*time.Second, "CONFIG", "RESETSTAT"); err != nil {
			return fmt.Errorf("CONFIG RESETSTAT on %s: %w", m.addrs[i], err)
		}
	}
	return nil
}

// stats sums total_commands_processed and total_reads_processed over the masters.
func (m *masters) stats() (cmds, reads int64, err error) {
	for i, c := range m.conns {
		rep, err := c.do(3*time.Second, "INFO", "stats")
		if err != nil {
			return 0, 0, fmt.Errorf("INFO stats on %s: %w", m.addrs[i], err)
		}
		info := bulk(rep)
		a, ok1 := infoField(info, "total_commands_processed")
		b, ok2 := infoField(info, "total_reads_processed")
		if !ok1 || !ok2 {
			return 0, 0, fmt.Errorf("INFO stats on %s: no total_commands_processed/total_reads_processed", m.addrs[i])
		}
		cmds += a
		reads += b
	}
	return cmds, reads, nil
}

// persistenceWork counts the background saves and AOF rewrites the masters ran since the last
// CONFIG RESETSTAT (resetStats), and those running now: a fork and a child writing a whole
// dataset take the CPU and disk a measurement shares (the stalls of SET at P=16 were these).
func (m *masters) persistenceWork() (n int64, err error) {
	for i, c := range m.conns {
		rep, err := c.do(3*time.Second, "INFO", "persistence")
		if err != nil {
			return 0, fmt.Errorf("INFO persistence on %s: %w", m.addrs[i], err)
		}
		info := bulk(rep)
		for _, f := range []string{"aof_rewrites", "rdb_saves", "aof_rewrite_in_progress", "rdb_bgsave_in_progress"} {
			v, _ := infoField(info, f) // aof_rewrites and rdb_saves are Redis 7.0's: absent before
			n += v
		}
	}
	return n, nil
}

// selfAllocs returns the number of heap objects this process has allocated.
func selfAllocs() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
