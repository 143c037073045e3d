package main

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/slotgate/slotgate/internal/settings"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
)

// TestMain runs slotgate's main instead of the tests when asked to, so that the tests below
// can run the command as an operator would (exit status, stdout, stderr) without a build.
func TestMain(m *testing.M) {
	if os.Getenv("SLOTGATE_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SLOTGATE_TEST_MAIN=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestMainHelp: -h and -help print the flags by group on stdout and exit 0.
func TestMainHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		out, errOut, code := runMain(t, arg)
		if code != 0 || errOut != "" {
			t.Fatalf("%s: exit %d, stderr %q", arg, code, errOut)
		}
		for _, want := range []string{"\nNetwork:\n", "\nClients:\n", "\nCluster:\n", "\nCommands:\n",
			"  -client-hard-limit SIZE\n", "  -refresh DURATION\n", "  -config FILE\n", "  -version\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q", arg, want)
			}
		}
	}
}

// TestMainVersion: -version prints server.Version and exits 0.
func TestMainVersion(t *testing.T) {
	out, errOut, code := runMain(t, "-version")
	if code != 0 || errOut != "" || out != "slotgate "+server.Version+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestMainBadValues: nonsense values stop slotgate before it starts, each error printed once,
// naming the flag and the valid range, without the usage dump.
func TestMainBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-loops", "0"}, `invalid value "0" for flag -loops: out of range: valid is 1 to 256`},
		{[]string{"-client-max-inflight", "0"}, `invalid value "0" for flag -client-max-inflight: out of range: valid is 1 to 1048576`},
		{[]string{"-refresh", "0"}, `invalid value "0" for flag -refresh: out of range: valid is 100ms to 1h`},
		{[]string{"-refresh", "5"}, `invalid value "5" for flag -refresh: a duration needs a unit (e.g. 5s, 100ms, 2m)`},
		{[]string{"-client-hard-limit", "-64MiB"}, `invalid value "-64MiB" for flag -client-hard-limit: a size cannot be negative`},
		{[]string{"-max-memory", "lots"}, `-max-memory: not a size (use 64MiB, 512mb, 1gb or a number of bytes)`},
		{[]string{"-client-soft-limit", "1GiB"}, `client.soft_limit (1GiB) passes client.hard_limit (64MiB)`},
		{[]string{"-deny-commands", "AUTH"}, `commands.deny: "AUTH": clients need it to log in`},
		{[]string{"-no-such-flag"}, `flag provided but not defined: -no-such-flag`},
		{[]string{"-config", "/nonexistent/slotgate.yaml"}, `open /nonexistent/slotgate.yaml: no such file or directory`},
	} {
		_, errOut, code := runMain(t, tc.args...)
		if code != 1 || strings.Count(errOut, tc.want) != 1 || strings.Count(errOut, "\n") != 1 || strings.Contains(errOut, "Usage") {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line with %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestSettingsDefaultsMatch: the settings' defaults are the packages' own.
func TestSettingsDefaultsMatch(t *testing.T) {
	d := settings.Defaults()
	for name, pair := range map[string][2]int64{
		"client.soft_limit":        {int64(d.Client.SoftLimit), server.DefaultSoftLimit},
		"client.hard_limit":        {int64(d.Client.HardLimit), server.DefaultHardLimit},
		"client.max_inflight":      {int64(d.Client.MaxInflight), server.DefaultMaxInflight},
		"client.query_limit":       {int64(d.Client.QueryLimit), server.DefaultMaxRequest},
		"client.max_clients":       {int64(d.Client.MaxClients), server.DefaultMaxClients},
		"commands.max_merge_bytes": {int64(d.Commands.MaxMergeBytes), server.DefaultMaxMergeBytes},
		"commands.script_cache":    {int64(d.Commands.ScriptCache), server.DefaultScriptCache},
		"cluster.max_dedicated":    {int64(d.Cluster.MaxDedicated), router.DefaultMaxDedicated},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s: settings default %d, the package's %d", name, pair[0], pair[1])
		}
	}
	var names []string
	for _, a := range settings.Allowable {
		names = append(names, a.Name)
	}
	got := server.AllowableCommands()
	if len(got) != len(names) {
		t.Fatalf("settings.Allowable %v, server %v", names, got)
	}
	for _, n := range got {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+n+" ") {
			t.Errorf("server allows %s, docs (settings.Allowable) do not list it", n)
		}
	}
	for _, f := range settings.Fields() {
		if f.Path == "cluster.read_from" {
			for _, v := range f.Enum {
				if _, err := router.ParseReadFrom(v); err != nil {
					t.Errorf("read_from %q: %v", v, err)
				}
			}
		}
	}
}

// /debug/mallocs counts what go_memstats_mallocs_total counts (runtime.MemStats.Mallocs): ten
// thousand allocations between two reads show, less what the runtime has not added up yet (the
// objects of a span still in a P's cache: 128 of this size).
func TestServeMallocs(t *testing.T) {
	read := func() uint64 {
		rec := httptest.NewRecorder()
		serveMallocs(rec, httptest.NewRequest("GET", "/debug/mallocs", nil))
		v, err := strconv.ParseUint(rec.Body.String(), 10, 64)
		if err != nil || rec.Code != 200 {
			t.Fatalf("/debug/mallocs: %d %q", rec.Code, rec.Body.String())
		}
		return v
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := read()
	if before+1000 < ms.Mallocs || before > ms.Mallocs+1000 {
		t.Fatalf("/debug/mallocs %d, MemStats.Mallocs %d", before, ms.Mallocs)
	}
	keep := make([]*[64]byte, 10000)
	for i := range keep {
		keep[i] = new([64]byte)
	}
	if d := read() - before; d < 10000-256 {
		t.Fatalf("10000 allocations counted as %d", d)
	}
	runtime.KeepAlive(keep)
}
