package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// rbRow is one test line of redis-benchmark --csv (latencies in ms as printed).
type rbRow struct {
	Test                         string
	RPS                          float64
	Avg, Min, P50, P95, P99, Max float64
}

// parseRBCSV parses redis-benchmark --csv output: a header line, then one line per test.
// Lines that are not CSV rows of 8 fields (progress, warnings) are skipped.
func parseRBCSV(out []byte) ([]rbRow, error) {
	var rows []rbRow
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		// redis-benchmark prints progress with \r on a tty; keep what follows the last one.
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		if !strings.HasPrefix(line, `"`) {
			continue
		}
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil || len(rec) != 8 || rec[0] == "test" {
			continue
		}
		var v [7]float64
		for i := range v {
			f, err := strconv.ParseFloat(rec[i+1], 64)
			if err != nil {
				return nil, fmt.Errorf("redis-benchmark csv: field %d of %q: %w", i+2, line, err)
			}
			v[i] = f
		}
		rows = append(rows, rbRow{Test: rec[0], RPS: v[0], Avg: v[1], Min: v[2], P50: v[3], P95: v[4], P99: v[5], Max: v[6]})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("redis-benchmark csv: no result line in %q", trimOut(out))
	}
	return rows, nil
}

func trimOut(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 400 {
		b = b[len(b)-400:]
	}
	return string(b)
}

// rbArgs builds the redis-benchmark command line for one cell against t.
func rbArgs(t *target, seed, password string, test string, clients, depth, size, n int) []string {
	var a []string
	if t.kind == kindDirect {
		h, p := splitHostPort(seed)
		a = append(a, "--cluster", "-h", h, "-p", p)
		if password != "" {
			a = append(a, "-a", password)
		}
	} else {
		h, p := splitHostPort(t.Addr)
		a = append(a, "-h", h, "-p", p)
	}
	a = append(a, "-c", strconv.Itoa(clients), "-P", strconv.Itoa(depth), "-d", strconv.Itoa(size),
		"-r", strconv.Itoa(keySpace), "-n", strconv.Itoa(n), "-t", test, "--csv")
	return a
}

// runRB runs redis-benchmark and returns its row for test, its errors, wall time and CPU time. Any "error" it prints counts as a
// request error (redis-benchmark keeps going after error replies and prints them).
func runRB(args []string) (rbRow, int64, time.Duration, time.Duration, error) {
	cmd := exec.Command("redis-benchmark", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	el := time.Since(t0)
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return rbRow{}, 1, el, cpu, fmt.Errorf("redis-benchmark %s: %w: %s", strings.Join(args, " "), err, trimOut(stderr.Bytes()))
	}
	var errs int64
	for _, l := range strings.Split(stdout.String()+"\n"+stderr.String(), "\n") {
		ll := strings.ToLower(l)
		if strings.Contains(ll, "error") && !strings.Contains(ll, "latency") {
			errs++
		}
	}
	rows, perr := parseRBCSV(stdout.Bytes())
	if perr != nil {
		return rbRow{}, errs + 1, el, cpu, perr
	}
	return rows[0], errs, el, cpu, nil
}

func splitHostPort(a string) (string, string) {
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, "6379"
	}
	h := a[:i]
	if h == "" {
		h = "127.0.0.1"
	}
	return strings.Trim(h, "[]"), a[i+1:]
}
