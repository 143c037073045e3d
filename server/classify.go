package server

import "github.com/slotgate/slotgate/codec"

// class says how a command travels. Every command is in exactly one class (DESIGN "The command
// classifier"); only commands that produce exactly one reply and change no connection state ever
// go on a shared pipeline.
type class uint8

const (
	classRefused   class = iota // a clear error: keyless, stateful or not supported yet
	classLocal                  // answered by slotgate itself
	classSingle                 // all keys in one slot: forwarded on the shared pipeline of that slot's master
	classSplit                  // MGET/MSET/DEL/UNLINK/EXISTS/TOUCH: one part per slot, merged in key order
	classPubsub                 // (P|S)SUBSCRIBE and unsubscribes, PUBLISH/SPUBLISH by channel slot, PUBSUB: pubsub.go
	classTx                     // MULTI, EXEC, DISCARD, WATCH, UNWATCH: a dedicated connection while the state lasts (tx.go)
	classBroadcast              // SCRIPT, FUNCTION, the whole keyspace (KEYS, DBSIZE...): to every master merged, or to one master (scripts.go, keyspace.go)
)

// classes is indexed by codec.Command.ID of top-level commands; its last entry, at
// codec.LearntID, classifies every learnt command (router/commands.go says which are learnt).
var classes = buildClasses()

// local commands answered by slotgate.
var localCommands = []string{"ping", "echo", "quit", "select", "command", "hello", "auth", "client", "cluster", "reset",
	"readonly", "readwrite"}

// split commands: per-slot parts merged in key order.
var splitCommands = []string{"mget", "mset", "del", "unlink", "exists", "touch"}

// txCommands start, run or end a transaction (tx.go).
var txCommands = []string{"multi", "exec", "discard", "watch", "unwatch"}

// stateful commands never go on a shared pipeline; those not served yet are refused with a
// reason.
var statefulCommands = []string{
	"monitor", "sync", "psync", "wait", "waitaof", "shutdown", "debug",
	"failover", "replicaof", "slaveof",
}

// pubsubCommands are multiplexed or routed by channel (pubsub.go).
var pubsubCommands = []string{"publish", "spublish", "pubsub",
	"subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe"}

// broadcastCommands go to every master, their replies merged (or to one master): containers
// whose subcommands scripts.go and keyspace.go route, and the keyless commands of the whole
// keyspace (keyspace.go).
var broadcastCommands = []string{"script", "function", "slowlog", "latency",
	"dbsize", "keys", "flushall", "flushdb", "randomkey", "lastsave", "info", "scan", "memory"}

// subClass classifies a subcommand of a container that slotgate does not answer itself.
func subClass(sub *codec.Command) class {
	switch {
	case sub.Flags&codec.FlagBlocking != 0:
		return classRefused
	case sub.FirstKey > 0 || len(sub.KeySpecs) > 0:
		return classSingle // MEMORY USAGE key: to the key's master, in a broadcast container
	case sub.Parent != nil && classes[sub.Parent.ID] == classBroadcast:
		return classBroadcast
	case isHelp(sub):
		return classLocal // static text from one master (keyless.go)
	}
	return classRefused
}

func buildClasses() []class {
	m := make([]class, codec.LearntID+1)
	m[codec.LearntID] = classSingle
	set := func(names []string, c class) {
		for _, n := range names {
			if cmd := codec.Lookup([]byte(n)); cmd != nil {
				m[cmd.ID] = c
			}
		}
	}
	for _, cmd := range codec.Commands {
		switch {
		case cmd.FirstKey > 0 || len(cmd.KeySpecs) > 0: // blocking ones too: forwardSingle pins them
			m[cmd.ID] = classSingle
		default:
			m[cmd.ID] = classRefused
		}
	}
	set(localCommands, classLocal)
	set(keylessLocal, classLocal) // keyless.go
	set(splitCommands, classSplit)
	set(statefulCommands, classRefused)
	set(txCommands, classTx)
	set(pubsubCommands, classPubsub)
	set(broadcastCommands, classBroadcast)
	set(refusedTopLevel, classRefused) // refused.go: whatever their keys
	if cfg := codec.Lookup([]byte("config")); cfg != nil {
		m[cfg.ID] = classLocal // CONFIG GET is forwarded to one master; the rest is refused
	}
	return m
}
