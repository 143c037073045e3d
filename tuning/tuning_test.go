package tuning

import (
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
