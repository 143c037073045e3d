package server_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotgate/slotgate/internal/testcluster"
)

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runSlotgate starts the slotgate binary with args, its stderr going to w (and the test's
// stderr), and kills it at the end of the test.
func runSlotgate(t *testing.T, w io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(slotgateBinary(t), args...)
	cmd.Stderr = io.MultiWriter(w, os.Stderr)
	if err := testcluster.StartProcess(cmd, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// TestE2ESecretsNeverShown runs slotgate with a client password and the backend password,
// drives traffic that could reveal either (wrong AUTHs, CONFIG GET of the nodes' credentials by
// name and by pattern, INFO, ACL, a script calling CONFIG), reads /metrics and the profiling
// pages, runs a second slotgate with a wrong backend password, and finds none of the three
// passwords in anything a client, the admin port or the logs got.
func TestE2ESecretsNeverShown(t *testing.T) {
	const clientPass = "cl1ent-S3cret-pw"
	const wrongBackendPass = "wr0ng-backend-S3cret"
	backendPass := cluster.Password
	var logs lockedBuffer
	var seen strings.Builder // every reply and admin page
	addr, admin := freeAddr(t), freeAddr(t)
	runSlotgate(t, &logs, "-listen", addr, "-admin", admin, "-cluster", cluster.Seeds()[0],
		"-backend-password", backendPass, "-password", clientPass)

	deadline := time.Now().Add(20 * time.Second)
	waitListening(t, addr, deadline)
	var rc *rawConn
	for {
		rc = dialRaw(t, addr)
		if r := rc.do("AUTH", clientPass); r != "+OK\r\n" {
			t.Fatalf("AUTH with the client password = %q", r)
		}
		if r := rc.do("SET", "{sec}:k", "v"); r == "+OK\r\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slotgate at %s not serving", addr)
		}
		rc.c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	do := func(rc *rawConn, args ...string) string {
		r := rc.do(args...)
		seen.WriteString(r)
		return r
	}

	anon := dialRaw(t, addr)
	for _, q := range [][]string{
		{"GET", "{sec}:k"},
		{"AUTH", "wrong-guess"},
		{"AUTH", "default", "wrong-guess"},
		{"AUTH", backendPass}, // the cluster's password is not the client password
		{"HELLO", "2", "AUTH", "default", backendPass},
		{"CONFIG", "GET", "requirepass"},
	} {
		if r := do(anon, q...); !strings.HasPrefix(r, "-") {
			t.Errorf("%q before AUTH: %q, want an error", q, r)
		}
	}

	do(rc, "MGET", "{sec}:k", "a", "b", "c")
	// CONFIG GET still works, without the credentials: by name, any case, by pattern, mixed.
	for _, q := range [][]string{
		{"CONFIG", "GET", "requirepass"},
		{"CONFIG", "GET", "masterauth"},
		{"CONFIG", "GET", "masteruser"},
		{"CONFIG", "GET", "REQUIREPASS"},
		{"CONFIG", "GET", "[r]equirepass"},
		{"CONFIG", "GET", "*pass*"},
		{"CONFIG", "GET", "master*"},
		{"CONFIG", "GET", "*"},
		{"CONFIG", "GET", "maxmemory", "requirepass", "masterauth"},
	} {
		r := do(rc, q...)
		if strings.HasPrefix(r, "-") || strings.Contains(strings.ToLower(r), "requirepass") ||
			strings.Contains(strings.ToLower(r), "masterauth") {
			t.Errorf("%q: %q", q, clip600(r))
		}
	}
	if r := do(rc, "CONFIG", "GET", "*"); !strings.Contains(r, bulkOf("maxmemory-policy")) {
		t.Errorf("CONFIG GET * lost the parameters that are no secret: %q", clip600(r))
	}
	if r := do(rc, "CONFIG", "GET", "maxmemory-policy", "requirepass"); !strings.HasPrefix(r, "*2\r\n"+bulkOf("maxmemory-policy")) {
		t.Errorf("CONFIG GET maxmemory-policy requirepass = %q, want the policy alone", r)
	}
	rc.write("CONFIG GET requirepass\r\n") // inline
	if r := rc.read(); r != "*0\r\n" {
		t.Errorf("inline CONFIG GET requirepass = %q, want an empty array", r)
	}
	for _, q := range [][]string{
		{"INFO"}, {"INFO", "all"}, {"ACL", "LIST"}, {"ACL", "GETUSER", "default"}, {"CLIENT", "LIST"},
		{"CONFIG", "SET", "requirepass", "x"}, {"MONITOR"}, {"DEBUG", "OBJECT", "{sec}:k"}, {"SLOWLOG", "GET"},
		{"EVAL", "return redis.call('CONFIG', 'GET', 'requirepass')", "1", "{sec}:k"},
		{"EVAL", "return redis.call('ACL', 'LIST')", "1", "{sec}:k"},
	} {
		do(rc, q...)
	}
	for _, page := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=2"} {
		resp, err := http.Get("http://" + admin + page)
		if err != nil {
			t.Fatalf("admin %s: %v", page, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		seen.Write(b)
	}

	// A wrong backend password (slotgate waits for the cluster instead of exiting): slotgate logs
	// that the node refused it, and clients get an error.
	var wrongLogs lockedBuffer
	addr2 := freeAddr(t)
	runSlotgate(t, &wrongLogs, "-listen", addr2, "-admin", "", "-cluster", cluster.Seeds()[0],
		"-backend-password", wrongBackendPass, "-wait-for-cluster")
	for !strings.Contains(wrongLogs.String(), "refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal logged with a wrong backend password; log:\n%s", wrongLogs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitListening(t, addr2, deadline)
	rc2 := dialRaw(t, addr2)
	if r := do(rc2, "GET", "k"); !strings.HasPrefix(r, "-") {
		t.Errorf("GET through slotgate with a wrong backend password = %q, want an error", r)
	}

	all := seen.String() + logs.String() + wrongLogs.String()
	for name, secret := range map[string]string{"backend": backendPass, "client": clientPass, "wrong backend": wrongBackendPass} {
		if i := strings.Index(all, secret); i >= 0 {
			t.Errorf("the %s password %q shows up: ...%s...", name, secret, all[max(0, i-200):min(len(all), i+200)])
		}
	}
	t.Logf("checked %d bytes of replies and admin pages, %d of logs", seen.Len(), len(logs.String())+len(wrongLogs.String()))
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string, deadline time.Time) {
	t.Helper()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
