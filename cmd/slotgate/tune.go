package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"syscall"

	"github.com/slotgate/slotgate/tuning"
)

// reexecEnv marks the process slotgate re-executed itself into, so it never does it twice.
const reexecEnv = "SLOTGATE_REEXECUTED"

// somaxconnName is the sysctl gnet reads once, when its socket package initialises (before
// main): pkg/socket/tcp_socket.go `var listenerBacklogMaxSize = maxListenerBacklog()`, which
// reads /proc/sys/net/core/somaxconn (pkg/socket/sock_linux.go) and is passed to every listen(2).
// The kernel caps a listener's backlog by the value given to listen, so raising somaxconn after
// that leaves this process's listener with the old backlog.
const somaxconnName = "net.core.somaxconn"

// runTune is `slotgate tune [-apply]`: the settings, one line each, and with -apply what it
// changed and what it could not, and why. It fails when -apply left a sysctl below its
// recommendation.
func runTune(argv []string, out io.Writer, sys *tuning.System) error {
	fs := flag.NewFlagSet("slotgate tune", flag.ContinueOnError)
	fs.SetOutput(out)
	apply := fs.Bool("apply", false, "write the sysctls below their recommendation (root; not in a container with a read-only /proc/sys)")
	maxFDs := fs.Uint64("max-fds", 65535, "the open-file limit slotgate is started with (its -max-fds)")
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage is printed: asking for it is no failure
		}
		return err
	}
	sys.MaxFDs = *maxFDs
	if !*apply {
		for _, r := range sys.Report() {
			fmt.Fprintln(out, reportLine(r))
		}
		return nil
	}
	refused := 0
	for _, r := range sys.Report() {
		if r.Name == tuning.NoFileName {
			fmt.Fprintln(out, noFileApplyLine(r))
		}
	}
	for _, r := range sys.ApplySysctls() {
		if r.Outcome == tuning.Refused {
			refused++
		}
		fmt.Fprintln(out, resultLine(r))
	}
	if refused > 0 {
		return fmt.Errorf("tune: %d setting(s) left below their recommendation", refused)
	}
	return nil
}

// reportLine is one setting: its name, current value, recommendation, whether it meets it, why.
func reportLine(r tuning.Reading) string {
	cur := strconv.FormatInt(r.Current, 10)
	if r.Err != nil {
		cur = "?"
	} else if r.Name == tuning.NoFileName {
		cur += " (hard " + strconv.FormatInt(r.Hard, 10) + ")"
	}
	state := "ok"
	switch {
	case r.Err != nil:
		state = "unknown (" + r.Err.Error() + ")"
	case !r.OK():
		state = "BELOW"
	}
	return fmt.Sprintf("%-29s current %-18s recommended %s %-6d %s: %s",
		r.Name, cur, r.Dir, r.Recommended, state, r.Why)
}

// resultLine is what -apply (or -tune) did to one setting.
func resultLine(r tuning.Result) string {
	switch r.Outcome {
	case tuning.Changed:
		return fmt.Sprintf("%s: changed %d -> %d", r.Name, r.Current, r.After)
	case tuning.Unchanged:
		return fmt.Sprintf("%s: unchanged %d (meets %s %d)", r.Name, r.Current, r.Dir, r.Recommended)
	}
	what := fmt.Sprintf("stays %d", r.After)
	if r.After != r.Current {
		what = fmt.Sprintf("raised %d -> %d only", r.Current, r.After)
	} else if r.Err != nil {
		what = "not read"
	}
	return fmt.Sprintf("%s: refused, %s, recommended %s %d: %v; effect: %s", r.Name, what, r.Dir, r.Recommended, r.Reason, r.Why)
}

// noFileApplyLine: RLIMIT_NOFILE is per process, so `tune -apply` (which exits) leaves it to
// slotgate's own start and says how to raise the hard limit that caps it.
func noFileApplyLine(r tuning.Reading) string {
	if r.OK() {
		return fmt.Sprintf("%s: unchanged %d (meets %s %d)", r.Name, r.Current, r.Dir, r.Recommended)
	}
	return fmt.Sprintf("%s: per process: slotgate raises its soft limit toward -max-fds %d at each start, capped by the hard limit %d "+
		"(-tune raises the hard one too, as root); raise it with ulimit -n %d, compose ulimits nofile, or systemd LimitNOFILE",
		r.Name, r.Recommended, r.Hard, r.Recommended)
}

// startTuning runs at every start: with apply (-tune) it writes the settings below their
// recommendation and logs what it changed or could not; without, it logs each setting below its
// recommendation with its effect. One line per setting, and only those worth a line. It says
// whether somaxconn was raised, which gnet's listener only sees after a re-exec.
func startTuning(sys *tuning.System, apply bool, log *slog.Logger) (raisedSomaxconn bool) {
	if apply {
		for _, r := range sys.Apply() {
			switch r.Outcome {
			case tuning.Changed:
				log.Info("tune: setting changed", "setting", r.Name, "result", resultLine(r))
				raisedSomaxconn = raisedSomaxconn || r.Name == somaxconnName
			case tuning.Refused:
				log.Warn("tune: setting refused", "setting", r.Name, "result", resultLine(r))
			}
		}
		return raisedSomaxconn
	}
	for _, r := range sys.Report() {
		switch {
		case r.Err != nil && !errors.Is(r.Err, tuning.ErrMissing):
			log.Warn("tune: setting unreadable", "setting", r.Name, "err", r.Err)
		case r.Err == nil && !r.OK():
			how := "slotgate -tune or `slotgate tune -apply` as root sets it"
			if r.Name == tuning.NoFileName {
				how = fmt.Sprintf("the hard limit %d caps it: ulimit -n, compose ulimits nofile, systemd LimitNOFILE", r.Hard)
			}
			log.Warn("tune: setting below its recommendation", "setting", r.Name, "current", r.Current,
				"recommended", fmt.Sprintf("%s %d", r.Dir, r.Recommended), "why", r.Why, "how", how)
		}
	}
	return false
}

// shouldReexec decides the one re-exec: somaxconn was raised by this start and this process is
// not already the re-executed one.
func shouldReexec(raisedSomaxconn bool, getenv func(string) string) bool {
	return raisedSomaxconn && getenv(reexecEnv) == ""
}

// reexec replaces this process with a fresh start of the same binary and arguments, marked so
// it does not do it again. It returns only on failure.
func reexec() error {
	env := append(os.Environ(), reexecEnv+"=1")
	return syscall.Exec("/proc/self/exe", os.Args, env)
}
