package server_test

import (
	"os/exec"
	"strings"
	"testing"
)

// pubsubPy drives redis-py's pubsub() through slotgate: subscribe, messages, psubscribe (pattern
// messages), unsubscribe; it prints OK or raises.
const pubsubPy = `
import sys, time, redis
host, port = sys.argv[1].rsplit(":", 1)
r = redis.Redis(host=host, port=int(port), socket_timeout=10)
p = r.pubsub()
p.subscribe("py:news")
m = p.get_message(timeout=5)
assert m and m["type"] == "subscribe" and m["channel"] == b"py:news" and m["data"] == 1, m
p.psubscribe("py:n*")
m = p.get_message(timeout=5)
assert m and m["type"] == "psubscribe" and m["data"] == 2, m

# Both upstream subscriptions are in place once a probe comes back as message and as pmessage.
seen = set()
deadline = time.time() + 10
while seen != {"message", "pmessage"}:
    assert time.time() < deadline, seen
    r.publish("py:news", "probe")
    m = p.get_message(timeout=0.05)
    while m:
        seen.add(m["type"])
        m = p.get_message(timeout=0.05)
assert r.publish("py:news", "a") >= 1
r.publish("py:news", "b")
got = []
deadline = time.time() + 10
while len(got) < 4 and time.time() < deadline:
    m = p.get_message(timeout=1)
    if m and m["data"] != b"probe":
        got.append((m["type"], m["channel"], m["data"]))
assert sorted(got) == [("message", b"py:news", b"a"), ("message", b"py:news", b"b"),
                       ("pmessage", b"py:news", b"a"), ("pmessage", b"py:news", b"b")], got
p.unsubscribe("py:news")
m = p.get_message(timeout=5)
while m and m["type"] != "unsubscribe":
    m = p.get_message(timeout=5)
assert m and m["type"] == "unsubscribe" and m["data"] == 1, m
p.punsubscribe()
m = p.get_message(timeout=5)
while m and m["type"] != "punsubscribe":
    m = p.get_message(timeout=5)
assert m and m["type"] == "punsubscribe" and m["data"] == 0, m
assert r.ping()
p.close()
print("OK")
`

// TestE2EPubsubRedisPy: redis-py's pubsub() through slotgate (Debian's python3-redis).
func TestE2EPubsubRedisPy(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import redis").Run(); err != nil {
		t.Skip("redis-py is not importable by /usr/bin/python3 (apt-get install python3-redis): skipping")
	}
	p := startProxy(t, cluster, nil)
	out, err := exec.Command("/usr/bin/python3", "-c", pubsubPy, p.Addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("redis-py: %v\n%s", err, out)
	}
}
