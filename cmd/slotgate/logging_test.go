package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// writerFunc is an io.Writer made of a function (a slog handler writing to a test's slice).
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// json lines parse with the keys slotgate writes; -log-level warn drops info lines.
func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", slog.LevelWarn)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("topology changed", "masters", 3)
	log.Warn("no topology yet", "cause", "auth", "retry_in", 1500*time.Millisecond)
	logReload(log, "slotgate.yaml", nil, errors.New("line 3: unknown key"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines (the info one dropped at warn):\n%s", buf.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("%q: %v", lines[0], err)
	}
	if m["level"] != "WARN" || m["msg"] != "no topology yet" || m["cause"] != "auth" || m["retry_in"] != "1.5s" || m["time"] == nil {
		t.Errorf("json line %v: want level, msg, cause, retry_in as text, time", m)
	}
	if !strings.Contains(lines[1], `"msg":"reload refused; old settings kept"`) {
		t.Errorf("reload line %q", lines[1])
	}

	buf.Reset()
	log, _ = newLogger(&buf, "text", slog.LevelDebug)
	log.Debug("detail", "addr", "127.0.0.1:7000")
	if !strings.Contains(buf.String(), `level=DEBUG msg=detail addr=127.0.0.1:7000`) {
		t.Errorf("text debug line %q", buf.String())
	}
	if _, err := newLogger(&buf, "yaml", slog.LevelInfo); err == nil {
		t.Errorf("newLogger(yaml) accepted") // the settings refuse it first (enum text|json)
	}
}
