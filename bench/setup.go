package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router/slot"
)

// child is a slotgate process started by slotbench.
type child struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startSlotgate starts bin/slotgate with -loops n as a child that dies with slotbench, and waits
// until it serves a keyed command.
func startSlotgate(bin, seed, password, loops string) (*target, error) {
	return startSlotgateAs("slotgate", bin, seed, password, loops)
}

// startSlotgateAs is startSlotgate with the target named name-lN.
func startSlotgateAs(name, bin, seed, password, loops string) (*target, error) {
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	t := &target{Name: name + "-l" + loops, kind: kindSlotgate, admin: admin}
	return t, startChild(t, bin, func(listen string) []string {
		return []string{"-listen", listen, "-admin", admin, "-cluster", seed, "-backend-password", password, "-loops", loops}
	})
}

// startFloor starts floorproxy (the -floor reference, or with -floor-aa its twin) like slotgate.
func startFloor(name, bin, seed, password string) (*target, error) {
	t := &target{Name: name, kind: kindFloor}
	return t, startChild(t, bin, func(listen string) []string {
		return []string{"-listen", listen, "-cluster", seed, "-password", password}
	})
}

// startChild starts bin with args(listen address) as t's process, a child that dies with
// slotbench, and waits until it serves a keyed command.
func startChild(t *target, bin string, args func(listen string) []string) error {
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	lf, err := os.CreateTemp("", "slotbench-"+t.Name+"-*.log")
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args(listen)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := testcluster.StartProcess(cmd, true); err != nil {
		lf.Close()
		os.Remove(lf.Name())
		return fmt.Errorf("start %s: %w", bin, err)
	}
	ch := &child{cmd: cmd, log: lf, done: make(chan struct{})}
	go func() { cmd.Wait(); close(ch.done) }()
	t.Addr, t.pid, t.proc = listen, cmd.Process.Pid, ch
	t.PID = t.pid
	t.start = func() error { return startChild(t, bin, args) }
	if err := waitReady(listen, "", 20*time.Second, ch.done); err != nil {
		tail := testcluster.LogTail(lf.Name(), 15)
		stopChild(ch)
		return fmt.Errorf("%s on %s: %w\n%s", t.Name, listen, err, tail)
	}
	return nil
}

// renew replaces t's process with a new one of the same binary and arguments (-fresh).
func (t *target) renew() error {
	stopChild(t.proc)
	t.proc = nil
	return t.start()
}

// stopChild stops a child by its PID: SIGTERM, then SIGKILL after 5 s.
func stopChild(ch *child) {
	if ch == nil {
		return
	}
	select {
	case <-ch.done:
	default:
		_ = syscall.Kill(ch.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-ch.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(ch.cmd.Process.Pid, syscall.SIGKILL)
			<-ch.done
		}
	}
	ch.log.Close()
	os.Remove(ch.log.Name())
}

// waitReady waits until addr answers GET with a non-error reply (the proxy knows the topology).
func waitReady(addr, password string, timeout time.Duration, died <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-died:
			return errors.New("process exited")
		default:
		}
		c, err := dialCtl(addr, password, time.Second)
		if err == nil {
			_, err = c.do(time.Second, "GET", "bench:{0}")
			c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", timeout, last)
}

// preload writes every key of the given value size through the masters owning them, pipelined.
func preload(topo *topology, password string, size int) error {
	val := value(size)
	var wg sync.WaitGroup
	errs := make([]error, len(topo.masters))
	for m, addr := range topo.masters {
		wg.Go(func() {
			errs[m] = preloadMaster(topo, m, addr, password, val)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func preloadMaster(topo *topology, m int, addr, password string, val []byte) error {
	c, err := dialCtl(addr, password, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	const batch = 2000
	var out, kb []byte
	pending := 0
	flush := func() error {
		c.c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.c.Write(out); err != nil {
			return err
		}
		out = out[:0]
		for ; pending > 0; pending-- {
			rep, err := c.readReply()
			if err != nil {
				return err
			}
			if codec.IsError(rep) {
				return fmt.Errorf("preload on %s: %s", addr, codec.ErrorText(rep))
			}
		}
		return nil
	}
	for n := range keySpace {
		kb = key(kb[:0], n, len(val))
		if int(topo.owner[slot.Of(kb)]) != m {
			continue
		}
		out = codec.AppendCommand(out, []byte("SET"), kb, val)
		pending++
		if pending == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// setup starts or finds the cluster and the targets.
func (b *bench) setup() error {
	cfg := &b.cfg
	b.seed, b.password = cfg.cluster, cfg.password
	if len(cfg.proxies) > 0 && cfg.cluster == "" {
		return errors.New("-proxy needs -cluster (and -password): the cluster those proxies use")
	}
	if len(cfg.proxies) > 0 && cfg.slotgateB != "" {
		return errors.New("-slotgate-b starts a second build beside the first: not with -proxy, which starts none")
	}
	if b.seed == "" {
		// Configured like the deployments slotgate is for: AOF on, 2 GB LRU per node.
		b.logf("starting a 3-master + 3-replica cluster (AOF on, maxmemory 2gb allkeys-lru)")
		c, err := testcluster.Start(testcluster.Options{AppendOnly: true, MaxMemory: "2gb"})
		if err != nil {
			return err
		}
		b.cluster = c
		b.seed, b.password = c.Seeds()[0], c.Password
		// Redis rewrites the AOF by itself when it has doubled: a fork and a child writing the
		// whole dataset on every node at about the same moment (they all took the same writes),
		// which took a SET P=16 cell from ~170k to ~10k req/s for a second or two, whichever
		// target it landed on. Measurements must compare targets, not rewrites: off here (AOF and
		// its fsync every second stay), and any rewrite or save during a cell is reported.
		for _, n := range c.Nodes {
			if err := c.Client(n).ConfigSet(context.Background(), "auto-aof-rewrite-percentage", "0").Err(); err != nil {
				return fmt.Errorf("CONFIG SET auto-aof-rewrite-percentage 0 on %s: %w", n.Addr, err)
			}
		}
	}
	topo, err := clusterSlots(b.seed, b.password)
	if err != nil {
		return err
	}
	b.topo = topo
	if b.ms, err = dialMasters(topo.masters, b.password); err != nil {
		return err
	}
	b.targets = append(b.targets, &target{Name: "direct", Addr: b.seed, kind: kindDirect})
	if len(cfg.proxies) > 0 {
		for i, p := range cfg.proxies {
			t := &target{Name: "slotgate", Addr: p, kind: kindSlotgate}
			if len(cfg.proxies) > 1 {
				t.Name = "slotgate-" + strconv.Itoa(i+1)
			}
			if i < len(cfg.proxyAdm) {
				t.admin = cfg.proxyAdm[i]
			}
			if i < len(cfg.proxyPID) {
				t.pid, _ = strconv.Atoi(cfg.proxyPID[i])
			}
			if err := waitReady(p, "", 10*time.Second, nil); err != nil {
				return fmt.Errorf("-proxy %s: %w", p, err)
			}
			b.targets = append(b.targets, t)
		}
	} else {
		builds := [][2]string{{"slotgate", cfg.slotgate}} // target name, binary
		if cfg.slotgateB != "" {
			builds = append(builds, [2]string{"slotgate-b", cfg.slotgateB})
		}
		for _, build := range builds {
			if _, err := os.Stat(build[1]); err != nil {
				return fmt.Errorf("%w (run make build, or give -slotgate or -proxy)", err)
			}
			for _, l := range cfg.loops {
				b.logf("starting %s -loops %s", build[1], l)
				t, err := startSlotgateAs(build[0], build[1], b.seed, b.password, l)
				if err != nil {
					return err
				}
				b.targets = append(b.targets, t)
			}
		}
	}
	if cfg.floor {
		if _, err := os.Stat(cfg.floorBin); err != nil {
			return fmt.Errorf("-floor: %w (go build -o bin/floorproxy ./internal/cmd/floorproxy, or give -floorproxy)", err)
		}
		names := []string{floorName}
		if cfg.floorAA {
			names = append(names, floorTwinName)
		}
		for _, name := range names {
			b.logf("starting %s as %s (the -floor reference)", cfg.floorBin, name)
			t, err := startFloor(name, cfg.floorBin, b.seed, b.password)
			if err != nil {
				return err
			}
			b.targets = append(b.targets, t)
		}
	}
	for _, s := range cfg.targets {
		name, addr, ok := strings.Cut(s, "=")
		if !ok || name == "" || addr == "" {
			return fmt.Errorf("-target %q: want NAME=HOST:PORT", s)
		}
		if err := waitReady(addr, "", 10*time.Second, nil); err != nil {
			return fmt.Errorf("-target %s: %w", s, err)
		}
		b.targets = append(b.targets, &target{Name: name, Addr: addr, kind: kindOther})
	}
	for _, t := range b.targets {
		t.Kind = [...]string{"direct", "slotgate", "other", "floor"}[t.kind]
		t.Admin, t.PID = t.admin, t.pid
	}
	if b.otherGroups = otherGroups(b.targets); len(b.otherGroups) > 0 {
		b.logf("warning: %s in another scheduler autogroup than slotbench and its load generator: the kernel shares CPU between sessions first, so its share of the machine differs from the other targets' (start every proxy from one shell, or sysctl kernel.sched_autogroup_enabled=0)",
			strings.Join(b.otherGroups, ", "))
	}
	return nil
}

// cleanup stops what slotbench started; safe to call twice.
func (b *bench) cleanup() {
	b.cleanOnce.Do(func() {
		if b.ms != nil {
			b.ms.Close()
		}
		for _, t := range b.targets {
			stopChild(t.proc)
		}
		if b.cluster != nil {
			b.cluster.Close()
		}
	})
}
