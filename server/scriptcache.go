package server

import (
	"crypto/sha1"
	"encoding/hex"
	"sync"
	"sync/atomic"

	"github.com/slotgate/slotgate/codec"
)

// scriptCache keeps the bodies of the scripts clients loaded through slotgate (SCRIPT LOAD),
// keyed by sha1, so that an EVALSHA answered NOSCRIPT (a master that never had the script: a
// replica promoted by a failover, a master added later, a restart) can be reloaded on that node
// and retried. Bounded in entries (-script-cache) and bytes (maxScriptCacheBytes), least recently
// used first out; an EVALSHA of a cached script counts as a use. Shared by every loop: one mutex,
// taken once per EVALSHA (a map lookup by a fixed-size key: no allocation).
//
// EVAL bodies are not cached: that would cost a sha1 of every EVAL body on the request path, and
// clients that send EVAL have the body anyway (go-redis's Script.Run, for one, falls back from
// EVALSHA to EVAL on NOSCRIPT).
type scriptCache struct {
	mu       sync.Mutex
	max      int // entries
	maxBytes int // bytes of bodies
	bytes    int
	m        map[shaKey]*scriptEntry
	lru      scriptEntry   // sentinel: lru.next is the most recently used
	flushes  atomic.Uint64 // SCRIPT FLUSH through slotgate: each loop's record of loaded scripts starts afresh
}

// shaKey is a sha1 in lower-case hex, as Redis names scripts.
type shaKey [40]byte

type scriptEntry struct {
	sha        shaKey
	body       []byte
	prev, next *scriptEntry
}

// maxScriptCacheBytes bounds the bodies kept, whatever -script-cache says.
const maxScriptCacheBytes = 64 << 20

// DefaultScriptCache is the number of scripts kept for reloading when Config.ScriptCache is 0.
const DefaultScriptCache = 1024

func newScriptCache(max int) *scriptCache {
	c := &scriptCache{max: max, maxBytes: maxScriptCacheBytes, m: map[shaKey]*scriptEntry{}}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// parseSha returns b (a client's sha1 argument) as a key: Redis accepts it in any case.
func parseSha(b []byte) (k shaKey, ok bool) {
	if len(b) != len(k) {
		return k, false
	}
	for i, ch := range b {
		switch {
		case ch >= '0' && ch <= '9', ch >= 'a' && ch <= 'f':
		case ch >= 'A' && ch <= 'F':
			ch += 'a' - 'A'
		default:
			return k, false
		}
		k[i] = ch
	}
	return k, true
}

func shaOf(body []byte) (k shaKey) {
	sum := sha1.Sum(body)
	hex.Encode(k[:], sum[:])
	return k
}

// add keeps a copy of body (a script a client loaded) and returns its sha.
func (c *scriptCache) add(body []byte) shaKey {
	k := shaOf(body)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 || len(body) > c.maxBytes {
		return k
	}
	if e := c.m[k]; e != nil {
		c.unlink(e)
		c.pushFront(e)
		return k
	}
	e := &scriptEntry{sha: k, body: append([]byte(nil), body...)}
	c.m[k] = e
	c.pushFront(e)
	c.bytes += len(body)
	scriptCacheScripts.Inc()
	for len(c.m) > c.max || c.bytes > c.maxBytes {
		c.remove(c.lru.prev)
	}
	return k
}

// has reports whether sha is cached, and marks it used.
func (c *scriptCache) has(k shaKey) bool {
	c.mu.Lock()
	e := c.m[k]
	if e != nil && c.lru.next != e {
		c.unlink(e)
		c.pushFront(e)
	}
	c.mu.Unlock()
	return e != nil
}

// appendLoad appends the request SCRIPT LOAD <body> of script k; false if it is not cached.
func (c *scriptCache) appendLoad(dst []byte, k shaKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil {
		return dst, false
	}
	dst = codec.AppendArrayLen(dst, 3)
	dst = codec.AppendBulkString(dst, "SCRIPT")
	dst = codec.AppendBulkString(dst, "LOAD")
	return codec.AppendBulk(dst, e.body), true
}

// flush forgets every script (SCRIPT FLUSH through slotgate: an EVALSHA must then fail as it
// would on Redis, not bring the script back).
func (c *scriptCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushes.Add(1)
	for c.lru.next != &c.lru {
		c.remove(c.lru.next)
	}
}

// len is the number of scripts kept.
func (c *scriptCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// resize changes how many scripts are kept (a reload of -script-cache; 0 or less: none), the
// least recently used going first.
func (c *scriptCache) resize(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = n
	for len(c.m) > max(n, 0) {
		c.remove(c.lru.prev)
	}
}

func (c *scriptCache) remove(e *scriptEntry) {
	c.unlink(e)
	delete(c.m, e.sha)
	c.bytes -= len(e.body)
	scriptCacheScripts.Dec()
}

func (c *scriptCache) unlink(e *scriptEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *scriptCache) pushFront(e *scriptEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}
