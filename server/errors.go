package server

import (
	"strings"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
)

// RESP error replies slotgate makes itself, in one place. Texts Redis has are Redis's own.
var (
	errCrossSlot    = []byte("-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	errNoAuth       = []byte("-NOAUTH Authentication required.\r\n")
	errHelloNoAuth  = []byte("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n")
	errWrongPass    = []byte("-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	errNoProto      = []byte("-NOPROTO unsupported protocol version\r\n")
	errSelectDB     = []byte("-ERR SELECT is not allowed in cluster mode\r\n")
	errNotInteger   = []byte("-ERR value is not an integer or out of range\r\n")
	errSyntax       = []byte("-ERR syntax error\r\n")
	errBadName      = []byte("-ERR Client names cannot contain spaces, newlines or special characters.\r\n")
	errExecAbort    = []byte("-EXECABORT Transaction discarded because of previous errors.\r\n")
	errNestedMulti  = []byte("-ERR MULTI calls can not be nested\r\n")
	errWatchInMulti = []byte("-ERR WATCH inside MULTI is not allowed\r\n")
)

// errRefusedWait refuses WAIT and WAITAOF for good: they count the replicas (or fsyncs) that
// have the writes of their own connection, and slotgate's backend connections carry the writes
// of many clients.
func errRefusedWait(dst []byte, name string) []byte {
	return codec.AppendError(dst, "ERR slotgate: '"+name+"' is not available through a proxy: replication offsets belong to "+
		"the backend connection that wrote, and slotgate shares its backend connections between clients "+
		"(send it on a direct connection to the node)")
}

// errNotInTx explains why a command cannot be queued in a transaction through slotgate.
func errNotInTx(dst []byte, name string) []byte {
	return codec.AppendError(dst, "ERR slotgate: '"+name+"' cannot be queued in a transaction: a transaction runs on the one node that owns its keys")
}

// errWatchOtherNode refuses a WATCH of a key on another node than the client's earlier WATCH.
func errWatchOtherNode(dst []byte, node string) []byte {
	return codec.AppendError(dst, "ERR slotgate: this key is on another node than the keys already watched (on "+node+
		"): a transaction runs on one node; use hash tags to keep its keys together")
}

// errPinLostTx answers the commands of a transaction whose WATCH was lost with its connection.
func errPinLostTx(dst []byte) []byte {
	return codec.AppendError(dst, "ERR slotgate lost the connection holding this client's WATCH: the transaction will be discarded (EXECABORT)")
}

// errUnknownCommand is Redis's "unknown command" text.
func errUnknownCommand(dst []byte, args [][]byte) []byte {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(clip(args[0]))
	b.WriteString("', with args beginning with: ")
	for _, a := range args[1:] {
		if b.Len() > 512 {
			break
		}
		b.WriteByte('\'')
		b.WriteString(clip(a))
		b.WriteString("' ")
	}
	return codec.AppendError(dst, b.String())
}

func errUnknownSubcommand(dst []byte, cmd string, sub []byte) []byte {
	return codec.AppendError(dst, "ERR unknown subcommand '"+clip(sub)+"'. Try "+strings.ToUpper(cmd)+" HELP.")
}

func clip(b []byte) string {
	if len(b) > 128 {
		b = b[:128]
	}
	return string(b)
}

func errArity(dst []byte, name string) []byte {
	return codec.AppendError(dst, "ERR wrong number of arguments for '"+name+"' command")
}

// errNoTopology answers while no topology is known, with the reason the seeds gave (a refused
// password, no cluster support): an operator reads it in the client's error, not only the log.
func errNoTopology(dst []byte, rt *router.Router) []byte {
	msg := "CLUSTERDOWN slotgate has no topology yet (seeds " + strings.Join(rt.Seeds(), ",") + ")"
	if why := rt.NoTopologyReason(); why != "" {
		msg += ": " + why
	}
	return codec.AppendError(dst, msg)
}

func errNoKeys(dst []byte, name string) []byte {
	return codec.AppendError(dst, "ERR slotgate: '"+name+"' without a key cannot be routed in a cluster")
}

// errRefused explains why a command does not go through slotgate.
func errRefused(dst []byte, cmd *codec.Command) []byte {
	if why := refusalReason(cmd); why != "" {
		return errRefusedForGood(dst, cmd, why)
	}
	why := "is not supported by slotgate"
	switch {
	case cmd.Name == "select":
		why = "is not allowed in cluster mode"
	case cmd.Name == "wait":
		return errRefusedWait(dst, cmd.Name)
	case isStateful(cmd.Name):
		why = "acts on one node or on a backend connection slotgate shares between clients: send it to the node directly"
	case cmd.FirstKey == 0 && len(cmd.KeySpecs) == 0:
		why = "has no key, so slotgate cannot route it to one node of the cluster"
	}
	return codec.AppendError(dst, "ERR slotgate: '"+strings.ReplaceAll(cmd.Name, "|", " ")+"' "+why)
}

func isStateful(name string) bool {
	for _, n := range statefulCommands {
		if n == name {
			return true
		}
	}
	return false
}

// errClientUnsupported refuses a CLIENT subcommand slotgate does not answer.
func errClientUnsupported(dst []byte, sub string) []byte {
	return codec.AppendError(dst, "ERR slotgate: CLIENT "+sub+" is not supported through slotgate")
}

// errClientTracking refuses CLIENT TRACKING for good.
func errClientTracking(dst []byte, sub string) []byte {
	return codec.AppendError(dst, "ERR slotgate: CLIENT "+strings.ToUpper(sub)+" is refused through a proxy: client-side caching's invalidations come from "+
		"the node that holds each key, over the connection that read it, and slotgate shares those connections between clients")
}

// errClusterUnsupported refuses a CLUSTER subcommand the one-node view does not answer.
func errClusterUnsupported(dst []byte, sub string) []byte {
	return codec.AppendError(dst, "ERR slotgate: CLUSTER "+sub+" is refused through a proxy: slotgate presents the cluster as one node "+
		"(CLUSTER KEYSLOT, SLOTS, SHARDS, NODES, INFO, MYID, COUNTKEYSINSLOT, GETKEYSINSLOT are answered); "+
		"manage the cluster on its nodes directly")
}

// errConfigUnsupported refuses a CONFIG subcommand other than GET that is not refused for good.
func errConfigUnsupported(dst []byte, sub string) []byte {
	return codec.AppendError(dst, "ERR slotgate: CONFIG "+sub+" is not supported through slotgate (send it to each node)")
}

// errScriptDebug refuses SCRIPT DEBUG.
func errScriptDebug(dst []byte) []byte {
	return codec.AppendError(dst, "ERR slotgate: SCRIPT DEBUG is not available through slotgate: "+
		"it turns the backend connection into a debugging session, and slotgate shares it between clients (debug on a node directly)")
}
