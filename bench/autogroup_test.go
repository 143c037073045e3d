package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// A process in a session of its own is in another autogroup: otherGroups names it, and not a
// target in slotbench's own group. Where the kernel does not group by session there is nothing
// to tell apart, and otherGroups must say nothing.
func TestOtherGroups(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	targets := []*target{
		{Name: "own", pid: os.Getpid()},
		{Name: "apart", pid: cmd.Process.Pid},
		{Name: "direct"}, // no process: never reported
	}
	got := otherGroups(targets)
	if autogroup(os.Getpid()) == "" {
		if got != nil {
			t.Fatalf("autogroups off, got %q", got)
		}
		t.Log("kernel.sched_autogroup_enabled is not 1 here: only the quiet case is checked")
		return
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "apart (pid ") || !strings.Contains(got[0], "/autogroup-") {
		t.Fatalf("otherGroups = %q, want the process in its own session only", got)
	}
}
