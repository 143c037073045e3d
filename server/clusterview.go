package server

import (
	"crypto/sha1"
	"encoding/hex"
	"net"
	"strconv"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router/slot"
)

// The cluster view: cluster-aware clients (go-redis ClusterClient, redis-py RedisCluster,
// redis-cli -c) ask CLUSTER SLOTS/SHARDS/NODES and then talk to the nodes named there. slotgate
// answers as a one-node cluster owning every slot at its announced address, so every request
// stays on the proxy. Reply shapes are Redis 7.0's.

// clusterSelf is how slotgate describes itself to one client.
type clusterSelf struct {
	host     string // the endpoint: an IP or, with a host name announced, that name
	ip       string // an IP (the connection's local one when host is a name)
	hostname string // set when host is a name
	port     int
	id       string // 40 hex characters
}

// self is the announced address (-announce) or, without one, the local address of this client's
// connection: the address the client reached slotgate at. The node id is derived from that
// address (SHA-1 of "slotgate " + HOST:PORT), so it is the same across restarts and across
// instances announcing one address behind a load balancer.
func (s *session) self() clusterSelf {
	var local string
	if a := s.c.LocalAddr(); a != nil {
		local = a.String()
	}
	addr := s.srv.cfg.Announce
	if addr == "" {
		addr = local
	}
	host, port, _ := net.SplitHostPort(addr)
	me := clusterSelf{host: host, ip: host}
	me.port, _ = strconv.Atoi(port)
	if net.ParseIP(host) == nil {
		me.hostname = host
		me.ip, _, _ = net.SplitHostPort(local)
	}
	sum := sha1.Sum([]byte("slotgate " + net.JoinHostPort(host, port)))
	me.id = hex.EncodeToString(sum[:])
	return me
}

// clusterCommand answers CLUSTER subcommands; it reports false when the request went to a backend
// (COUNTKEYSINSLOT, GETKEYSINSLOT), whose reply then comes in order like any other.
func (s *session) clusterCommand(b []byte, args [][]byte, raw []byte) ([]byte, bool) {
	sub, p := args[1], int(s.proto)
	switch {
	case codec.EqualFold(sub, "keyslot") && len(args) == 3:
		return codec.AppendInt(b, int64(slot.Of(args[2]))), true
	case codec.EqualFold(sub, "myid") && len(args) == 2:
		return codec.AppendBulkString(b, s.self().id), true
	case codec.EqualFold(sub, "slots") && len(args) == 2:
		return appendClusterSlots(b, p, s.self()), true
	case codec.EqualFold(sub, "shards") && len(args) == 2:
		return appendClusterShards(b, p, s.self()), true
	case codec.EqualFold(sub, "nodes") && len(args) == 2:
		return appendClusterNodes(b, p, s.self()), true
	case codec.EqualFold(sub, "info") && len(args) == 2:
		return codec.AppendVerbatim(b, p, "txt", []byte(clusterInfo)), true
	case codec.EqualFold(sub, "countkeysinslot") && len(args) == 3,
		codec.EqualFold(sub, "getkeysinslot") && len(args) == 4:
		// Redis's checks and errors: integers first, then the range.
		n, err := strconv.ParseInt(string(args[2]), 10, 64)
		count := int64(0)
		if err == nil && len(args) == 4 {
			count, err = strconv.ParseInt(string(args[3]), 10, 64)
		}
		switch {
		case err != nil:
			return append(b, errNotInteger...), true
		case len(args) == 4 && (n < 0 || n >= slot.Count || count < 0):
			return codec.AppendError(b, "ERR Invalid slot or number of keys"), true
		case n < 0 || n >= slot.Count:
			return codec.AppendError(b, "ERR Invalid slot"), true
		}
		s.send(clusterCmd.Sub(sub), int(n), raw) // to the slot's owner, by the slot named
		return b, false
	}
	return errClusterUnsupported(b, clip(sub)), true
}

// clusterCmd is CLUSTER in the command table (its subcommands carry the flags send uses).
var clusterCmd = codec.Lookup([]byte("cluster"))

// clusterEpoch is the current, own and config epoch slotgate reports: one node, never a failover.
const clusterEpoch = 1

// clusterInfo is CLUSTER INFO of a healthy one-node cluster owning every slot.
var clusterInfo = "cluster_state:ok\r\n" +
	"cluster_slots_assigned:16384\r\n" +
	"cluster_slots_ok:16384\r\n" +
	"cluster_slots_pfail:0\r\n" +
	"cluster_slots_fail:0\r\n" +
	"cluster_known_nodes:1\r\n" +
	"cluster_size:1\r\n" +
	"cluster_current_epoch:" + strconv.Itoa(clusterEpoch) + "\r\n" +
	"cluster_my_epoch:" + strconv.Itoa(clusterEpoch) + "\r\n" +
	"cluster_stats_messages_sent:0\r\n" +
	"cluster_stats_messages_received:0\r\n" +
	"total_cluster_links_buffer_limit_exceeded:0\r\n"

// appendClusterSlots is CLUSTER SLOTS: one range, one node.
func appendClusterSlots(b []byte, p int, me clusterSelf) []byte {
	b = codec.AppendArrayLen(b, 1)
	b = codec.AppendArrayLen(b, 3)
	b = codec.AppendInt(b, 0)
	b = codec.AppendInt(b, slot.Count-1)
	b = codec.AppendArrayLen(b, 4)
	b = codec.AppendBulkString(b, me.host)
	b = codec.AppendInt(b, int64(me.port))
	b = codec.AppendBulkString(b, me.id)
	if me.hostname != "" { // the endpoint is the name; Redis adds the IP to the metadata
		b = codec.AppendMapLen(b, p, 1)
		b = codec.AppendBulkString(b, "ip")
		return codec.AppendBulkString(b, me.ip)
	}
	return codec.AppendMapLen(b, p, 0)
}

// appendClusterShards is CLUSTER SHARDS: one shard of one master (maps in RESP3).
func appendClusterShards(b []byte, p int, me clusterSelf) []byte {
	b = codec.AppendArrayLen(b, 1)
	b = codec.AppendMapLen(b, p, 2)
	b = codec.AppendBulkString(b, "slots")
	b = codec.AppendArrayLen(b, 2)
	b = codec.AppendInt(b, 0)
	b = codec.AppendInt(b, slot.Count-1)
	b = codec.AppendBulkString(b, "nodes")
	b = codec.AppendArrayLen(b, 1)
	n := 7
	if me.hostname != "" {
		n++
	}
	b = codec.AppendMapLen(b, p, n)
	b = codec.AppendBulkString(b, "id")
	b = codec.AppendBulkString(b, me.id)
	b = codec.AppendBulkString(b, "port")
	b = codec.AppendInt(b, int64(me.port))
	b = codec.AppendBulkString(b, "ip")
	b = codec.AppendBulkString(b, me.ip)
	b = codec.AppendBulkString(b, "endpoint")
	b = codec.AppendBulkString(b, me.host)
	if me.hostname != "" {
		b = codec.AppendBulkString(b, "hostname")
		b = codec.AppendBulkString(b, me.hostname)
	}
	b = codec.AppendBulkString(b, "role")
	b = codec.AppendBulkString(b, "master")
	b = codec.AppendBulkString(b, "replication-offset")
	b = codec.AppendInt(b, 0)
	b = codec.AppendBulkString(b, "health")
	return codec.AppendBulkString(b, "online")
}

// appendClusterNodes is CLUSTER NODES (verbatim text in RESP3).
func appendClusterNodes(b []byte, p int, me clusterSelf) []byte {
	// "<id> <ip>:<port>@<cport>[,<hostname>] myself,master - <ping> <pong> <config-epoch>
	// connected 0-16383": no cluster bus behind slotgate, so cport 0.
	line := me.id + " " + net.JoinHostPort(me.ip, strconv.Itoa(me.port)) + "@0"
	if me.hostname != "" {
		line += "," + me.hostname
	}
	line += " myself,master - 0 0 " + strconv.Itoa(clusterEpoch) + " connected 0-" + strconv.Itoa(slot.Count-1) + "\n"
	return codec.AppendVerbatim(b, p, "txt", []byte(line))
}
