package server

import (
	"strings"

	"github.com/slotgate/slotgate/codec"
)

// refusedForGood are the commands slotgate will not run, whatever comes later, with what to do
// instead: each acts on one node (its role, persistence, configuration, users, modules) or is
// the nodes' own protocol, and sending it to "a" master through a proxy would be wrong or
// meaningless. Keys are command names, "container|sub" for a subcommand, or the container's
// name for all of its subcommands not listed. (An operator allow-list belongs with the config
// file.)
var refusedForGood = map[string]string{
	"shutdown":         "stops one node: send it to that node directly",
	"debug":            "acts on one node: send it to that node directly",
	"failover":         "a cluster fails over with CLUSTER FAILOVER sent to a replica directly",
	"replicaof":        "changes one node's role: in a cluster, send CLUSTER REPLICATE to the node directly",
	"slaveof":          "changes one node's role: in a cluster, send CLUSTER REPLICATE to the node directly",
	"migrate":          "moves keys between nodes behind slotgate's map: reshard with redis-cli --cluster against the nodes",
	"restore-asking":   "is a step of the nodes' own slot migration, not for clients: use RESTORE",
	"pfdebug":          "inspects one node's internals: send it to the key's node directly",
	"module":           "loads code into one node: load it on every node directly (loadmodule in their configuration)",
	"acl|setuser":      "changes one node's users: run it on every node directly (slotgate checks its own -password)",
	"acl|deluser":      "changes one node's users: run it on every node directly (slotgate checks its own -password)",
	"acl|save":         "saves one node's users: run it on every node directly",
	"acl|load":         "loads one node's users: run it on every node directly",
	"save":             "persists one node: send it to each node directly",
	"bgsave":           "persists one node: send it to each node directly",
	"bgrewriteaof":     "rewrites one node's AOF: send it to each node directly",
	"config|set":       "changes one node's configuration: send it to each node directly",
	"config|rewrite":   "rewrites one node's configuration file: send it to each node directly",
	"config|resetstat": "resets one node's statistics: send it to each node directly",
	"monitor":          "streams one node's commands: run it on each node directly",
	"sync":             "is replication between nodes, not for clients",
	"psync":            "is replication between nodes, not for clients",
	"swapdb":           "a cluster node has database 0 only",
	"module|list":      "lists one node's modules: run it on each node directly",
	"client|pause":     "pauses one node's clients: slotgate's clients are not the nodes'; send it to each master directly to hold writes",
	"client|unpause":   "ends a pause of one node's clients: send it to each master directly",
	"client|unblock":   "a blocked command waits on a backend connection slotgate holds for it: close the blocked client with CLIENT KILL instead",
	"replconf":         "is replication between nodes, not for clients",
	"pfselftest":       "tests one node's HyperLogLog implementation: send it to a node directly",
	"acl|list":         "shows one node's users: slotgate's clients authenticate with its -password; run it on a node directly",
	"acl|users":        "shows one node's users: slotgate's clients authenticate with its -password; run it on a node directly",
	"acl|getuser":      "shows one node's users: slotgate's clients authenticate with its -password; run it on a node directly",
	"acl|dryrun":       "checks one node's users: slotgate's clients authenticate with its -password; run it on a node directly",
	"acl|log":          "shows one node's refused logins and commands: run it on each node directly",
}

// refusedTopLevel are the commands refused whatever their keys (MIGRATE, PFDEBUG and
// RESTORE-ASKING have keys and would otherwise be forwarded).
var refusedTopLevel = func() []string {
	var names []string
	for n := range refusedForGood {
		if !strings.Contains(n, "|") {
			names = append(names, n)
		}
	}
	return names
}()

// refusalReason returns why cmd is refused for good ("" if it is not).
func refusalReason(cmd *codec.Command) string {
	if why, ok := refusedForGood[cmd.Name]; ok {
		return why
	}
	if cmd.Parent != nil {
		return refusedForGood[cmd.Parent.Name]
	}
	return ""
}

// errRefusedForGood is the refusal of a command slotgate will not run, with what to do instead.
func errRefusedForGood(dst []byte, cmd *codec.Command, why string) []byte {
	return codec.AppendError(dst, "ERR slotgate: '"+strings.ReplaceAll(cmd.Name, "|", " ")+"' is refused through a proxy: "+why)
}
