package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
	"github.com/slotgate/slotgate/server"
)

// startConfigured runs bin/slotgate with a -config file (and any flags), its stderr to logs,
// and waits until a client with password serves.
func startConfigured(t *testing.T, logs io.Writer, password string, extra ...string) *proxyProcess {
	t.Helper()
	return startProxyAuth(t, cluster, slotgateBinary(t), nil, io.MultiWriter(logs, os.Stderr), password, extra...)
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// hup sends SIGHUP and waits for the reload's log line containing want (after the lines
// already logged).
func hup(t *testing.T, p *proxyProcess, logs *lockedBuffer, want string) {
	t.Helper()
	before := len(logs.String())
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "log line "+strconv.Quote(want), func() bool {
		return strings.Contains(logs.String()[before:], want)
	})
}

func infoField(t *testing.T, cl *redis.Client, section, field string) string {
	t.Helper()
	info, err := cl.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return ""
}

// TestE2ESettingsReload: SIGHUP changes the client password and two limits while 50 clients
// keep sending: none is dropped (each keeps its one connection) and every request is answered
// in order; new clients need the new password; the new query limit holds; -maxclients given
// as a flag keeps winning over the file after the reload; the password never reaches the log.
func TestE2ESettingsReload(t *testing.T) {
	const oldPass, newPass = "s3cr3t-old", "s3cr3t-new"
	file := filepath.Join(t.TempDir(), "slotgate.yaml")
	writeFile(t, file, "client:\n  password: "+oldPass+"\n  max_clients: 200\n  query_limit: 1MiB\n")
	var logs lockedBuffer
	p := startConfigured(t, &logs, oldPass, "-config", file, "-maxclients", "300")
	ctx := context.Background()

	const clients = 50
	var (
		dials atomic.Int64
		done  [clients]atomic.Int64
		wg    sync.WaitGroup
		stop  = make(chan struct{})
		errc  = make(chan error, clients)
	)
	for i := range clients {
		cl := redis.NewClient(&redis.Options{Addr: p.Addr, Password: oldPass, PoolSize: 1, MaxRetries: -1,
			ReadTimeout: 10 * time.Second, OnConnect: func(context.Context, *redis.Conn) error { dials.Add(1); return nil }})
		t.Cleanup(func() { cl.Close() })
		key := fmt.Sprintf("settings:reload:{%d}", i)
		if err := cl.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(1); ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				v, err := cl.Incr(ctx, key).Result()
				if err != nil {
					errc <- fmt.Errorf("client %d, request %d: %w", i, n, err)
					return
				}
				if v != n {
					errc <- fmt.Errorf("client %d: INCR answered %d, want %d", i, v, n)
					return
				}
				done[i].Store(n)
			}
		}()
	}
	waitUntil(t, 5*time.Second, "every client under way", func() bool {
		for i := range done {
			if done[i].Load() == 0 {
				return false
			}
		}
		return true
	})

	writeFile(t, file, "client:\n  password: "+newPass+"\n  max_clients: 100\n  query_limit: 64KiB\n")
	hup(t, p, &logs, `msg="settings reloaded"`)
	var atReload [clients]int64
	for i := range done {
		atReload[i] = done[i].Load()
	}

	fresh := redis.NewClient(&redis.Options{Addr: p.Addr, Password: newPass, MaxRetries: -1})
	defer fresh.Close()
	if err := fresh.Ping(ctx).Err(); err != nil {
		t.Fatalf("a new client with the new password: %v", err)
	}
	stale := redis.NewClient(&redis.Options{Addr: p.Addr, Password: oldPass, MaxRetries: -1})
	defer stale.Close()
	if err := stale.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("a new client with the old password: %v", err)
	}
	if got := infoField(t, fresh, "clients", "maxclients"); got != "300" {
		t.Fatalf("maxclients %s after the reload: the flag -maxclients 300 must win over the file", got)
	}
	big := redis.NewClient(&redis.Options{Addr: p.Addr, Password: newPass, MaxRetries: -1})
	defer big.Close()
	if err := big.Set(ctx, "settings:big", strings.Repeat("x", 100<<10), 0).Err(); err == nil {
		t.Fatal("a 100 KiB request passed the reloaded 64 KiB query limit")
	}

	waitUntil(t, 5*time.Second, "every client served after the reload", func() bool {
		for i := range done {
			if done[i].Load() <= atReload[i]+10 {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := dials.Load(); n != clients {
		t.Errorf("%d connections for %d clients: a client was dropped and reconnected", n, clients)
	}
	if strings.Contains(logs.String(), newPass) || strings.Contains(logs.String(), oldPass) {
		t.Error("a client password reached the log")
	}
}

// TestE2ESettingsReloadBadFile: a file that does not load on SIGHUP is logged with the key and
// why, and the settings in force stay; a change that needs a restart is logged as such and
// not applied, while the reloadable ones beside it are.
func TestE2ESettingsReloadBadFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slotgate.yaml")
	writeFile(t, file, "client:\n  password: pw1\n  max_clients: 200\n")
	var logs lockedBuffer
	p := startConfigured(t, &logs, "pw1", "-config", file)
	ctx := context.Background()
	cl := redis.NewClient(&redis.Options{Addr: p.Addr, Password: "pw1", MaxRetries: -1})
	defer cl.Close()

	writeFile(t, file, "client:\n  password: pw2\n  hard_limit: 12xb\n")
	hup(t, p, &logs, `msg="reload refused; old settings kept"`)
	if !strings.Contains(logs.String(), `client.hard_limit: \"12xb\": not a size (use 64MiB, 512mb, 1gb or a number of bytes)`) {
		t.Errorf("the refused reload does not name the key and why:\n%s", logs.String())
	}
	again := redis.NewClient(&redis.Options{Addr: p.Addr, Password: "pw1", MaxRetries: -1})
	defer again.Close()
	if err := again.Ping(ctx).Err(); err != nil {
		t.Fatalf("the old password after a bad file: %v", err)
	}
	if got := infoField(t, cl, "clients", "maxclients"); got != "200" {
		t.Fatalf("maxclients %s after a bad file, want 200", got)
	}

	writeFile(t, file, "loops: 2\nclient:\n  password: pw1\n  max_clients: 50\n")
	hup(t, p, &logs, `changed="client.max_clients=50"`)
	if !strings.Contains(logs.String(), `msg="reload: setting needs a restart; the value in force stays" setting=loops in_force=1 in_file=2`) {
		t.Error("the log does not say that loops needs a restart")
	}
	if got := infoField(t, cl, "clients", "maxclients"); got != "50" {
		t.Fatalf("maxclients %s after the reload, want 50", got)
	}
	if err := cl.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestE2ESettingsStartErrors: a bad file stops slotgate at start with the key and why, once.
func TestE2ESettingsStartErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slotgate.yaml")
	for yaml, want := range map[string]string{
		"client:\n  hard_limit: 12xb\n":    `client.hard_limit: "12xb": not a size`,
		"cluster:\n  refersh: 5s\n":        `cluster.refersh: unknown key (did you mean cluster.refresh?)`,
		"commands:\n  allow: [SHUTDOWN]\n": `commands.allow: "SHUTDOWN" cannot be allowed: it stops one node`,
		"commands:\n  deny: [NOSUCH]\n":    `commands.deny: "NOSUCH": not a command slotgate knows`,
	} {
		writeFile(t, file, yaml)
		out, err := exec.Command(slotgateBinary(t), "-config", file).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || strings.Count(string(out), want) != 1 {
			t.Errorf("%q: exit %v, output %q; want exit 1 and %q once", yaml, err, out, want)
		}
	}
}

// TestE2ESettingsCommandRules: commands.deny refuses with -NOPERM naming the key (also inside
// MULTI: EXECABORT); commands.allow lets CONFIG SET through to every master; a reload of the
// lists takes effect on the open connection.
func TestE2ESettingsCommandRules(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) {
		c.Deny, c.Allow = []string{"KEYS", "flushall", "config get"}, []string{"CONFIG SET"}
	})
	ctx := context.Background()
	cl := p.client(t, func(o *redis.Options) { o.PoolSize = 1 })
	for _, args := range [][]any{{"KEYS", "settings:*"}, {"FLUSHALL"}, {"config", "GET", "maxmemory"}} {
		err := cl.Do(ctx, args...).Err()
		name := strings.ToUpper(fmt.Sprint(args[0]))
		if len(args) == 3 {
			name += " GET"
		}
		want := "NOPERM slotgate: '" + name + "' is denied by slotgate's configuration (commands.deny)"
		if err == nil || err.Error() != want {
			t.Errorf("%v: got %v, want %q", args, err, want)
		}
	}
	_, err := cl.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Keys(ctx, "settings:*")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "EXECABORT") {
		t.Errorf("KEYS inside MULTI: %v, want EXECABORT", err)
	}

	masters := cluster.Masters()
	orig, err := cluster.Client(masters[0]).ConfigGet(ctx, "slowlog-max-len").Result()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Do(context.Background(), "CONFIG", "SET", "slowlog-max-len", orig["slowlog-max-len"])
	if err := cl.Do(ctx, "CONFIG", "SET", "slowlog-max-len", "4321").Err(); err != nil {
		t.Fatalf("CONFIG SET with commands.allow: %v", err)
	}
	for _, m := range masters {
		if got, _ := cluster.Client(m).ConfigGet(ctx, "slowlog-max-len").Result(); got["slowlog-max-len"] != "4321" {
			t.Errorf("master %s: slowlog-max-len %v after CONFIG SET through slotgate", m.Addr, got)
		}
	}
	if err := cl.Do(ctx, "CONFIG", "SET", "no-such-parameter", "1").Err(); err == nil || !strings.Contains(err.Error(), "no-such-parameter") {
		t.Errorf("CONFIG SET of an unknown parameter: %v, want the masters' error", err)
	}
	if err := cl.Do(ctx, "CONFIG", "SET", "slowlog-max-len", orig["slowlog-max-len"]).Err(); err != nil {
		t.Fatal(err)
	}

	if err := p.Srv.Reload(server.Live{Deny: []string{"DBSIZE"}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Keys(ctx, "settings:none:*").Err(); err != nil {
		t.Errorf("KEYS after the reload lifted its denial: %v", err)
	}
	if err := cl.DBSize(ctx).Err(); err == nil || !strings.Contains(err.Error(), "commands.deny") {
		t.Errorf("DBSIZE after the reload denied it: %v", err)
	}
	if err := cl.Do(ctx, "CONFIG", "SET", "slowlog-max-len", "4321").Err(); err == nil || !strings.Contains(err.Error(), "refused through a proxy") {
		t.Errorf("CONFIG SET once no longer allowed: %v", err)
	}
	if err := p.Srv.Reload(server.Live{Allow: []string{"SHUTDOWN"}}); err == nil || !strings.Contains(err.Error(), "cannot be allowed") {
		t.Errorf("allowing SHUTDOWN: %v", err)
	}
	if err := cl.DBSize(ctx).Err(); err == nil {
		t.Error("a refused reload changed the lists")
	}
}

// TestE2ESettingsReloadRouter: the reloadable router settings take effect on open connections:
// read_from (reads move to the replicas and back) and request_timeout.
func TestE2ESettingsReloadRouter(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	cl := p.client(t, func(o *redis.Options) { o.PoolSize = 1; o.MaxRetries = -1 })
	var replicas []*testcluster.Node
	for _, m := range cluster.Masters() {
		replicas = append(replicas, cluster.Replicas(m)...)
	}
	if len(replicas) == 0 {
		t.Skip("the shared cluster has no replicas")
	}
	replicaGets := func() int {
		n := 0
		for _, r := range replicas {
			n += nodeGets(cluster, r)
		}
		return n
	}
	reads := func() int {
		before := replicaGets()
		for i := range 200 {
			if err := cl.Get(ctx, "settings:rf:"+strconv.Itoa(i)).Err(); err != nil && err != redis.Nil {
				t.Fatal(err)
			}
		}
		return replicaGets() - before
	}
	if n := reads(); n != 0 {
		t.Fatalf("%d GETs reached replicas with read_from master", n)
	}
	p.Rt.SetReadFrom(router.ReadReplica)
	if n := reads(); n < 200 {
		t.Fatalf("%d of 200 GETs reached replicas after read_from replica", n)
	}
	p.Rt.SetReadFrom(router.ReadMaster)
	if n := reads(); n != 0 {
		t.Fatalf("%d GETs reached replicas after read_from master again", n)
	}

	// request_timeout: a GET to a paused master gets -ERR timeout once the timeout is set.
	key := "settings:timeout"
	owner := cluster.Node(p.Rt.Topology().Owner(slot.Of([]byte(key))))
	if owner == nil {
		t.Fatal("no owner for", key)
	}
	p.Rt.SetRequestTimeout(50 * time.Millisecond)
	defer p.Rt.SetRequestTimeout(0)
	if err := cluster.Client(owner).Do(ctx, "CLIENT", "PAUSE", "400", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Get(ctx, key).Err(); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("GET to a paused master with request_timeout 50ms: %v", err)
	}
	p.Rt.SetRequestTimeout(0)
	if err := cl.Get(ctx, key).Err(); err != nil && err != redis.Nil {
		t.Fatalf("GET after the pause with no request timeout: %v", err)
	}
}
