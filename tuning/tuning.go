// Package tuning reads and raises the operating-system limits a proxy holding many connections
// depends on. For now the open-file limit (RLIMIT_NOFILE); somaxconn, tcp_max_syn_backlog,
// tcp_fin_timeout and tcp_tw_reuse belong here too. It imports nothing of slotgate's.
package tuning

import (
	"fmt"
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
