package server_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pythonRedis returns a Python interpreter that can import redis-py (Debian's python3-redis),
// or skips the test saying how to get one.
func pythonRedis(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import redis").Run() == nil {
			return py
		}
	}
	t.Skip("redis-py is not installed (apt-get install python3-redis): skipping the redis-py scenarios")
	return ""
}

// runPython runs script with the proxy's address in SLOTGATE_ADDR and fails on a non-zero exit.
func runPython(t *testing.T, py, addr, script string) string {
	t.Helper()
	cmd := exec.Command(py, "-c", script)
	cmd.Env = append(os.Environ(), "SLOTGATE_ADDR="+addr)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("redis-py script did not finish in 60 s:\n%s", out)
	}
	if err != nil {
		t.Fatalf("redis-py script: %v\n%s", err, out)
	}
	return string(out)
}

// TestE2ERedisPyTransactionsAndBlocking: redis-py's pipeline(transaction=True), WATCH with
// another client's write, and blpop (blocking, then served by a push from another client)
// through slotgate.
func TestE2ERedisPyTransactionsAndBlocking(t *testing.T) {
	py := pythonRedis(t)
	p := startProxy(t, cluster, nil)
	out := runPython(t, py, p.Addr, `
import os, threading, time, redis
host, port = os.environ["SLOTGATE_ADDR"].rsplit(":", 1)
r = redis.Redis(host=host, port=int(port), decode_responses=True)
other = redis.Redis(host=host, port=int(port), decode_responses=True)
run = str(time.time_ns())

# Transactions on keys of many slots (every master gets some).
for i in range(30):
    k = "{py:%s:%d}" % (run, i)
    pipe = r.pipeline(transaction=True)
    pipe.set(k, "v").incr(k + ":n").get(k)
    assert pipe.execute() == [True, 1, "v"], k

# WATCH: succeeds untouched, fails after another client's write.
k = "py:%s:watched" % run
r.set(k, 1)
with r.pipeline() as pipe:
    pipe.watch(k)
    v = int(pipe.get(k))
    pipe.multi()
    pipe.set(k, v + 1)
    assert pipe.execute() == [True]
assert r.get(k) == "2"
with r.pipeline() as pipe:
    pipe.watch(k)
    other.set(k, 100)
    pipe.multi()
    pipe.set(k, 3)
    try:
        pipe.execute()
        raise SystemExit("WATCH did not abort the transaction")
    except redis.WatchError:
        pass
assert r.get(k) == "100"

# blpop: times out with None, then gets an element pushed while it waits.
q = "py:%s:queue" % run
t0 = time.time()
assert r.blpop(q, timeout=1) is None
assert time.time() - t0 >= 0.9
threading.Timer(0.3, lambda: other.rpush(q, "job")).start()
v = r.blpop(q, timeout=5)
assert v is not None and tuple(v) == (q, "job"), v
print("redis-py ok")
`)
	if !strings.Contains(out, "redis-py ok") {
		t.Fatalf("redis-py script output: %s", out)
	}
}
