package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger builds slotgate's one logger: format text (logfmt-like key=value lines) or json
// (one object per line), at level debug, info, warn or error and above. slog.SetDefault with it
// sends the standard log package (net/http's errors) through it too.
func newLogger(w io.Writer, format string, level slog.Leveler) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// durationText writes durations as "1.5s" in JSON too (slog's JSON handler writes nanoseconds).
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// logReload is the one line a reload (SIGHUP) writes: the settings that changed, or why the
// new ones were refused and the old ones kept.
func logReload(log *slog.Logger, source string, changed []string, err error) {
	if err != nil {
		log.Error("reload refused; old settings kept", "source", source, "err", err)
		return
	}
	if len(changed) == 0 {
		log.Info("settings reloaded: no reloadable setting changed", "source", source)
		return
	}
	log.Info("settings reloaded", "source", source, "changed", strings.Join(changed, " "))
}
