package testcluster

import (
	"errors"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// Pdeathsig is delivered when the *thread* that forked the child exits, not
// the process. Go may retire OS threads, so every child is started from one
// goroutine that is locked to its thread and never returns: the thread lives
// exactly as long as the process, and the children die with it (panic, test
// timeout, SIGKILL of the test binary).

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

func spawner() {
	runtime.LockOSThread() // never unlocked: the goroutine never returns
	for r := range spawnCh {
		r.done <- r.cmd.Start()
	}
}

// StartProcess starts cmd from the dedicated spawner thread with
// Pdeathsig=SIGKILL, so the child is killed when this process dies for any
// reason. With newGroup the child also gets its own process group (a Ctrl-C
// in the terminal then does not reach it). Any SysProcAttr already set on cmd
// is kept, with Pdeathsig (and Setpgid when newGroup) forced.
func StartProcess(cmd *exec.Cmd, newGroup bool) error {
	if cmd == nil {
		return errors.New("testcluster: nil command")
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if newGroup {
		cmd.SysProcAttr.Setpgid = true
	}
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go spawner()
	})
	r := spawnReq{cmd: cmd, done: make(chan error, 1)}
	spawnCh <- r
	return <-r.done
}
