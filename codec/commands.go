package codec

//go:generate go run ./internal/gencommands

import "encoding/binary"

// Flag is a set of Redis command flags (the "flags" of COMMAND INFO), one bit per flag.
type Flag uint32

// Command flags, named after Redis's.
const (
	FlagWrite           Flag = 1 << iota // write
	FlagReadonly                         // readonly
	FlagDenyOOM                          // denyoom
	FlagModule                           // module
	FlagAdmin                            // admin
	FlagPubsub                           // pubsub
	FlagNoscript                         // noscript
	FlagBlocking                         // blocking
	FlagLoading                          // loading
	FlagStale                            // stale
	FlagSkipMonitor                      // skip_monitor
	FlagSkipSlowlog                      // skip_slowlog
	FlagAsking                           // asking
	FlagFast                             // fast
	FlagNoAuth                           // no_auth
	FlagMayReplicate                     // may_replicate
	FlagSentinel                         // sentinel
	FlagOnlySentinel                     // only_sentinel
	FlagNoMandatoryKeys                  // no_mandatory_keys
	FlagProtected                        // protected
	FlagNoAsyncLoading                   // no_async_loading
	FlagNoMulti                          // no_multi
	FlagMovableKeys                      // movablekeys
	FlagAllowBusy                        // allow_busy
)

// FlagNames maps each Flag bit (by bit index) to Redis's name for it.
var FlagNames = [...]string{
	"write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking", "loading",
	"stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth", "may_replicate", "sentinel",
	"only_sentinel", "no_mandatory_keys", "protected", "no_async_loading", "no_multi", "movablekeys",
	"allow_busy",
}

// KeyFlag is a set of key-spec flags.
type KeyFlag uint16

// Key-spec flags, named after Redis's (src/server.h CMD_KEY_*).
const (
	KeyRO            KeyFlag = 1 << iota // RO: read only
	KeyRW                                // RW: read-write
	KeyOW                                // OW: overwrite
	KeyRM                                // RM: removes the key
	KeyAccess                            // access: returns, copies or uses user data
	KeyUpdate                            // update: updates data
	KeyInsert                            // insert: adds data, doesn't modify or delete
	KeyDelete                            // delete: deletes data
	KeyNotKey                            // not_key: not a key (e.g. a channel), but may need routing
	KeyIncomplete                        // incomplete: the spec may not find every key
	KeyVariableFlags                     // variable_flags: the flags depend on the arguments
)

// KeyFlagNames maps each KeyFlag bit (by bit index) to Redis's name for it.
var KeyFlagNames = [...]string{
	"RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key", "incomplete", "variable_flags",
}

// BeginSearch is how a key spec finds its first key.
type BeginSearch uint8

// Begin-search kinds.
const (
	SearchUnknown BeginSearch = iota // "unknown": no way to find the keys from the spec
	SearchIndex                      // "index": the first key is at Index
	SearchKeyword                    // "keyword": the first key follows Keyword, searched from StartFrom
)

// FindKeys is how a key spec finds its keys from the first.
type FindKeys uint8

// Find-keys kinds.
const (
	FindUnknown FindKeys = iota // "unknown"
	FindRange                   // "range": LastKey, KeyStep, Limit
	FindKeynum                  // "keynum": KeynumIdx, FirstKey, KeyStep
)

// KeySpec is one Redis 7 key specification.
type KeySpec struct {
	Flags       KeyFlag
	Notes       string
	BeginSearch BeginSearch
	Index       int    // SearchIndex: position of the first key
	Keyword     string // SearchKeyword: the keyword (upper case as Redis gives it)
	StartFrom   int    // SearchKeyword: where the search starts (<0: from the end, backwards)
	FindKeys    FindKeys
	LastKey     int // FindRange: last key relative to the first (<0: from the end)
	KeyStep     int // FindRange, FindKeynum: distance between keys
	Limit       int // FindRange with LastKey -1: stop after 1/Limit of the remaining args
	KeynumIdx   int // FindKeynum: position of numkeys relative to the first
	FirstKey    int // FindKeynum: position of the first key relative to the first
}

// Command is one entry of the command table, generated from a Redis server's COMMAND and
// COMMAND DOCS replies. Commands are read only: never modify one.
type Command struct {
	ID                      int    // index in AllCommands (and in Commands for a top-level command); LearntID for a learnt one
	Name                    string // lower case; for a subcommand "config|get"
	Arity                   int    // Redis arity: >0 exact, <0 minimum (|arity|); counts the name (and subcommand)
	Flags                   Flag
	FirstKey, LastKey, Step int // legacy key positions
	KeySpecs                []KeySpec
	ACLCategories           []string   // e.g. "@read", "@fast"
	Tips                    []string   // e.g. "request_policy:all_shards", "nondeterministic_output"
	Subcommands             []*Command // for container commands (CONFIG, CLIENT, ...), sorted by name
	Parent                  *Command   // for a subcommand, its container command
	Module                  string     // learnt commands: the module of a module command (COMMAND DOCS "module")
	Unknown                 []string   // learnt commands: flags or key-spec kinds this codec does not know
	Info2, Info3            string     // this command's raw entry in the COMMAND / COMMAND INFO reply (RESP2 / RESP3)
	Docs2, Docs3            string     // this command's raw name + docs pair in the COMMAND DOCS reply (RESP2 / RESP3)

	hidden bool     // HideForTest
	proc   keysProc // Redis's getkeys_proc for this command, if it has one (used when the specs can't tell)
}

// lower maps ASCII upper case letters to lower case and every other byte to itself.
var lower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// EqualFold reports whether b equals the lower-case name s, ignoring ASCII case, without
// allocating: for matching command names, subcommands and keywords.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower[b[i]] != s[i] {
			return false
		}
	}
	return true
}

// lookupBits sizes the open-addressing table for top-level commands (at least 4x their number).
const lookupBits = 10

// lookupTable holds 1+index into Commands, 0 for an empty slot; built once at init.
var lookupTable [1 << lookupBits]uint16

// nameHash hashes a name's length and its first 8 bytes with bit 5 set in each (lower case for
// letters; Lookup then compares every byte), without a loop over the bytes when the slice's
// capacity reaches 8: a name in a request buffer is followed by the rest of the request. An
// FNV loop over the lower-cased bytes was 6 % of slotgate's user CPU at GET P=16.
func nameHash(b []byte) uint32 {
	var w uint64
	switch n := len(b); {
	case n >= 8:
		w = binary.LittleEndian.Uint64(b)
	case cap(b) >= 8:
		w = binary.LittleEndian.Uint64(b[:8]) & (1<<(8*uint(n)) - 1)
	default:
		for i := n - 1; i >= 0; i-- {
			w = w<<8 | uint64(b[i])
		}
	}
	w = (w|0x2020202020202020)*0x9E3779B97F4A7C15 + uint64(len(b))
	return uint32((w * 0x9E3779B97F4A7C15) >> (64 - lookupBits))
}

func init() {
	if len(Commands)*4 > len(lookupTable) {
		panic("codec: lookupBits too small for the command table")
	}
	buildLookup()
	for _, c := range AllCommands {
		c.proc = procs[c.Name]
	}
}

// HideForTest removes the top-level commands names from Lookup (Hidden reports them), so that
// a test can watch them learnt from a server; HideForTest() shows every command again. Call it
// only while nothing looks commands up (init, TestMain): the table is read without locks.
func HideForTest(names ...string) {
	for _, c := range Commands {
		c.hidden = false
	}
	buildLookup()
	for _, n := range names {
		if c := Lookup([]byte(n)); c != nil {
			c.hidden = true
		}
	}
	buildLookup()
}

// buildLookup fills lookupTable with the commands not hidden.
func buildLookup() {
	clear(lookupTable[:])
	for i, c := range Commands {
		if c.hidden {
			continue
		}
		h := nameHash([]byte(c.Name)) & (1<<lookupBits - 1)
		for lookupTable[h] != 0 {
			h = (h + 1) & (1<<lookupBits - 1)
		}
		lookupTable[h] = uint16(i + 1)
	}
}

// Hidden reports a command removed by HideForTest.
func (c *Command) Hidden() bool { return c.hidden }

// Lookup finds a top-level command by name, ignoring ASCII case, without allocating; nil if none.
func Lookup(name []byte) *Command {
	h := nameHash(name) & (1<<lookupBits - 1)
	for {
		i := lookupTable[h]
		if i == 0 {
			return nil
		}
		if c := Commands[i-1]; EqualFold(name, c.Name) {
			return c
		}
		h = (h + 1) & (1<<lookupBits - 1)
	}
}

// Sub finds the subcommand name of c ("config", "get" -> "config|get"), ignoring ASCII case,
// without allocating; nil if none.
func (c *Command) Sub(name []byte) *Command {
	n := len(c.Name) + 1
	for _, s := range c.Subcommands {
		if len(s.Name) == n+len(name) && EqualFold(name, s.Name[n:]) {
			return s
		}
	}
	return nil
}

// CheckArity reports whether a request of nargs arguments (the command name, and for a
// subcommand its name, included) is allowed.
func (c *Command) CheckArity(nargs int) bool {
	if c.Arity >= 0 {
		return nargs == c.Arity
	}
	return nargs >= -c.Arity
}

// Has reports whether every flag in f is set.
func (c *Command) Has(f Flag) bool { return c.Flags&f == f }

// LookupArgs finds the command of a request: Lookup(args[0]) and, for a container command
// (CONFIG, CLIENT, ...) whose args[1] names one of its subcommands, that subcommand. It returns
// the container itself when args[1] is missing or unknown (its arity then refuses a missing
// subcommand), and nil for an unknown command. No allocation.
func LookupArgs(args [][]byte) *Command {
	if len(args) == 0 {
		return nil
	}
	c := Lookup(args[0])
	if c != nil && len(c.Subcommands) > 0 && len(args) > 1 {
		if s := c.Sub(args[1]); s != nil {
			return s
		}
	}
	return c
}
