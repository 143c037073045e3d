// Package tuning reads, recommends and raises the operating-system limits a proxy holding many
// connections depends on: the open-file limit (RLIMIT_NOFILE) and the sysctls net.core.somaxconn,
// net.ipv4.tcp_max_syn_backlog, net.ipv4.tcp_fin_timeout and net.ipv4.tcp_tw_reuse. It imports
// nothing of slotgate's.
package tuning

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// RaiseNoFile raises the soft RLIMIT_NOFILE of this process toward want, capped by the hard
// limit, and returns the soft limit before and after. It never lowers the limit: with a soft
// limit already at or above want, nothing changes. Go (1.19 and later) already raises the soft
// limit to the hard one at start-up where it can, so before is usually that; this makes the
// target explicit, reports it, and covers an unlimited hard limit, which Go leaves alone.
func RaiseNoFile(want uint64) (before, after uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	before = lim.Cur
	target := min(want, lim.Max)
	if target <= lim.Cur {
		return before, before, nil
	}
	lim.Cur = target
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return before, before, fmt.Errorf("setrlimit(RLIMIT_NOFILE, soft %d, hard %d): %w", lim.Cur, lim.Max, err)
	}
	return before, target, nil
}

// NoFile returns the soft and hard RLIMIT_NOFILE of this process.
func NoFile() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	return lim.Cur, lim.Max, nil
}

func setNoFile(soft, hard uint64) error {
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: soft, Max: hard})
}

// Direction says which values of a setting meet its recommendation.
type Direction int

const (
	AtLeast Direction = iota // larger is better: never lowered
	AtMost                   // smaller is better: never raised
	Equal                    // only the recommended value
)

func (d Direction) String() string {
	switch d {
	case AtLeast:
		return ">="
	case AtMost:
		return "<="
	}
	return "="
}

// meets reports whether v satisfies the recommendation rec.
func (d Direction) meets(v, rec int64) bool {
	switch d {
	case AtLeast:
		return v >= rec
	case AtMost:
		return v <= rec
	}
	return v == rec
}

// NoFileName is the name the open-file limit goes by among the settings.
const NoFileName = "nofile"

// Setting is one limit with its recommendation for a proxy.
type Setting struct {
	Name        string // sysctl name (net.core.somaxconn) or NoFileName
	Recommended int64
	Dir         Direction
	Why         string // its effect on a proxy, one line
}

// Settings returns the recommended settings (the values a docker-compose Redis Cluster beside
// slotgate is usually tuned with), RLIMIT_NOFILE first.
func Settings() []Setting {
	return []Setting{
		{NoFileName, 65535, AtLeast, "each client and each backend connection holds a descriptor: past the limit accept fails and new clients hang"},
		{"net.core.somaxconn", 65535, AtLeast, "caps the listen backlog: a short accept queue drops SYNs in a connection storm and clients wait a 1 s SYN retry"},
		{"net.ipv4.tcp_max_syn_backlog", 65535, AtLeast, "half-open connections queued: when full, SYNs in a reconnect storm are dropped (or answered with syncookies)"},
		{"net.ipv4.tcp_fin_timeout", 15, AtMost, "seconds a closed socket lingers in FIN_WAIT_2 holding memory and a port: churning clients pile them up"},
		{"net.ipv4.tcp_tw_reuse", 1, Equal, "lets new connections to the nodes reuse ports in TIME_WAIT (2 reuses them on loopback only): reconnects after a failover do not run out of ports"},
	}
}

// System is where settings are read and written: the real one (Default) or a fake for tests.
type System struct {
	ProcSys   string                                // root of the sysctl tree, /proc/sys
	Write     func(path string, data []byte) error  // writes a sysctl file; never creates one
	GetNoFile func() (soft, hard uint64, err error) // this process's RLIMIT_NOFILE
	SetNoFile func(soft, hard uint64) error         // sets it
	MaxFDs    uint64                                // the NOFILE recommendation when not 0 (slotgate's -max-fds)
	Settings  func() []Setting                      // nil: Settings
}

// Default is the running machine: /proc/sys and this process's rlimits.
func Default() *System {
	return &System{ProcSys: "/proc/sys", Write: writeExisting, GetNoFile: NoFile, SetNoFile: setNoFile}
}

// Report reads the running machine's settings (Default().Report()).
func Report() []Reading { return Default().Report() }

// Apply raises the running machine's settings where permitted (Default().Apply()).
func Apply() []Result { return Default().Apply() }

// writeExisting writes data to an existing file: a missing sysctl is not created.
func writeExisting(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *System) settings() []Setting {
	list := Settings()
	if s.Settings != nil {
		list = s.Settings()
	}
	for i := range list {
		if list[i].Name == NoFileName && s.MaxFDs != 0 {
			list[i].Recommended = int64(min(s.MaxFDs, 1<<62))
		}
	}
	return list
}

// Path is the file of a sysctl under the tree root: net.core.somaxconn is net/core/somaxconn.
func (s *System) Path(name string) string {
	return filepath.Join(s.ProcSys, strings.ReplaceAll(name, ".", "/"))
}

// Reading is one setting's current value beside its recommendation.
type Reading struct {
	Setting
	Current int64
	Hard    int64 // NOFILE only: the hard limit, which caps what the soft limit can be raised to
	Err     error // the value could not be read (Current is meaningless)
}

// OK reports whether the current value meets the recommendation.
func (r Reading) OK() bool { return r.Err == nil && r.Dir.meets(r.Current, r.Recommended) }

// Report reads every setting.
func (s *System) Report() []Reading {
	var out []Reading
	for _, set := range s.settings() {
		out = append(out, s.read(set))
	}
	return out
}

func (s *System) read(set Setting) Reading {
	r := Reading{Setting: set}
	if set.Name == NoFileName {
		soft, hard, err := s.GetNoFile()
		r.Current, r.Hard, r.Err = clamp(soft), clamp(hard), err
		return r
	}
	b, err := os.ReadFile(s.Path(set.Name))
	if err != nil {
		r.Err = explain(err, needSysctl)
		return r
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		r.Err = fmt.Errorf("%s is empty", s.Path(set.Name))
		return r
	}
	if r.Current, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		r.Err = fmt.Errorf("%s: %q is not a number", s.Path(set.Name), f[0])
	}
	return r
}

func clamp(v uint64) int64 { return int64(min(v, 1<<62)) }

// Outcome is what Apply did to one setting.
type Outcome int

const (
	Unchanged Outcome = iota // it met its recommendation already (a better value is kept)
	Changed                  // it was written and now meets it
	Refused                  // it could not be written, or only partly (NOFILE capped by the hard limit)
)

func (o Outcome) String() string {
	return [...]string{"unchanged", "changed", "refused"}[o]
}

// Result is one setting after Apply.
type Result struct {
	Reading // as read before
	Outcome Outcome
	After   int64 // the value after
	Reason  error // why it was Refused
}

// Apply writes every setting below its recommendation (NOFILE: this process's limit) and says,
// per setting, what happened. A value better than recommended is never touched.
func (s *System) Apply() []Result {
	var out []Result
	for _, set := range s.settings() {
		if set.Name == NoFileName {
			out = append(out, s.applyNoFile(set))
		} else {
			out = append(out, s.applySysctl(set))
		}
	}
	return out
}

// ApplySysctls is Apply without NOFILE, which is per process: a command that exits after
// applying has nothing to gain from raising its own.
func (s *System) ApplySysctls() []Result {
	var out []Result
	for _, set := range s.settings() {
		if set.Name != NoFileName {
			out = append(out, s.applySysctl(set))
		}
	}
	return out
}

func (s *System) applySysctl(set Setting) Result {
	r := Result{Reading: s.read(set)}
	r.After = r.Current
	switch {
	case r.Err != nil:
		r.Outcome, r.Reason = Refused, r.Err
	case r.OK():
		r.Outcome = Unchanged
	default:
		if err := s.Write(s.Path(set.Name), []byte(strconv.FormatInt(set.Recommended, 10)+"\n")); err != nil {
			r.Outcome, r.Reason = Refused, explain(err, needSysctl)
			break
		}
		// Read back: the kernel may clamp a value to its own range without an error.
		after := s.read(set)
		if after.Err != nil {
			r.Outcome, r.Reason = Refused, after.Err
			break
		}
		r.After = after.Current
		if after.OK() {
			r.Outcome = Changed
		} else {
			r.Outcome, r.Reason = Refused, fmt.Errorf("wrote %d, the kernel kept %d", set.Recommended, after.Current)
		}
	}
	return r
}

// applyNoFile raises the soft limit to the recommendation, and the hard limit with it when it is
// lower and the process may (root: CAP_SYS_RESOURCE); without that, the soft limit goes as far as
// the hard one allows and the result is Refused with the reason. Neither limit is ever lowered.
func (s *System) applyNoFile(set Setting) Result {
	r := Result{Reading: s.read(set)}
	r.After = r.Current
	if r.Err != nil {
		r.Outcome, r.Reason = Refused, r.Err
		return r
	}
	if r.OK() {
		return r
	}
	want := set.Recommended
	if r.Hard < want {
		err := s.SetNoFile(uint64(want), uint64(want))
		if err == nil {
			r.Outcome, r.After = Changed, want
			return r
		}
		r.Reason = fmt.Errorf("the hard limit %d cannot be raised: %w", r.Hard, explain(err, needRlimit))
		want = r.Hard
	}
	if want > r.Current {
		if err := s.SetNoFile(uint64(want), uint64(r.Hard)); err != nil {
			r.Outcome, r.Reason = Refused, explain(err, needRlimit)
			return r
		}
		r.After = want
	}
	if r.Reason != nil {
		r.Outcome = Refused
	} else {
		r.Outcome = Changed
	}
	return r
}

// Errors Apply explains, as their Reason wraps them (errors.Is works on the Reason).
var (
	ErrNotPermitted = errors.New("not permitted")
	ErrReadOnly     = errors.New("/proc/sys is read-only (a container): set it on the host, or with docker's --sysctl / compose sysctls when the container has its own network")
	ErrMissing      = errors.New("this kernel lacks the setting")
)

// The privilege each kind of write needs, for ErrNotPermitted's reason.
const (
	needSysctl = "root (CAP_NET_ADMIN)"
	needRlimit = "root with CAP_SYS_RESOURCE (containers drop it)"
)

// explain turns a read or write error into the reason a user can act on.
func explain(err error, need string) error {
	var why error
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: needs %s (%w)", ErrNotPermitted, need, err)
	case errors.Is(err, syscall.EROFS):
		why = ErrReadOnly
	case errors.Is(err, syscall.ENOENT):
		why = ErrMissing
	default:
		return err
	}
	return fmt.Errorf("%w (%w)", why, err)
}
