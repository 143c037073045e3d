// Package settings is the one description of every slotgate setting: the Settings struct and
// its field tags. The flags, the YAML file (-config), validation, -h, docs/config.md and
// docs/slotgate.example.yaml all come from it, so they cannot disagree.
//
// A field's tags:
//
//	key      its YAML key; a nested struct's key is a path segment (client.hard_limit)
//	flag     its command-line flag (none: file only)
//	default  its default, written as in the file (sizes and durations with their units)
//	range    the valid values, "min..max" in the field's unit
//	zero     what 0 means when 0 lies outside range (then 0 is valid too)
//	enum     the valid values of a string, separated by |
//	check    hostport: HOST:PORT (empty allowed when the default is empty)
//	group    the -h section
//	reload   "yes": SIGHUP applies a change without a restart
//	secret   "yes": never printed (logs, status page)
//	env      an environment variable used when neither the flag nor the file sets it
//	help     one line for -h and the docs
//
// Types: string, int, bool, Size (bytes; 64MiB, 512mb), time.Duration (always with a unit;
// 0 alone is 0) and []string (a YAML sequence, or comma-separated on the command line).
//
// A new setting is a new field here: its flag, file key, check and docs follow; then
// `go generate ./internal/settings` and the wiring in cmd/slotgate (settings -> Config).
package settings

//go:generate go run ./gendoc -md ../../docs/config.md -yaml ../../docs/slotgate.example.yaml

import "time"

// Settings holds every setting of slotgate.
type Settings struct {
	Listen   string `key:"listen" flag:"listen" default:":22121" check:"hostport" group:"Network" help:"address clients connect to"`
	Admin    string `key:"admin" flag:"admin" default:"127.0.0.1:22122" check:"hostport" group:"Network" help:"address serving the status page (/), /metrics, /healthz, /readyz, /debug/pprof and /debug/mallocs (empty: off)"`
	Announce string `key:"announce" flag:"announce" check:"hostport" group:"Network" help:"HOST:PORT that CLUSTER SLOTS/SHARDS/NODES give cluster-aware clients as the one node owning every slot (empty: the address each client connected to)"`

	Loops     int  `key:"loops" flag:"loops" default:"1" range:"1..256" group:"Process" help:"event loops (1 measured faster than one per CPU on 2-core machines shared with Redis)"`
	MaxMemory Size `key:"max_memory" flag:"max-memory" default:"0" range:"1MiB..64TiB" zero:"a quarter of the machine's or container's memory" group:"Process" help:"all client buffers together: past it slotgate reads only from clients under their fair share and then disconnects the largest"`
	MaxFDs    int  `key:"max_fds" flag:"max-fds" default:"65535" range:"256..16777216" group:"Process" help:"raise the open-file limit (RLIMIT_NOFILE) toward this at start; capped by the hard limit, never lowered"`
	Tune      bool `key:"tune" flag:"tune" default:"false" group:"Process" help:"at start, raise the kernel settings below their recommendation (slotgate tune lists them) where permitted"`

	HotKeySample int `key:"hotkey_sample" flag:"hotkey-sample" default:"100" range:"1..1000000" zero:"off" group:"Process" help:"sample 1 in this many keyed requests for the hot keys (INFO hotkeys, /metrics, the status page)"`

	Log Log `key:"log"`

	Client   Client   `key:"client"`
	Cluster  Cluster  `key:"cluster"`
	Commands Commands `key:"commands"`
}

// Log holds the settings of slotgate's log.
type Log struct {
	Format string `key:"format" flag:"log-format" default:"text" enum:"text|json" group:"Logging" help:"log lines as text (key=value) or json (one object per line)"`
	Level  string `key:"level" flag:"log-level" default:"info" enum:"debug|info|warn|error" reload:"yes" group:"Logging" help:"least severe log lines written"`
}

// Client holds the settings of slotgate's clients.
type Client struct {
	Password    string        `key:"password" flag:"password" secret:"yes" reload:"yes" env:"SLOTGATE_PASSWORD" group:"Clients" help:"password clients must AUTH with; empty: any AUTH succeeds (clients already authenticated stay so after a change)"`
	Protected   bool          `key:"protected" flag:"protected" default:"false" group:"Clients" help:"without a password, serve loopback clients only (Redis's protected mode); off: a warning every minute when listening beyond loopback"`
	MaxClients  int           `key:"max_clients" flag:"maxclients" default:"10000" range:"1..10000000" reload:"yes" group:"Clients" help:"clients served at once; past it: -ERR max number of clients reached (lowered to fit the open-file limit)"`
	SoftLimit   Size          `key:"soft_limit" flag:"client-soft-limit" default:"8MiB" range:"1KiB..16GiB" reload:"yes" group:"Clients" help:"per client: stop reading requests past this many unread reply bytes"`
	HardLimit   Size          `key:"hard_limit" flag:"client-hard-limit" default:"64MiB" range:"1KiB..16GiB" reload:"yes" group:"Clients" help:"per client: disconnect past this many unread reply bytes or unparsed request bytes"`
	MaxInflight int           `key:"max_inflight" flag:"client-max-inflight" default:"1024" range:"1..1048576" reload:"yes" group:"Clients" help:"per client: stop reading requests with this many at the backends"`
	QueryLimit  Size          `key:"query_limit" flag:"client-query-limit" default:"1GiB" range:"1KiB..16GiB" reload:"yes" group:"Clients" help:"per client: largest request accepted (Redis's client-query-buffer-limit)"`
	IdleTimeout time.Duration `key:"idle_timeout" flag:"client-idle-timeout" default:"0" range:"10ms..8760h" zero:"never" reload:"yes" group:"Clients" help:"close a client idle this long, unless it waits for replies (Redis's timeout)"`
}

// Cluster holds the settings of the backend Redis Cluster.
type Cluster struct {
	Seeds          []string      `key:"seeds" flag:"cluster" default:"127.0.0.1:7000" check:"hostport" group:"Cluster" help:"HOST:PORT seeds of the Redis Cluster (comma-separated on the command line)"`
	User           string        `key:"user" flag:"backend-user" group:"Cluster" help:"ACL user for the cluster nodes (empty: the default user)"`
	Password       string        `key:"password" flag:"backend-password" secret:"yes" env:"SLOTGATE_BACKEND_PASSWORD" group:"Cluster" help:"password for the cluster nodes"`
	ConnectTimeout time.Duration `key:"connect_timeout" flag:"connect-timeout" default:"1s" range:"10ms..1m" group:"Cluster" help:"backend connect and AUTH timeout"`
	Refresh        time.Duration `key:"refresh" flag:"refresh" default:"5s" range:"100ms..1h" group:"Cluster" help:"topology refresh period (also at once on MOVED, a node lost, CLUSTERDOWN)"`
	DownPoll       time.Duration `key:"down_poll" flag:"down-poll" default:"100ms" range:"10ms..1m" group:"Cluster" help:"topology refresh period while a slot's master is unreachable"`
	RetryWindow    time.Duration `key:"retry_window" flag:"retry-window" default:"0" range:"100ms..10m" zero:"2 x the nodes' cluster-node-timeout + 2s, within [2s, 60s]; 2s where CONFIG GET is refused" group:"Cluster" help:"how long a request not yet sent waits for a reachable owner before -CLUSTERDOWN"`
	BackendStall   time.Duration `key:"backend_stall" flag:"backend-stall" default:"5s" range:"100ms..1h" zero:"never" group:"Cluster" help:"reconnect a node silent this long with requests outstanding"`
	RequestTimeout time.Duration `key:"request_timeout" flag:"request-timeout" default:"0" range:"10ms..1h" zero:"no limit but backend_stall" reload:"yes" group:"Cluster" help:"answer -ERR timeout to a request unanswered this long; its reply is dropped when it comes"`
	ReadFrom       string        `key:"read_from" flag:"read-from" default:"master" enum:"master|replica|prefer-replica" reload:"yes" group:"Cluster" help:"where read-only commands go: master, replica (replicas, the master when none is healthy) or prefer-replica (replicas and the master alike)"`
	WaitForCluster bool          `key:"wait_for_cluster" flag:"wait-for-cluster" default:"false" group:"Cluster" help:"keep retrying a start the cluster refuses (wrong password, no cluster support, an address without a port) instead of exiting; clients' CLUSTERDOWN errors carry the cause"`
	MaxDedicated   int           `key:"max_dedicated" flag:"max-dedicated" default:"256" range:"1..1000000" group:"Cluster" help:"dedicated backend connections per master for the process (transactions, blocking commands); past it: -ERR max dedicated backend connections reached"`
}

// Commands holds what slotgate lets through and how much of it.
type Commands struct {
	Deny          []string `key:"deny" flag:"deny-commands" reload:"yes" group:"Commands" help:"commands refused with -NOPERM (\"FLUSHALL\", \"CONFIG SET\"; a container such as \"CONFIG\" denies its subcommands)"`
	Allow         []string `key:"allow" flag:"allow-commands" reload:"yes" group:"Commands" help:"commands refused by default let through, from the list in docs/config.md (\"CONFIG SET\": to every master, OK when each said OK)"`
	MaxMergeBytes Size     `key:"max_merge_bytes" flag:"max-merge-bytes" default:"64MiB" range:"100..16GiB" reload:"yes" group:"Commands" help:"the masters' replies to one command sent to every master (KEYS, SLOWLOG GET...) together: past it the client gets an error (for KEYS: use SCAN)"`
	ScriptCache   int      `key:"script_cache" flag:"script-cache" default:"1024" range:"1..1000000" zero:"none" reload:"yes" group:"Commands" help:"scripts loaded through slotgate (SCRIPT LOAD) kept to reload on a node that answers EVALSHA with NOSCRIPT, e.g. after a failover"`
}

// Size is a number of bytes: in the file and on the command line 1048576, 64MiB, 512mb, 2gb
// (kb, mb, gb, KiB, MiB, GiB: powers of 1024; k, m, g alone: powers of 1000, as in Redis).
type Size int64
