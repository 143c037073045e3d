package server

import (
	"github.com/slotgate/slotgate/codec"
)

// Scripts and functions through one endpoint.
//
// Redis keeps scripts (SCRIPT LOAD, EVAL) per node and, since 7.0, does not replicate them;
// functions (FUNCTION LOAD) are replicated and persisted but still per shard. So:
//   - SCRIPT LOAD/EXISTS/FLUSH/KILL and FUNCTION LOAD/DELETE/FLUSH/RESTORE/KILL go to every master
//     (broadcast.go) and their replies are merged: LOAD answers the sha (library name) when every
//     master agrees, else the first error; EXISTS is 1 only where every master has the script;
//     KILL is OK when any master killed one, else NOTBUSY;
//   - FUNCTION LIST/DUMP/STATS and the HELPs are answered by one master: the one serving slot 0
//     (keylessScriptSlot), deterministically; FUNCTION STATS then shows that master's running
//     script only;
//   - EVAL/EVALSHA/FCALL (and _RO) with no key go to that same master;
//   - SCRIPT DEBUG is refused: it makes the backend connection a debugging session.
//
// Not atomic across masters: a LOAD refused by one master (say, a library already there) may
// have been applied by the others; the client gets the error.

// keylessScriptSlot routes the script commands that have no key: to the master serving slot 0.
const keylessScriptSlot = 0

// scriptCommand routes a subcommand of SCRIPT or FUNCTION (cmd is the subcommand).
func (s *session) scriptCommand(cmd *codec.Command, args [][]byte, raw []byte) {
	switch cmd.Name {
	case "script|load", "function|load", "function|delete", "function|restore":
		s.broadcast(raw, mergeSame, 0)
	case "script|flush", "function|flush":
		s.broadcast(raw, mergeSame, 0)
	case "script|exists":
		s.broadcast(raw, mergeAndInts, 0)
	case "script|kill", "function|kill":
		s.broadcast(raw, mergeAnyOK, 0)
	case "function|list", "function|dump", "function|stats", "script|help", "function|help":
		s.send(cmd, keylessScriptSlot, raw)
	case "script|debug":
		s.local(codec.AppendError(s.lp.scratch[:0], "ERR slotgate: SCRIPT DEBUG is not available through slotgate: "+
			"it turns the backend connection into a debugging session, and slotgate shares it between clients (debug on a node directly)"))
	default:
		s.local(errRefused(s.lp.scratch[:0], cmd))
	}
}
