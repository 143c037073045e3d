package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/server"
)

// pipeLoad sends GETs through slotgate on conns connections, batch requests per write, until n
// requests were sent in all (n <= 0: until stop is closed). key(c, i) names the key of
// connection c's i-th request. It returns the requests answered.
func pipeLoad(addr string, conns, n, batch int, key func(c, i int) string, stop <-chan struct{}) (int64, error) {
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			share := n / conns
			buf := make([]byte, 64<<10)
			var req []byte
			for i := 0; n <= 0 || i < share; {
				select {
				case <-stop:
					return
				default:
				}
				req = req[:0]
				k := 0
				for ; k < batch && (n <= 0 || i < share); k, i = k+1, i+1 {
					key := key(c, i)
					req = append(req, "*2\r\n$3\r\nGET\r\n$"...)
					req = strconv.AppendInt(req, int64(len(key)), 10)
					req = append(req, "\r\n"...)
					req = append(req, key...)
					req = append(req, "\r\n"...)
				}
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := conn.Write(req); err != nil {
					errs <- err
					return
				}
				var f codec.ReplyFramer
				got, pos, framed := 0, 0, 0
				for framed < k {
					if got == len(buf) { // keep the unframed tail only
						copy(buf, buf[pos:got])
						got, pos = got-pos, 0
						f.Reset()
					}
					m, err := conn.Read(buf[got:])
					if err != nil {
						errs <- err
						return
					}
					got += m
					for framed < k {
						l, err := f.Frame(buf[pos:got])
						if err != nil {
							errs <- err
							return
						}
						if l == 0 {
							break
						}
						if buf[pos] == '-' {
							errs <- fmt.Errorf("error reply %q", buf[pos:pos+l])
							return
						}
						pos += l
						framed++
					}
				}
				done.Add(int64(k))
			}
		}()
	}
	wg.Wait()
	close(errs)
	return done.Load(), <-errs
}

// fetchStatus reads the status page's JSON.
func fetchStatus(t testing.TB, url string) server.Status {
	t.Helper()
	resp, err := http.Get(url + "/?json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/json" {
		t.Fatalf("/?json: %s, %q: %.200s", resp.Status, ct, body)
	}
	if bytes.Contains(body, []byte(cluster.Password)) {
		t.Fatalf("/?json shows the backend password: %s", body)
	}
	var st server.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("/?json: %v: %.200s", err, body)
	}
	return st
}

// statusLoad serves the status page of a slotgate (2 loops, every 10th keyed request
// sampled) with keys of every master requested through it until the test ends.
func statusLoad(t *testing.T) (*proxy, string) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 2; c.HotKeySample = 10 })
	web := httptest.NewServer(p.Srv.StatusHandler())
	t.Cleanup(web.Close)
	run := runID()
	stop := make(chan struct{})
	loadDone := make(chan error, 1)
	go func() {
		_, err := pipeLoad(p.Addr, 4, 0, 100, func(c, i int) string {
			if i%10 == 0 {
				return "st:" + run + ":hot"
			}
			return "st:" + run + ":" + strconv.Itoa((c*7919+i*31)%5000)
		}, stop)
		loadDone <- err
	}()
	t.Cleanup(func() {
		close(stop)
		if err := <-loadDone; err != nil {
			t.Errorf("load: %v", err)
		}
	})
	return p, web.URL
}

// waitShardsBusy polls /?json until every master shows keyed requests per second.
func waitShardsBusy(t *testing.T, url string) server.Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := fetchStatus(t, url)
		busy := 0
		for _, sh := range st.Shards {
			if sh.OpsPerSec > 0 {
				busy++
			}
		}
		if busy == 3 && len(st.Shards) == 3 && len(st.HotKeys) > 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15 s of load, %d of %d shards show ops/s: %+v", busy, len(st.Shards), st.Shards)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestE2EStatusJSON: /?json during load shows the three masters with their slots and ops/s,
// the hot key first, the topology change that started it, and settings with secrets hidden.
func TestE2EStatusJSON(t *testing.T) {
	_, url := statusLoad(t)
	st := waitShardsBusy(t, url)
	if st.Version != server.Version || !st.TopologyKnown || st.SlotsCovered != 16384 || st.EventLoops != 2 {
		t.Errorf("status: version %q, topology %v, %d slots covered, %d loops", st.Version, st.TopologyKnown, st.SlotsCovered, st.EventLoops)
	}
	slots := 0
	for _, sh := range st.Shards {
		slots += sh.Slots
		if sh.State != "ok" || len(sh.Replicas) != 1 || sh.OpsSource != "measured" || sh.P50Ms == nil || sh.P99Ms == nil || *sh.P99Ms < *sh.P50Ms || *sh.P50Ms <= 0 {
			t.Errorf("shard %+v (want measured rates and latencies)", sh)
		}
	}
	if slots != 16384 {
		t.Errorf("shards own %d slots", slots)
	}
	if !strings.HasSuffix(st.HotKeys[0].Key, ":hot") || masterOf(t, st.HotKeys[0].Key).Addr != st.HotKeys[0].Shard {
		t.Errorf("first hot key %+v, want the :hot key on its master", st.HotKeys[0])
	}
	if len(st.TopologyChanges) == 0 || !strings.HasPrefix(st.TopologyChanges[len(st.TopologyChanges)-1].What, "first topology") {
		t.Errorf("topology changes: %+v", st.TopologyChanges)
	}
	settings := map[string]string{}
	for _, s := range st.Settings {
		settings[s.Name] = s.Value
	}
	if settings["backend Password"] != "(set)" || settings["Password"] != "(none)" || settings["HotKeySample"] != "10" {
		t.Errorf("settings: %v", settings)
	}
	if st.Clients < 4 {
		t.Errorf("%d clients, want the 4 loaders at least", st.Clients)
	}
}

// TestE2EStatusPageChromium renders the status page in headless Chromium during load, writes a
// screenshot (to $SLOTGATE_STATUS_PNG, or under the test's temporary directory) and checks
// the rendered DOM shows three shards with non-zero ops/s and the hot keys.
func TestE2EStatusPageChromium(t *testing.T) {
	chromium := findChromium(t)
	_, url := statusLoad(t)
	waitShardsBusy(t, url)

	png := os.Getenv("SLOTGATE_STATUS_PNG")
	if png == "" {
		png = filepath.Join(t.TempDir(), "status.png")
	}
	profile := t.TempDir()
	run := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
			"--user-data-dir=" + profile, "--window-size=1280,1500"}, args...)
		cmd := exec.CommandContext(ctx, chromium, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
		}
		return out
	}
	page := url + "/?refresh=0"
	dom := string(run("--dump-dom", page))
	run("--screenshot="+png, page)

	rows := regexp.MustCompile(`<tr class="shard" data-master="([^"]+)" data-ops="([0-9.]+)"`).FindAllStringSubmatch(dom, -1)
	if len(rows) != 3 {
		t.Fatalf("rendered page shows %d shard rows, want 3:\n%.3000s", len(rows), dom)
	}
	for _, r := range rows {
		if ops, _ := strconv.ParseFloat(r[2], 64); ops <= 0 {
			t.Errorf("shard %s shows %s ops/s", r[1], r[2])
		}
	}
	if !strings.Contains(dom, `class="hotkey"`) || !strings.Contains(dom, ":hot</code>") {
		t.Errorf("rendered page shows no hot keys:\n%.3000s", dom)
	}
	img, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s: %v, %d bytes", png, err, len(img))
	}
	t.Logf("screenshot: %s (%d bytes)", png, len(img))
}

// findChromium returns Debian's chromium, installing it with apt-get when running as root;
// the test is skipped when it cannot be had.
func findChromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("chromium is not installed and the test is not root: apt-get install chromium to run it")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("chromium is not installed and there is no apt-get")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t.Log("installing chromium with apt-get (may take a minute)")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "chromium")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil { // perhaps no package lists yet
		update := exec.CommandContext(ctx, "apt-get", "update")
		update.Env = cmd.Env
		if uout, uerr := update.CombinedOutput(); uerr == nil {
			cmd = exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "chromium")
			cmd.Env = update.Env
			out, err = cmd.CombinedOutput()
		} else {
			out = append(out, uout...)
		}
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || ctx.Err() != nil {
			t.Skipf("chromium could not be installed (apt-get install -y chromium: %v): %s", err, tail(out, 500))
		}
		t.Skipf("chromium could not be installed: %v", err)
	}
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("chromium installed but not on PATH: %v", err)
	}
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
