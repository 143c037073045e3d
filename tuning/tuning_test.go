package tuning

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestRaiseNoFile(t *testing.T) {
	soft, hard, err := NoFile()
	if err != nil {
		t.Fatal(err)
	}
	if hard < 2048 {
		t.Skipf("hard RLIMIT_NOFILE is %d: too low to test raising", hard)
	}
	t.Cleanup(func() { setSoft(t, soft) })

	setSoft(t, 1024)
	if before, after, err := RaiseNoFile(2000); err != nil || before != 1024 || after != 2000 {
		t.Fatalf("RaiseNoFile(2000) from 1024 = %d, %d, %v; want 1024, 2000", before, after, err)
	}
	if before, after, err := RaiseNoFile(1500); err != nil || before != 2000 || after != 2000 {
		t.Fatalf("RaiseNoFile(1500) from 2000 = %d, %d, %v; want it left at 2000 (never lowered)", before, after, err)
	}
	if _, after, err := RaiseNoFile(hard + 1000); err != nil || after != hard {
		t.Fatalf("RaiseNoFile(hard+1000) = %d, %v; want the hard limit %d", after, err, hard)
	}
	if s, _, _ := NoFile(); s != hard {
		t.Fatalf("soft limit now %d, want %d", s, hard)
	}
}

func setSoft(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
}

// fakeSys is a System over a /proc/sys tree in a temporary directory and an rlimit in memory.
type fakeSys struct {
	*System
	soft, hard uint64
	root       bool // may raise the hard limit
}

func newFake(t *testing.T, vals map[string]string, soft, hard uint64) *fakeSys {
	t.Helper()
	f := &fakeSys{soft: soft, hard: hard}
	f.System = &System{ProcSys: t.TempDir(), Write: writeExisting,
		GetNoFile: func() (uint64, uint64, error) { return f.soft, f.hard, nil },
		SetNoFile: func(s, h uint64) error {
			if h > f.hard && !f.root {
				return syscall.EPERM
			}
			f.soft, f.hard = s, h
			return nil
		}}
	for name, v := range vals {
		p := f.Path(name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// stock is a distribution's default: everything below the recommendations.
var stock = map[string]string{
	"net.core.somaxconn":           "4096",
	"net.ipv4.tcp_max_syn_backlog": "2048",
	"net.ipv4.tcp_fin_timeout":     "60",
	"net.ipv4.tcp_tw_reuse":        "2",
}

func (f *fakeSys) value(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(f.Path(name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func byName[T interface{ name() string }](list []T) map[string]T {
	m := map[string]T{}
	for _, x := range list {
		m[x.name()] = x
	}
	return m
}

func (r Reading) name() string { return r.Name }
func (r Result) name() string  { return r.Name }

func TestReportFakeTree(t *testing.T) {
	f := newFake(t, stock, 1024, 4096)
	rep := f.Report()
	if len(rep) != 5 || rep[0].Name != NoFileName {
		t.Fatalf("Report() = %+v; want 5 readings, nofile first", rep)
	}
	want := map[string]struct {
		cur, rec int64
		dir      Direction
	}{
		NoFileName:                     {1024, 65535, AtLeast},
		"net.core.somaxconn":           {4096, 65535, AtLeast},
		"net.ipv4.tcp_max_syn_backlog": {2048, 65535, AtLeast},
		"net.ipv4.tcp_fin_timeout":     {60, 15, AtMost},
		"net.ipv4.tcp_tw_reuse":        {2, 1, Equal},
	}
	for _, r := range rep {
		w, ok := want[r.Name]
		if !ok || r.Err != nil || r.Current != w.cur || r.Recommended != w.rec || r.Dir != w.dir || r.OK() || r.Why == "" {
			t.Errorf("%s: %+v; want current %d, recommended %s %d, not OK, a why", r.Name, r, w.cur, w.dir, w.rec)
		}
	}
	if r := rep[0]; r.Hard != 4096 {
		t.Errorf("nofile hard = %d, want 4096", r.Hard)
	}

	// Better than recommended is OK in the direction of each setting; a missing file is an error.
	g := newFake(t, map[string]string{"net.core.somaxconn": "131072", "net.ipv4.tcp_fin_timeout": "10", "net.ipv4.tcp_tw_reuse": "1"}, 100000, 100000)
	g.MaxFDs = 70000
	m := byName(g.Report())
	for _, n := range []string{NoFileName, "net.core.somaxconn", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_tw_reuse"} {
		if !m[n].OK() {
			t.Errorf("%s = %d: not OK against %s %d", n, m[n].Current, m[n].Dir, m[n].Recommended)
		}
	}
	if m[NoFileName].Recommended != 70000 {
		t.Errorf("nofile recommended %d with MaxFDs 70000", m[NoFileName].Recommended)
	}
	if r := m["net.ipv4.tcp_max_syn_backlog"]; r.Err == nil || !errors.Is(r.Err, ErrMissing) || r.OK() {
		t.Errorf("missing tcp_max_syn_backlog: %+v; want ErrMissing", r)
	}
}

func TestApplyWritesBelowRecommended(t *testing.T) {
	f := newFake(t, stock, 1024, 4096)
	f.root = true
	res := byName(f.Apply())
	for name, want := range map[string]string{
		"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535",
		"net.ipv4.tcp_fin_timeout": "15", "net.ipv4.tcp_tw_reuse": "1",
	} {
		if got := f.value(t, name); got != want {
			t.Errorf("%s = %s after Apply, want %s", name, got, want)
		}
		r := res[name]
		if r.Outcome != Changed || r.Reason != nil || strconv.FormatInt(r.After, 10) != want || r.Current == r.After {
			t.Errorf("%s: %+v; want changed from the old value to %s", name, r, want)
		}
	}
	if r := res[NoFileName]; r.Outcome != Changed || r.After != 65535 || f.soft != 65535 || f.hard != 65535 {
		t.Errorf("nofile as root: %+v, limits %d/%d; want both raised to 65535", r, f.soft, f.hard)
	}
	// A second Apply has nothing to do.
	for _, r := range f.Apply() {
		if r.Outcome != Unchanged {
			t.Errorf("second Apply: %s %v", r.Name, r.Outcome)
		}
	}
}

func TestApplyNeverLowers(t *testing.T) {
	better := map[string]string{
		"net.core.somaxconn":           "131072",
		"net.ipv4.tcp_max_syn_backlog": "262144",
		"net.ipv4.tcp_fin_timeout":     "5",
		"net.ipv4.tcp_tw_reuse":        "1",
	}
	f := newFake(t, better, 200000, 200000)
	f.System.Write = func(path string, _ []byte) error {
		t.Errorf("wrote %s, which was better than recommended", path)
		return nil
	}
	f.System.SetNoFile = func(s, h uint64) error {
		t.Errorf("set nofile %d/%d over 200000", s, h)
		return nil
	}
	for _, r := range f.Apply() {
		if r.Outcome != Unchanged || r.After != r.Current {
			t.Errorf("%s: %+v; want unchanged", r.Name, r)
		}
	}
	for name, v := range better {
		if got := f.value(t, name); got != v {
			t.Errorf("%s = %s, want %s kept", name, got, v)
		}
	}
}

func TestApplyRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{syscall.EACCES, ErrNotPermitted}, // not root: the files are root's, mode 0644
		{syscall.EPERM, ErrNotPermitted},  // a user namespace without CAP_NET_ADMIN
		{syscall.EROFS, ErrReadOnly},      // docker mounts /proc/sys read-only
	} {
		f := newFake(t, stock, 1024, 4096)
		f.System.Write = func(path string, _ []byte) error { return &os.PathError{Op: "open", Path: path, Err: tc.err} }
		for _, r := range f.ApplySysctls() {
			if r.Name == NoFileName {
				t.Fatal("ApplySysctls touched nofile")
			}
			if r.Outcome != Refused || !errors.Is(r.Reason, tc.want) || !errors.Is(r.Reason, tc.err) || r.After != r.Current {
				t.Errorf("%v: %s: %+v; want refused with %v", tc.err, r.Name, r, tc.want)
			}
		}
		if got := f.value(t, "net.core.somaxconn"); got != "4096" {
			t.Errorf("somaxconn %s after a refused write", got)
		}
	}

	// Real files: a sysctl the kernel lacks is not created; one that is a directory cannot be written.
	f := newFake(t, map[string]string{"net.core.somaxconn": "4096"}, 1024, 4096)
	if err := os.MkdirAll(f.Path("net.ipv4.tcp_fin_timeout"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := byName(f.ApplySysctls())
	if r := res["net.ipv4.tcp_max_syn_backlog"]; r.Outcome != Refused || !errors.Is(r.Reason, ErrMissing) {
		t.Errorf("missing: %+v; want refused, ErrMissing", r)
	}
	if _, err := os.Stat(f.Path("net.ipv4.tcp_max_syn_backlog")); err == nil {
		t.Error("Apply created a missing sysctl")
	}
	if r := res["net.ipv4.tcp_fin_timeout"]; r.Outcome != Refused || r.Reason == nil {
		t.Errorf("directory: %+v; want refused", r)
	}
	if r := res["net.core.somaxconn"]; r.Outcome != Changed || f.value(t, "net.core.somaxconn") != "65535" {
		t.Errorf("somaxconn: %+v; want changed beside the refusals", r)
	}

	// A read-only file, where chmod binds (not root).
	if os.Geteuid() != 0 {
		g := newFake(t, stock, 1024, 4096)
		if err := os.Chmod(g.Path("net.core.somaxconn"), 0o444); err != nil {
			t.Fatal(err)
		}
		if r := byName(g.ApplySysctls())["net.core.somaxconn"]; r.Outcome != Refused || !errors.Is(r.Reason, ErrNotPermitted) {
			t.Errorf("read-only file: %+v; want refused, ErrNotPermitted", r)
		}
	}

	// The kernel clamping a write without an error is a refusal too.
	h := newFake(t, stock, 1024, 4096)
	h.System.Write = func(path string, _ []byte) error { return os.WriteFile(path, []byte("4096\n"), 0o644) }
	if r := byName(h.ApplySysctls())["net.core.somaxconn"]; r.Outcome != Refused || r.After != 4096 {
		t.Errorf("clamped: %+v; want refused, after 4096", r)
	}
}

func TestApplyNoFileNotRoot(t *testing.T) {
	f := newFake(t, stock, 1024, 4096)
	r := byName(f.Apply())[NoFileName]
	if r.Outcome != Refused || !errors.Is(r.Reason, ErrNotPermitted) || r.After != 4096 || f.soft != 4096 || f.hard != 4096 {
		t.Errorf("nofile, hard 4096, not root: %+v, limits %d/%d; want the soft limit raised to the hard one, refused past it", r, f.soft, f.hard)
	}
	// Soft already at the hard limit: nothing to write, still refused with the reason.
	r = byName(f.Apply())[NoFileName]
	if r.Outcome != Refused || r.After != 4096 {
		t.Errorf("second: %+v", r)
	}
	// Soft below a hard limit that meets the recommendation: raised, no root needed.
	g := newFake(t, stock, 1024, 100000)
	if r := byName(g.Apply())[NoFileName]; r.Outcome != Changed || g.soft != 65535 || g.hard != 100000 {
		t.Errorf("hard 100000: %+v, limits %d/%d; want soft 65535, hard kept", r, g.soft, g.hard)
	}
}

func TestDefaultReadsProc(t *testing.T) {
	for _, r := range Report() {
		if r.Err != nil && !errors.Is(r.Err, ErrMissing) {
			t.Errorf("%s: %v", r.Name, r.Err)
		}
	}
}
