package router

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotgate/slotgate/internal/testcluster"
)

func TestAutoRetryWindowBounds(t *testing.T) {
	for _, tc := range []struct{ nodeTimeout, want time.Duration }{
		{0, 2 * time.Second}, // floor
		{time.Second, 4 * time.Second},
		{15 * time.Second, 32 * time.Second}, // Redis's default timeout
		{time.Minute, time.Minute},           // cap
	} {
		if got := autoRetryWindow(tc.nodeTimeout); got != tc.want {
			t.Errorf("autoRetryWindow(%v) = %v, want %v", tc.nodeTimeout, got, tc.want)
		}
	}
}

// The retry window follows the cluster's cluster-node-timeout unless set, and falls back to 2 s
// where the backend user may not run CONFIG (the topology is still found).
func TestRetryWindowFromNodeTimeout(t *testing.T) {
	c := testcluster.StartT(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas,
		NodeTimeout: 1500 * time.Millisecond,
		ExtraConfig: []string{"user nocfg on >" + testcluster.DefaultPassword + " ~* &* +@all -config"}})
	run := func(cfg Config) (*Router, string) {
		t.Helper()
		var mu sync.Mutex
		var log strings.Builder
		cfg.Seeds, cfg.Password = c.Seeds(), c.Password
		cfg.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return log.Write(p)
		}), nil))
		r := New(cfg)
		if err := r.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return r, log.String()
	}

	r, log := run(Config{})
	if got := r.RetryWindow(); got != 5*time.Second {
		t.Errorf("automatic window with cluster-node-timeout 1.5s = %v, want 5s; log:\n%s", got, log)
	}
	if !strings.Contains(log, `msg="retry window" window=5s`) {
		t.Errorf("the chosen window is not logged:\n%s", log)
	}

	r, log = run(Config{RetryWindow: 700 * time.Millisecond})
	if got := r.RetryWindow(); got != 700*time.Millisecond {
		t.Errorf("-retry-window 700ms gives %v", got)
	}
	if !strings.Contains(log, `window=700ms source=-retry-window`) {
		t.Errorf("the explicit window is not logged:\n%s", log)
	}

	r, log = run(Config{User: "nocfg"})
	if got := r.RetryWindow(); got != 2*time.Second {
		t.Errorf("window where CONFIG is denied = %v, want the 2s fallback", got)
	}
	if r.Topology() == nil || !strings.Contains(log, "cluster-node-timeout unknown") || !strings.Contains(log, "NOPERM") {
		t.Errorf("topology %v; want the fallback logged with the node's refusal:\n%s", r.Topology(), log)
	}
}
