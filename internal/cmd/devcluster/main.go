// Command devcluster runs a local Redis Cluster for `make run` and, in the
// foreground, the command given after "--" (normally the proxy):
//
//	devcluster [-ports 7000-7005] [-password 'A12345!'] [-appendonly] [-maxmemory 2gb] -- bin/slotgate ...
//
// It reuses a healthy cluster already running on those ports, or starts one
// (data in ./.devcluster, AOF on, maxmemory 2gb allkeys-lru by default). On
// Ctrl-C/SIGTERM it stops the command and the servers it started itself (by
// PID); if the command exits, it stops the servers and exits with its code.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slotgate/slotgate/internal/testcluster"
)

func main() { os.Exit(run()) }

func parsePorts(s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("bad port %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad port range %q", part)
			}
		}
		for p := a; p <= b; p++ {
			if p < 1 || p > 55535 {
				return nil, fmt.Errorf("port %d out of range (the bus port is port+10000)", p)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// mastersFirst orders the ports as testcluster takes them (the masters first, then replica j of
// master j%masters) so that each group of 1+replicas consecutive ports is one shard with its
// master on the first port: 7000-7005 gives masters 7000, 7002, 7004 and 7001 the replica of
// 7000, 7003 of 7002, 7005 of 7004, the layout of the docker-compose cluster it stands in for.
func mastersFirst(ps []int, replicas int) []int {
	group := 1 + replicas
	masters := len(ps) / group
	out := make([]int, 0, len(ps))
	for k := range group {
		for m := range masters {
			out = append(out, ps[m*group+k])
		}
	}
	return out
}

func run() int {
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "devcluster: "+format+"\n", args...) }
	fs := flag.NewFlagSet("devcluster", flag.ContinueOnError)
	ports := fs.String("ports", "7000-7005", "client ports of the nodes (range or comma list); bus port = port+10000")
	password := fs.String("password", testcluster.DefaultPassword, "requirepass/masterauth of every node")
	replicas := fs.Int("replicas", 1, "replicas per master (masters = ports/(1+replicas))")
	appendOnly := fs.Bool("appendonly", true, "appendonly yes (use -appendonly=false to turn off)")
	maxMemory := fs.String("maxmemory", "2gb", "maxmemory per node with allkeys-lru (empty: none)")
	dir := fs.String("dir", ".devcluster", "data dir")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: devcluster [flags] [-- command args...]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	command := fs.Args()
	ps, err := parsePorts(*ports)
	if err != nil {
		log("%v", err)
		return 2
	}
	if *replicas < 0 || len(ps)%(1+*replicas) != 0 {
		log("%d ports cannot form masters with %d replicas each", len(ps), *replicas)
		return 2
	}
	ps = mastersFirst(ps, *replicas)
	reps := *replicas
	if reps == 0 {
		reps = testcluster.NoReplicas
	}

	// Signals first, so a Ctrl-C during start-up still cleans up.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)

	// A signal during start-up (a restart may wait minutes for the nodes to load their data)
	// abandons it; Start stops the servers it started.
	type started struct {
		c   *testcluster.Cluster
		err error
	}
	cancel, done := make(chan struct{}), make(chan started, 1)
	t0 := time.Now()
	go func() {
		c, err := testcluster.Start(testcluster.Options{
			Masters:    len(ps) / (1 + *replicas),
			Replicas:   reps,
			Password:   *password,
			Ports:      ps,
			Dir:        *dir,
			AppendOnly: *appendOnly,
			MaxMemory:  *maxMemory,
			Logf:       log,
			Cancel:     cancel,
		})
		done <- started{c, err}
	}()
	var st started
	select {
	case st = <-done:
	case sig := <-sigs:
		log("%v during start-up: stopping", sig)
		close(cancel)
		if st = <-done; st.err == nil { // it was not waiting (a fresh cluster): stop it now
			_ = st.c.Close()
		}
		return 128 + int(sig.(syscall.Signal))
	}
	c, err := st.c, st.err
	if err != nil {
		log("%v", err)
		return 1
	}
	defer func() {
		if !c.Reused {
			log("stopping the redis-servers it started")
		}
		if err := c.Close(); err != nil {
			log("%v", err)
		}
	}()
	if c.Reused {
		log("reusing the healthy cluster already running on %s (it will not be stopped)", strings.Join(c.Seeds(), " "))
	} else {
		log("started cluster on %s in %v (data dir %s)", strings.Join(c.Seeds(), " "), time.Since(t0).Round(time.Millisecond), c.Dir)
	}
	if shards, err := c.Topology(); err == nil {
		for _, s := range shards {
			log("  master  %s pid %-7d slots %s id %s", s.Master.Addr, s.Master.PID, testcluster.FormatSlots(s.Slots), s.Master.ID)
			for _, r := range s.Replicas {
				log("  replica %s pid %-7d id %s", r.Addr, r.PID, r.ID)
			}
		}
	}

	if len(command) == 0 {
		log("no command given; Ctrl-C to stop")
		sig := <-sigs
		return 128 + int(sig.(syscall.Signal))
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Same process group (the terminal's Ctrl-C reaches it too), and
	// Pdeathsig so it never outlives devcluster.
	if err := testcluster.StartProcess(cmd, false); err != nil {
		log("start %s: %v", command[0], err)
		return 127
	}
	pid := cmd.Process.Pid
	log("running %s (pid %d)", strings.Join(command, " "), pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	select {
	case err := <-exited:
		code := exitCode(cmd, err)
		log("%s exited with code %d", command[0], code)
		return code
	case sig := <-sigs:
		log("%v: stopping %s (pid %d)", sig, command[0], pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-sigs:
			log("second signal: SIGKILL to pid %d", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
		case <-time.After(10 * time.Second):
			log("pid %d ignored SIGTERM for 10s: SIGKILL", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-exited
		}
		return 128 + int(sig.(syscall.Signal))
	}
}

func exitCode(cmd *exec.Cmd, err error) int {
	if err == nil {
		return 0
	}
	if cmd.ProcessState == nil {
		return 1
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := cmd.ProcessState.ExitCode(); code >= 0 {
		return code
	}
	return 1
}
