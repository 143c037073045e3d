package server

import (
	"strings"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
)

//go:generate go run ../internal/cmd/commandsdoc -o ../docs/commands.md

// How slotgate handles each command of the table, for docs/commands.md and the test that runs
// every row through slotgate (e2e_commands_test.go). The class comes from the classifier
// (classes, subClass) and the refusal texts from the functions that write them; the routes of
// subcommands that handlers pick by name (CLIENT, CLUSTER, COMMAND, CONFIG, PUBSUB, SCRIPT,
// FUNCTION, SLOWLOG, LATENCY and the keyspace commands) are restated in subRoutes and
// topRoutes below: the e2e test fails when a handler and its row disagree.

// Class names as docs/commands.md shows them.
const (
	ClassLocal     = "local"       // answered by slotgate itself
	ClassSingle    = "single-slot" // forwarded on the shared pipeline of one slot's master
	ClassSplit     = "split"       // one part per slot on the shared pipelines, merged
	ClassBroadcast = "broadcast"   // to every master serving slots, merged
	ClassOneMaster = "one-master"  // keyless, to one master chosen deterministically
	ClassPinned    = "pinned"      // connection state: a dedicated connection or a multiplexed subscription
	ClassRefused   = "refused"     // a clear error
	ClassContainer = "container"   // needs a subcommand: its rows follow it
)

// CommandClass is one command of the table as slotgate handles it.
type CommandClass struct {
	Cmd   *codec.Command
	Class string
	Note  string // for ClassRefused: the error text the client gets (without the '-')
}

// CommandClasses lists every command of the table, each container followed by its
// subcommands, in table order.
func CommandClasses() []CommandClass {
	var out []CommandClass
	for _, c := range codec.Commands {
		out = append(out, describe(c))
		for _, sub := range c.Subcommands {
			out = append(out, describe(sub))
		}
	}
	return out
}

type route struct{ class, note string }

// topRoutes are the top-level commands whose handler routes them by name.
var topRoutes = map[string]route{
	"ping":      {ClassLocal, "PONG, or the argument; [\"pong\", arg] to a RESP2 subscriber"},
	"echo":      {ClassLocal, ""},
	"quit":      {ClassLocal, "OK, then the connection closes after the replies before it"},
	"select":    {ClassLocal, "0 only: a cluster has one database"},
	"command":   {ClassLocal, "from the generated command table (Redis " + RedisVersion + "), plus the commands learnt from the masters' COMMAND (modules, newer Redis) that route by key specs"},
	"hello":     {ClassLocal, "2 or 3: the protocol picks the client's pipelines (RESP3 ones dialled with HELLO 3); AUTH and SETNAME options; mode cluster"},
	"auth":      {ClassLocal, "checked against slotgate's -password; any password without one"},
	"reset":     {ClassLocal, "ends subscriptions, transaction, name, CLIENT REPLY state"},
	"readonly":  {ClassLocal, "OK: slotgate's -read-from decides replica reads"},
	"readwrite": {ClassLocal, "OK: slotgate's -read-from decides replica reads"},
	"time":      {ClassLocal, "slotgate's clock (inside MULTI the transaction's node answers)"},
	"role":      {ClassLocal, "a master with no replicas, as INFO replication says"},
	"asking":    {ClassLocal, "OK, no effect: slotgate follows ASK itself"},
	"lolwut":    {ClassOneMaster, "the master of slot 0"},

	"mget":   {ClassSplit, "per-slot parts; values back in the original key order"},
	"mset":   {ClassSplit, "per-slot parts; OK when every part said OK (not atomic across slots)"},
	"del":    {ClassSplit, "per-slot parts; the counts added"},
	"unlink": {ClassSplit, "per-slot parts; the counts added"},
	"exists": {ClassSplit, "per-slot parts; the counts added"},
	"touch":  {ClassSplit, "per-slot parts; the counts added"},

	"multi":   {ClassPinned, "answered here; the transaction goes on a dedicated connection to the node of its first key"},
	"exec":    {ClassPinned, "on the transaction's dedicated connection"},
	"discard": {ClassPinned, "on the transaction's dedicated connection"},
	"watch":   {ClassPinned, "pins the client to the keys' node (a dedicated connection) until EXEC, DISCARD or UNWATCH"},
	"unwatch": {ClassPinned, "on the WATCH's dedicated connection; releases it"},

	"publish":      {ClassSingle, "to the master of the channel's slot"},
	"spublish":     {ClassSingle, "to the master of the channel's slot"},
	"subscribe":    {ClassPinned, "multiplexed on the loop's subscriber connection to the channel's node (every master for keyspace events); counts are the client's own"},
	"psubscribe":   {ClassPinned, "multiplexed on the loop's subscriber connection to the node of the pattern's slot (every master for keyspace events)"},
	"ssubscribe":   {ClassPinned, "multiplexed on the loop's subscriber connection to the slot's owner, following it across migration"},
	"unsubscribe":  {ClassPinned, "answered with the client's own counts"},
	"punsubscribe": {ClassPinned, "answered with the client's own counts"},
	"sunsubscribe": {ClassPinned, "answered with the client's own counts"},

	"dbsize":    {ClassBroadcast, "the sum (a read: replicas with -read-from)"},
	"keys":      {ClassBroadcast, "the arrays concatenated in slot order; capped by -max-merge-bytes"},
	"randomkey": {ClassBroadcast, "the first key to arrive; null when every master is empty"},
	"flushall":  {ClassBroadcast, "OK when every master said OK, else the first error (not atomic)"},
	"flushdb":   {ClassBroadcast, "OK when every master said OK, else the first error (not atomic)"},
	"lastsave":  {ClassBroadcast, "the oldest"},
	"scan":      {ClassOneMaster, "one master's page at a time: a stateless cursor of slot range, owner epoch and node cursor; every key present for the whole scan returned, through failover and resharding"},
	"info":      {ClassBroadcast, "merged as one Redis's: counters and keyspace added, lowest version, slotgate's own process, clients and Proxy sections"},
}

// subRoutes are the subcommands whose container's handler routes them by name. A subcommand of
// CLIENT, CLUSTER, COMMAND, CONFIG, SCRIPT, FUNCTION, SLOWLOG or LATENCY missing here is refused.
var subRoutes = map[string]route{
	"client|setname":  {ClassLocal, "kept by slotgate (CLIENT GETNAME, HELLO)"},
	"client|getname":  {ClassLocal, ""},
	"client|id":       {ClassLocal, "slotgate's id of the connection"},
	"client|no-evict": {ClassLocal, "accepted, no effect: the nodes never see slotgate's clients"},
	"client|reply":    {ClassLocal, "ON|OFF|SKIP: replies dropped by slotgate, never at the backend"},
	"client|list":     {ClassLocal, "slotgate's own clients, every event loop's, in Redis's format; TYPE and ID filters"},
	"client|info":     {ClassLocal, "this client's line, in Redis's format"},
	"client|kill":     {ClassLocal, "slotgate's own clients: ID, ADDR, LADDR, TYPE, USER, SKIPME, MAXAGE and the old ADDR form"},

	"cluster|keyslot":         {ClassLocal, ""},
	"cluster|myid":            {ClassLocal, "an id derived from the announced address"},
	"cluster|slots":           {ClassLocal, "one node (slotgate) owning every slot"},
	"cluster|shards":          {ClassLocal, "one node (slotgate) owning every slot"},
	"cluster|nodes":           {ClassLocal, "one node (slotgate) owning every slot"},
	"cluster|info":            {ClassLocal, "a healthy one-node cluster"},
	"cluster|countkeysinslot": {ClassSingle, "to the owner of the slot named"},
	"cluster|getkeysinslot":   {ClassSingle, "to the owner of the slot named"},

	"command|count":           {ClassLocal, "from the generated command table"},
	"command|docs":            {ClassLocal, "from the generated command table"},
	"command|getkeys":         {ClassLocal, "from the generated command table's key specs"},
	"command|getkeysandflags": {ClassLocal, "from the key specs: each key with its flags (RW, access, update...)"},
	"command|help":            {ClassLocal, ""},
	"command|info":            {ClassLocal, "from the generated command table"},
	"command|list":            {ClassLocal, "from the generated command table"},

	"acl|whoami":  {ClassLocal, "default: the user slotgate's clients are"},
	"acl|cat":     {ClassOneMaster, "the master of slot 0 (the same on every node)"},
	"acl|genpass": {ClassOneMaster, "the master of slot 0"},

	"config|help": {ClassOneMaster, "the master of slot 0 (static text)"},
	"config|get":  {ClassOneMaster, "any master (they agree); secret values (passwords) removed"},

	"pubsub|channels":      {ClassBroadcast, "the names, each once"},
	"pubsub|shardchannels": {ClassBroadcast, "the names, each once"},
	"pubsub|numsub":        {ClassBroadcast, "counts added per channel"},
	"pubsub|shardnumsub":   {ClassBroadcast, "counts added per channel"},
	"pubsub|numpat":        {ClassBroadcast, "the sum"},
	"pubsub|help":          {ClassOneMaster, ""},

	"script|load":      {ClassBroadcast, "the sha when every master agrees; kept by slotgate to reload after NOSCRIPT"},
	"script|exists":    {ClassBroadcast, "1 only where every master has the script"},
	"script|flush":     {ClassBroadcast, "OK when every master agrees; slotgate forgets its kept scripts"},
	"script|kill":      {ClassBroadcast, "on connections of its own; OK when any master killed one, else NOTBUSY"},
	"script|help":      {ClassOneMaster, "the master of slot 0"},
	"function|load":    {ClassBroadcast, "the library name when every master agrees (not atomic)"},
	"function|delete":  {ClassBroadcast, "the reply when every master agrees (not atomic)"},
	"function|restore": {ClassBroadcast, "the reply when every master agrees (not atomic)"},
	"function|flush":   {ClassBroadcast, "OK when every master agrees"},
	"function|kill":    {ClassBroadcast, "on connections of its own; OK when any master killed one, else NOTBUSY"},
	"function|list":    {ClassOneMaster, "the master of slot 0"},
	"function|dump":    {ClassOneMaster, "the master of slot 0"},
	"function|stats":   {ClassOneMaster, "the master of slot 0 (its running script only)"},
	"function|help":    {ClassOneMaster, "the master of slot 0"},

	"slowlog|get":         {ClassBroadcast, "every master's entries, newest first, at most count"},
	"slowlog|len":         {ClassBroadcast, "the sum"},
	"slowlog|reset":       {ClassBroadcast, "OK when every master said OK"},
	"slowlog|help":        {ClassOneMaster, "the master of slot 0"},
	"latency|latest":      {ClassBroadcast, "every master's events concatenated"},
	"latency|history":     {ClassBroadcast, "every master's samples concatenated"},
	"latency|reset":       {ClassBroadcast, "the sum"},
	"latency|doctor":      {ClassBroadcast, "each master's text after a HOST:PORT: line"},
	"latency|graph":       {ClassBroadcast, "each master's text after a HOST:PORT: line"},
	"latency|histogram":   {ClassBroadcast, "a map of each master's address to its reply"},
	"memory|stats":        {ClassBroadcast, "a map of each master's address to its reply (INFO memory has the totals)"},
	"memory|doctor":       {ClassBroadcast, "each master's text after a HOST:PORT: line"},
	"memory|malloc-stats": {ClassBroadcast, "each master's text after a HOST:PORT: line"},
	"memory|purge":        {ClassBroadcast, "OK when every master said OK"},
	"latency|help":        {ClassOneMaster, "the master of slot 0"},
}

// describe says how slotgate handles cmd.
func describe(cmd *codec.Command) CommandClass {
	cc := CommandClass{Cmd: cmd}
	refused := func(b []byte) CommandClass {
		cc.Class, cc.Note = ClassRefused, strings.TrimSuffix(string(b[1:]), "\r\n")
		return cc
	}
	if cmd.Parent == nil {
		if len(cmd.Subcommands) > 0 && !cmd.CheckArity(1) {
			cc.Class, cc.Note = ClassContainer, "see its subcommands"
			return cc
		}
		if r, ok := topRoutes[cmd.Name]; ok && classes[cmd.ID] != classRefused {
			if !compatible(r.class, classes[cmd.ID]) {
				panic("server: topRoutes says " + r.class + " for " + cmd.Name + ", the classifier disagrees")
			}
			cc.Class, cc.Note = r.class, r.note
			return cc
		}
		switch classes[cmd.ID] {
		case classRefused:
			return refused(errRefused(nil, cmd))
		case classSingle:
			cc.Class, cc.Note = singleNote(cmd)
			return cc
		}
		panic("server: no route for " + cmd.Name + ": add it to topRoutes") // caught by TestCommandClasses
	}
	if r, ok := subRoutes[cmd.Name]; ok {
		cc.Class, cc.Note = r.class, r.note
		return cc
	}
	sub := strings.ToUpper(cmd.Name[len(cmd.Parent.Name)+1:])
	switch cmd.Parent.Name {
	case "client":
		switch cmd.Name {
		case "client|tracking", "client|caching", "client|getredir", "client|trackinginfo":
			return refused(errClientTracking(nil, sub))
		case "client|help":
			cc.Class, cc.Note = ClassOneMaster, "the master of slot 0 (static text)"
			return cc
		}
		if why := refusalReason(cmd); why != "" {
			return refused(errRefusedForGood(nil, cmd, why))
		}
		return refused(errClientUnsupported(nil, sub))
	case "cluster":
		return refused(errClusterUnsupported(nil, sub))
	case "command":
		return refused(errUnknownSubcommand(nil, "command", []byte(sub)))
	case "config":
		if why := refusalReason(cmd); why != "" {
			return refused(errRefusedForGood(nil, cmd, why))
		}
		return refused(errConfigUnsupported(nil, sub))
	case "script":
		if cmd.Name == "script|debug" {
			return refused(errScriptDebug(nil))
		}
	}
	if isHelp(cmd) {
		cc.Class, cc.Note = ClassOneMaster, "the master of slot 0 (static text)"
		return cc
	}
	switch subClass(cmd) {
	case classSingle:
		cc.Class, cc.Note = singleNote(cmd)
		return cc
	case classRefused, classBroadcast: // a broadcast container's subcommand not routed above is refused
		return refused(errRefused(nil, cmd))
	}
	panic("server: no route for " + cmd.Name)
}

// compatible reports whether a documented class can be the classifier's c.
func compatible(doc string, c class) bool {
	switch doc {
	case ClassLocal:
		return c == classLocal
	case ClassSplit:
		return c == classSplit
	case ClassBroadcast:
		return c == classBroadcast
	case ClassSingle:
		return c == classSingle || c == classPubsub // PUBLISH: by the channel's slot
	case ClassPinned:
		return c == classTx || c == classPubsub
	case ClassOneMaster:
		return c == classLocal || c == classBroadcast // keyless.go sends LOLWUT on; SCAN walks the masters one page at a time
	}
	return false
}

// singleNote describes a keyed command forwarded by its keys' slot (forwardSingle).
func singleNote(cmd *codec.Command) (class, note string) {
	switch {
	case isScript(cmd.Name):
		note = "by its keys' slot; with no key, to the master of slot 0"
	case cmd.Flags&codec.FlagBlocking != 0 && (cmd.Name == "xread" || cmd.Name == "xreadgroup"):
		note = "with BLOCK: pinned (a dedicated connection while it blocks)"
	case cmd.Flags&codec.FlagBlocking != 0:
		return ClassPinned, "blocking: a dedicated connection to its keys' master while it blocks"
	}
	if kindOf(cmd)&router.Read != 0 {
		note = strings.TrimPrefix(note+"; a read (replicas with -read-from)", "; ")
	}
	return ClassSingle, note
}
