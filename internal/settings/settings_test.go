package settings

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadWith(t *testing.T, yaml string, argv []string, env map[string]string) (*Settings, error) {
	t.Helper()
	src, err := ParseArgs(argv)
	if err != nil {
		return nil, err
	}
	src.Getenv = func(k string) string { return env[k] }
	if yaml != "" {
		src.File = filepath.Join(t.TempDir(), "slotgate.yaml")
		if err := os.WriteFile(src.File, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return src.Load()
}

// TestSettingsGoodFile: a file with a key of each type sets them; the others keep their defaults.
func TestSettingsGoodFile(t *testing.T) {
	s, err := loadWith(t, `
listen: "127.0.0.1:7777"
loops: 2
max_memory: 512mb
client:
  password: s3cret
  hard_limit: 128MiB
  soft_limit: 1m        # powers of 1000 alone, as in Redis
  idle_timeout: 90s
  protected: true
cluster:
  seeds: [10.0.0.1:6379, "10.0.0.2:6379"]
  read_from: prefer-replica
  request_timeout: 45m
commands:
  deny: [FLUSHALL, KEYS]
  allow: CONFIG SET
`, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.Listen, want.Loops, want.MaxMemory = "127.0.0.1:7777", 2, 512<<20
	want.Client.Password, want.Client.HardLimit, want.Client.SoftLimit = "s3cret", 128<<20, 1000000
	want.Client.IdleTimeout, want.Client.Protected = 90*time.Second, true
	want.Cluster.Seeds, want.Cluster.ReadFrom = []string{"10.0.0.1:6379", "10.0.0.2:6379"}, "prefer-replica"
	want.Cluster.RequestTimeout = 45 * time.Minute
	want.Commands.Deny, want.Commands.Allow = []string{"FLUSHALL", "KEYS"}, []string{"CONFIG SET"}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got  %+v\nwant %+v", s, want)
	}
	if got := Lookup("client.password").Format(s); got != "(hidden)" {
		t.Errorf("a secret formats as %q", got)
	}
}

// TestSettingsExampleFile: docs/slotgate.example.yaml loads as it is and holds the defaults.
func TestSettingsExampleFile(t *testing.T) {
	b, err := os.ReadFile("../../docs/slotgate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadWith(t, string(b), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Defaults()) {
		t.Fatalf("the example file is not the defaults:\n%+v\n%+v", s, Defaults())
	}
	var md, ex bytes.Buffer
	Markdown(&md)
	Example(&ex)
	if ex.String() != string(b) {
		t.Error("docs/slotgate.example.yaml is stale: go generate ./internal/settings")
	}
	if cur, _ := os.ReadFile("../../docs/config.md"); string(cur) != md.String() {
		t.Error("docs/config.md is stale: go generate ./internal/settings")
	}
	for _, f := range Fields() {
		if !strings.Contains(md.String(), "| `"+f.Path+"` |") {
			t.Errorf("docs/config.md lacks %s", f.Path)
		}
	}
}

// TestSettingsBadFile: each kind of bad value stops the load with the file, line, key path and why.
func TestSettingsBadFile(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"client:\n  hard_limit: 12xb\n", `slotgate.yaml:2: client.hard_limit: "12xb": not a size (use 64MiB`},
		{"client:\n  hard_limit: -5mb\n", `client.hard_limit: "-5mb": a size cannot be negative`},
		{"client:\n  hard_limt: 1mb\n", `client.hard_limt: unknown key (did you mean client.hard_limit?)`},
		{"clients:\n  hard_limit: 1mb\n", `clients: unknown key (did you mean client?)`},
		{"bogus: 1\n", `:1: bogus: unknown key`},
		{"cluster:\n  refresh: 5\n", `cluster.refresh: "5": a duration needs a unit (e.g. 5s, 100ms, 2m)`},
		{"cluster:\n  refresh: 5 parsecs\n", `cluster.refresh: "5 parsecs": not a duration`},
		{"cluster:\n  refresh: 0s\n", `cluster.refresh: "0s": out of range: valid is 100ms to 1h`},
		{"loops: 0\n", `loops: "0": out of range: valid is 1 to 256`},
		{"loops: two\n", `loops: "two": not a whole number`},
		{"loops: 1.5\n", `loops: "1.5": not a whole number`},
		{"client:\n  max_inflight: 0\n", `client.max_inflight: "0": out of range: valid is 1 to 1048576`},
		{"client:\n  protected: maybe\n", `client.protected: "maybe": not true or false`},
		{"cluster:\n  read_from: replicas\n", `cluster.read_from: "replicas": want master, replica, prefer-replica`},
		{"cluster:\n  seeds: [redis1]\n", `cluster.seeds: "redis1": not HOST:PORT`},
		{"cluster:\n  seeds: []\n", `cluster.seeds: no seed`},
		{"listen: \"127.0.0.1:99999\"\n", `listen: "127.0.0.1:99999": the port is not a number from 1 to 65535`},
		{"client: 5\n", `client: a section: want its keys (password, protected`},
		{"client:\n  hard_limit:\n", `client.hard_limit: no value (remove the key for the default, 64MiB)`},
		{"client:\n  hard_limit: [1mb]\n", `client.hard_limit: a list where one value is expected`},
		{"client:\n  soft_limit: 128MiB\n", `client.soft_limit (128MiB) passes client.hard_limit (64MiB)`},
		{"loops: 1\nloops: 2\n", `"loops" already defined`},
		{"- 1\n- 2\n", `the file must be a mapping`},
		{"listen: [\n", `slotgate.yaml: [1:9]`},
		{"a: &x 1\nloops: *x\n", `a: unknown key`},
		{"loops: !!int 3\n", `loops: anchors, aliases and tags are not supported`},
	} {
		_, err := loadWith(t, tc.yaml, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestSettingsBadFlag: nonsense flag values are refused naming the flag and the valid range.
func TestSettingsBadFlag(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"-loops", "0"}, `invalid value "0" for flag -loops: out of range: valid is 1 to 256`},
		{[]string{"-client-max-inflight", "0"}, `-client-max-inflight: out of range: valid is 1 to 1048576`},
		{[]string{"-refresh", "0"}, `-refresh: out of range: valid is 100ms to 1h`},
		{[]string{"-refresh", "5"}, `-refresh: a duration needs a unit`},
		{[]string{"-client-hard-limit", "-1"}, `-client-hard-limit: a size cannot be negative`},
		{[]string{"-max-memory", "12xb"}, `-max-memory: not a size`},
		{[]string{"-maxclients", "0"}, `-maxclients: out of range: valid is 1 to 10000000`},
		{[]string{"-read-from", "slave"}, `-read-from: want master, replica, prefer-replica`},
		{[]string{"-cluster", "a"}, `-cluster: "a": not HOST:PORT`},
		{[]string{"-nope"}, `flag provided but not defined: -nope`},
		{[]string{"stray"}, `unexpected argument "stray"`},
	} {
		_, err := loadWith(t, "", tc.argv, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.argv, err, tc.want)
		}
	}
	if _, err := ParseArgs([]string{"-h"}); err != ErrHelp {
		t.Errorf("-h: %v", err)
	}
}

// TestSettingsPrecedence: flags win over the environment, which wins over the file, which wins
// over the defaults; a reload (a second Load of the same Source) keeps the flags winning.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "slotgate.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("loops: 3\nclient:\n  max_clients: 200\n  password: file\ncluster:\n  password: file\n")
	src, err := ParseArgs([]string{"-config", file, "-loops", "2", "-password", "flag"})
	if err != nil {
		t.Fatal(err)
	}
	src.Getenv = func(k string) string {
		return map[string]string{"SLOTGATE_PASSWORD": "env", "SLOTGATE_BACKEND_PASSWORD": "env"}[k]
	}
	s, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Loops != 2 || s.Client.MaxClients != 200 || s.Client.Password != "flag" || s.Cluster.Password != "env" {
		t.Fatalf("got loops %d maxclients %d password %q backend password %q", s.Loops, s.Client.MaxClients, s.Client.Password, s.Cluster.Password)
	}
	write("loops: 4\nclient:\n  max_clients: 100\n  password: file2\n")
	s2, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s2.Loops != 2 || s2.Client.MaxClients != 100 || s2.Client.Password != "flag" {
		t.Fatalf("after reload: loops %d maxclients %d password %q", s2.Loops, s2.Client.MaxClients, s2.Client.Password)
	}
	reload, restart := Changes(s, s2)
	if len(reload) != 1 || reload[0].Path != "client.max_clients" || len(restart) != 0 {
		t.Fatalf("changes: %v %v", reload, restart)
	}
	write("loops: 4\n")
	s3, _ := src.Load()
	s3.Cluster.Seeds = []string{"10.0.0.9:7000"}
	_, restart = Changes(s2, s3)
	if len(restart) != 1 || restart[0].Path != "cluster.seeds" {
		t.Fatalf("restart: %v", restart)
	}
	KeepRestart(s2, s3)
	if !reflect.DeepEqual(s3.Cluster.Seeds, s2.Cluster.Seeds) || s3.Client.MaxClients != 10000 {
		t.Fatalf("KeepRestart: seeds %v maxclients %d", s3.Cluster.Seeds, s3.Client.MaxClients)
	}
}

// TestSettingsUsage: -h lists every flag, by group, with units and what reloads.
func TestSettingsUsage(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	out := b.String()
	last := -1
	for _, g := range []string{"General:", "Network:", "Process:", "Clients:", "Cluster:", "Commands:"} {
		i := strings.Index(out, "\n"+g+"\n")
		if i < 0 || i < last {
			t.Errorf("group %s missing or out of order", g)
		}
		last = i
	}
	for _, f := range Fields() {
		if f.Flag != "" && !strings.Contains(out, "  -"+f.Flag+" ") && !strings.Contains(out, "  -"+f.Flag+"\n") {
			t.Errorf("-h lacks -%s", f.Flag)
		}
	}
	for _, want := range []string{"-client-hard-limit SIZE", "-refresh DURATION", "(default 64MiB; 1KiB to 16GiB; reloads)", "-cluster HOST:PORT,..."} {
		if !strings.Contains(out, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}

func TestSettingsSizes(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "64MiB": 64 << 20, "512mb": 512 << 20, "2GB": 2 << 30,
		"1k": 1000, "1kb": 1024, "3 MiB": 3 << 20, "1g": 1e9, "7b": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "mb", "1.5GiB", "-1", "1xb", "99999999999tb"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	for n, want := range map[int64]string{0: "0", 1000: "1000", 1024: "1KiB", 64 << 20: "64MiB", 3 << 40: "3TiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q", n, got)
		}
	}
	for d, want := range map[time.Duration]string{0: "0", 5 * time.Second: "5s", 90 * time.Minute: "1h30m", time.Hour: "1h", 100 * time.Millisecond: "100ms"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q", d, got)
		}
	}
}
