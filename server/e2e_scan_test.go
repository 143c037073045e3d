package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// setMany writes keys (value "v") through cl in pipelined batches.
func setMany(t *testing.T, cl *redis.Client, keys []string) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(keys); i += 1000 {
		pipe := cl.Pipeline()
		for _, k := range keys[i:min(i+1000, len(keys))] {
			pipe.Set(ctx, k, "v", time.Hour)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// scanAll runs SCAN 0 ... args until the cursor is 0 again and returns how often each key came
// and the pages; each (if not nil) runs after every page with the cursor of the next.
func scanAll(t *testing.T, cl *redis.Client, args []any, each func(page int, cursor uint64)) (map[string]int, int) {
	t.Helper()
	return scanAlternating(t, []*redis.Client{cl}, args, each)
}

// scanAlternating is scanAll with the pages asked of each client in turn.
func scanAlternating(t *testing.T, cls []*redis.Client, args []any, each func(page int, cursor uint64)) (map[string]int, int) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]int{}
	cursor := uint64(0)
	for page := 1; ; page++ {
		r, err := cls[page%len(cls)].Do(ctx, append([]any{"SCAN", strconv.FormatUint(cursor, 10)}, args...)...).Slice()
		if err != nil {
			t.Fatalf("SCAN %d %v (page %d): %v", cursor, args, page, err)
		}
		if len(r) != 2 {
			t.Fatalf("SCAN reply %v: want [cursor, keys]", r)
		}
		cs, _ := r[0].(string)
		if cursor, err = strconv.ParseUint(cs, 10, 64); err != nil {
			t.Fatalf("SCAN cursor %q is not a uint64", cs)
		}
		keys, _ := r[1].([]any)
		for _, k := range keys {
			seen[k.(string)]++
		}
		if cursor == 0 {
			return seen, page
		}
		if page > 1_000_000 {
			t.Fatal("SCAN does not end")
		}
		if each != nil {
			each(page, cursor)
		}
	}
}

// missing lists the keys of want that seen lacks (the first few, and how many).
func missing(want []string, seen map[string]int) (int, []string) {
	n := 0
	var some []string
	for _, k := range want {
		if seen[k] == 0 {
			n++
			if len(some) < 5 {
				some = append(some, k)
			}
		}
	}
	return n, some
}

// TestE2EScan on the shared cluster: SCAN COUNT 10 returns every one of 10,000 keys on three
// masters, and so do two slotgates asked in turn; MATCH, TYPE and COUNT reach the masters and
// are honoured (a MATCH with a hash tag walks one slot); go-redis's Scan iterator goes through
// slotgate's cursors; cursors slotgate never made are "invalid cursor", a bad option is the
// node's error.
func TestE2EScan(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	prefix := "scan:" + runID()
	var keys, hashes []string
	for i := range 10_000 {
		keys = append(keys, prefix+":"+strconv.Itoa(i))
	}
	setMany(t, cl, keys)
	for i := range 50 {
		h := prefix + ":h:" + strconv.Itoa(i)
		if err := cl.HSet(ctx, h, "f", "v").Err(); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}

	t0 := time.Now()
	seen, pages := scanAll(t, cl, []any{"COUNT", "10"}, nil)
	if n, some := missing(append(keys, hashes...), seen); n > 0 {
		t.Fatalf("SCAN COUNT 10 missed %d of %d keys, e.g. %v", n, len(keys)+len(hashes), some)
	}
	t.Logf("SCAN COUNT 10: %d keys in %d pages, %v", len(seen), pages, time.Since(t0).Round(time.Millisecond))

	// Two slotgates (behind a load balancer) continue each other's scan.
	other := startProxy(t, cluster, nil).client(t, nil)
	seen, _ = scanAlternating(t, []*redis.Client{cl, other}, []any{"MATCH", prefix + ":*", "COUNT", "50"}, nil)
	if n, some := missing(append(keys, hashes...), seen); n > 0 {
		t.Fatalf("SCAN through two slotgates in turn missed %d keys, e.g. %v", n, some)
	}

	// MATCH: exactly the hashes (a key may come twice, never one that does not match).
	seen, _ = scanAll(t, cl, []any{"MATCH", prefix + ":h:*", "COUNT", "100"}, nil)
	if n, some := missing(hashes, seen); n > 0 || len(seen) != len(hashes) {
		t.Fatalf("SCAN MATCH %s:h:* = %d keys, missing %d (%v); want the %d hashes", prefix, len(seen), n, some, len(hashes))
	}
	// TYPE: the hashes among every key of the prefix.
	seen, _ = scanAll(t, cl, []any{"MATCH", prefix + ":*", "COUNT", "100", "TYPE", "hash"}, nil)
	if n, _ := missing(hashes, seen); n > 0 || len(seen) != len(hashes) {
		t.Fatalf("SCAN TYPE hash = %d keys, missing %d; want the %d hashes", len(seen), n, len(hashes))
	}
	// MATCH with a hash tag walks the tag's slot only: one master's pass, not three.
	tag := "{" + prefix + "t}"
	var tagged []string
	for i := range 300 {
		tagged = append(tagged, tag+":"+strconv.Itoa(i))
	}
	setMany(t, cl, tagged)
	seen, pinned := scanAll(t, cl, []any{"MATCH", tag + ":*", "COUNT", "10"}, nil)
	if n, some := missing(tagged, seen); n > 0 || len(seen) != len(tagged) {
		t.Fatalf("SCAN MATCH %s:* = %d keys, missing %d (%v); want the %d tagged keys", tag, len(seen), n, some, len(tagged))
	}
	seen, whole := scanAll(t, cl, []any{"MATCH", "[{]" + tag[1:] + ":*", "COUNT", "10"}, nil) // the same keys, no tag to pin
	if n, _ := missing(tagged, seen); n > 0 || len(seen) != len(tagged) || pinned*2 > whole {
		t.Fatalf("SCAN MATCH [{]...: %d keys, missing %d, in %d pages; the pinned walk took %d: want under half", len(seen), n, whole, pinned)
	}
	t.Logf("SCAN MATCH %s:* COUNT 10: %d pages; the whole walk %d", tag, pinned, whole)

	// COUNT: a larger count takes fewer pages.
	_, small := scanAll(t, cl, []any{"MATCH", prefix + ":h:*", "COUNT", "10"}, nil)
	_, large := scanAll(t, cl, []any{"MATCH", prefix + ":h:*", "COUNT", "1000"}, nil)
	if large >= small {
		t.Fatalf("SCAN COUNT 1000 took %d pages, COUNT 10 %d: want fewer", large, small)
	}

	// go-redis's iterator parses slotgate's cursors as uint64 and stops at 0.
	it := cl.Scan(ctx, 0, prefix+":*", 200).Iterator()
	got := map[string]int{}
	for it.Next(ctx) {
		got[it.Val()]++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if n, some := missing(append(keys, hashes...), got); n > 0 {
		t.Fatalf("go-redis Scan iterator missed %d keys, e.g. %v", n, some)
	}

	for _, c := range []string{"abc", "-1", "18446744073709551616", "1.5",
		strconv.FormatUint(10|5<<14|1<<28, 10)} { // a range [10..5]
		if err := cl.Do(ctx, "SCAN", c).Err(); err == nil || err.Error() != "ERR invalid cursor" {
			t.Fatalf("SCAN %s = %v; want ERR invalid cursor", c, err)
		}
	}
	if err := cl.Do(ctx, "SCAN", "0", "COUNT", "0").Err(); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("SCAN 0 COUNT 0 = %v; want the node's syntax error", err)
	}
	if err := cl.Do(ctx, "SCAN").Err(); err == nil || !strings.Contains(err.Error(), "wrong number of arguments") {
		t.Fatalf("SCAN = %v; want the arity error", err)
	}
	if r, err := cl.Do(ctx, "PING").Text(); err != nil || r != "PONG" {
		t.Fatalf("PING after the errors = %q, %v", r, err)
	}
}

// TestE2EScanTopology, on a 3+3 cluster of its own: SCAN COUNT 10 over 10,000 keys returns
// every key while, in the middle of the scan, the master being scanned fails over to its
// replica; again while 100 slots of the master being scanned move (keys and all) to another
// master; and again while a slot is half migrated when the master's pass ends (the range
// starts over at the slot, and the migration is finished then): the range starts over where its
// owner changed or its slots left or were leaving.
func TestE2EScanTopology(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	p := startProxyRouter(t, c, router.Config{})
	cl := loadClient(p.Addr, 10*time.Second)
	defer cl.Close()
	var keys []string
	for i := range 10_000 {
		keys = append(keys, "st:"+strconv.Itoa(i))
	}
	setMany(t, cl, keys)

	// Failover: once the scan is 50 pages into the second master's range.
	shards, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	second := uint64(shards[1].Slots[0][0])
	restarts0 := counter("slotgate_scan_restarts_total")
	inRange, done := 0, false
	seen, pages := scanAll(t, cl, []any{"COUNT", "10"}, func(page int, cursor uint64) {
		if done || cursor&(1<<14-1) != second {
			return
		}
		if inRange++; inRange < 50 {
			return
		}
		done = true
		t0 := time.Now()
		if err := c.Failover(shards[1].Replicas[0], ""); err != nil {
			t.Fatal(err)
		}
		t.Logf("page %d: %s failed over to %s in %v", page, shards[1].Master, shards[1].Replicas[0], time.Since(t0).Round(time.Millisecond))
		// slotgate learns the new master (a MOVED from the old one) before the next page: the
		// page goes to the new master with the old one's cursor, and only the tag tells.
		k := keyInSlot("st:probe", uint16(second))
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if err := cl.Set(context.Background(), k, "v", time.Minute).Err(); err == nil {
				if r, err := c.Client(shards[1].Replicas[0]).Get(context.Background(), k).Result(); err == nil && r == "v" {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("slotgate does not write to the new master")
			}
		}
		time.Sleep(100 * time.Millisecond)
	})
	if !done {
		t.Fatal("the scan never reached the second master's range")
	}
	if n, some := missing(keys, seen); n > 0 {
		t.Fatalf("SCAN across a failover missed %d keys, e.g. %v", n, some)
	}
	restarts := counter("slotgate_scan_restarts_total") - restarts0
	t.Logf("SCAN across a failover: %d keys in %d pages, %d ranges begun again", len(seen), pages, restarts)
	if restarts == 0 {
		t.Fatal("no range begun again across the failover")
	}

	// Resharding: 100 slots from the middle of the third master's range, with 20 more keys
	// each, move to the first master 50 pages into the third master's range.
	shards, err = c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	from, to := shards[2].Master, shards[0].Master
	third := shards[2].Slots[0]
	var moving []int
	for s := (third[0] + third[1]) / 2; len(moving) < 100; s++ {
		moving = append(moving, s)
		base := keyInSlot("st:mv", uint16(s))
		for j := range 20 {
			keys = append(keys, "{"+base+"}:"+strconv.Itoa(j))
		}
	}
	setMany(t, cl, keys[10_000:])
	restarts0 = counter("slotgate_scan_restarts_total")
	inRange, done = 0, false
	seen, pages = scanAll(t, cl, []any{"COUNT", "10"}, func(page int, cursor uint64) {
		if done || cursor&(1<<14-1) != uint64(third[0]) {
			return
		}
		if inRange++; inRange < 50 {
			return
		}
		done = true
		t0 := time.Now()
		if err := c.MoveSlots(moving, from, to); err != nil {
			t.Fatal(err)
		}
		t.Logf("page %d: slots %d-%d moved %s -> %s in %v", page, moving[0], moving[len(moving)-1], from, to, time.Since(t0).Round(time.Millisecond))
	})
	if !done {
		t.Fatal("the scan never reached the third master's range")
	}
	if n, some := missing(keys, seen); n > 0 {
		t.Fatalf("SCAN across a resharding missed %d of %d keys, e.g. %v", n, len(keys), some)
	}
	for _, k := range keys[10_000:] {
		if s := int(slot.Of([]byte(k))); s < moving[0] || s > moving[len(moving)-1] {
			t.Fatalf("key %s is in slot %d, not a moved one", k, s)
		}
	}
	restarts = counter("slotgate_scan_restarts_total") - restarts0
	t.Logf("SCAN across a resharding: %d keys in %d pages, %d ranges begun again", len(seen), pages, restarts)
	if restarts == 0 {
		t.Fatal("no range begun again across the resharding")
	}
	// A slot of the first master's range, with 20 keys, half migrated 50 pages into the range:
	// the master's pass ends while it is MIGRATING; the migration ends after the first restart.
	shards, err = c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	from, to = shards[0].Master, shards[1].Master
	mid := (shards[0].Slots[0][0] + shards[0].Slots[0][1]) / 2
	base := keyInSlot("st:half", uint16(mid))
	for j := range 20 {
		keys = append(keys, "{"+base+"}:"+strconv.Itoa(j))
	}
	setMany(t, cl, keys[len(keys)-20:])
	restarts0 = counter("slotgate_scan_restarts_total")
	inRange, step := 0, 0
	seen, pages = scanAll(t, cl, []any{"COUNT", "10"}, func(page int, cursor uint64) {
		switch {
		case step == 0 && cursor&(1<<14-1) == uint64(shards[0].Slots[0][0]):
			if inRange++; inRange < 50 {
				return
			}
			step = 1
			if err := c.BeginMigration(mid, from, to); err != nil {
				t.Fatal(err)
			}
			if n, err := c.MigrateKeys(mid, from, to, 10); err != nil || n != 10 {
				t.Fatalf("%d keys migrated, %v", n, err)
			}
			t.Logf("page %d: slot %d migrating %s -> %s, 10 of its keys moved", page, mid, from, to)
		case step == 1 && counter("slotgate_scan_restarts_total") > restarts0:
			step = 2
			if _, err := c.MigrateKeys(mid, from, to, 0); err != nil {
				t.Fatal(err)
			}
			if err := c.FinishMigration(mid, to); err != nil {
				t.Fatal(err)
			}
			t.Logf("page %d: the range began again; slot %d moved", page, mid)
		}
	})
	if step != 2 {
		t.Fatalf("step %d: the pass never ended on the migrating slot", step)
	}
	if n, some := missing(keys, seen); n > 0 {
		t.Fatalf("SCAN across a slot migration missed %d of %d keys, e.g. %v", n, len(keys), some)
	}
	restarts = counter("slotgate_scan_restarts_total") - restarts0
	t.Logf("SCAN across a slot migration: %d keys in %d pages, %d ranges begun again", len(seen), pages, restarts)
}
