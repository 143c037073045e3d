package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/server"
)

// commandRuns runs every command of the table through slotgate: TestE2ECommandTable fails when
// a command of server.CommandClasses has no run here, when a run names another class than the
// doc's, or when the reply is not the one expected. When a command changes class, edit its row.
//
// Each line: name class reply where args. name is the table's ("config|get"); class as in
// docs/commands.md; reply is the RESP types accepted (any of the characters), "!" for the exact
// refusal text of the doc's note, or "-" for an error that is the node's (not slotgate's).
// where: "p" pipelined with every other p run on one shared connection, "c" on a connection of
// its own (state changes), "o" on the test's own cluster (destructive). args are split on
// spaces; ";" separates requests sent first on the same connection (only the last reply is
// checked); @name is a value from the run's values (scripts, DUMP payloads, SHAs).
// {ct} keys share one slot; cmdtable:o* keys are elsewhere (split commands).
const commandRuns = `
acl                    container -  p acl NOSUCH
acl|cat                one-master * p acl CAT
acl|deluser            refused   !  p acl DELUSER u
acl|dryrun             refused   !  p acl DRYRUN u get
acl|genpass            one-master $ p acl GENPASS
acl|getuser            refused   !  p acl GETUSER u
acl|help               one-master * p acl HELP
acl|list               refused   !  p acl LIST
acl|load               refused   !  p acl LOAD
acl|log                refused   !  p acl LOG
acl|save               refused   !  p acl SAVE
acl|setuser            refused   !  p acl SETUSER u
acl|users              refused   !  p acl USERS
acl|whoami             local     $  p acl WHOAMI
append                 single-slot : p append {ct}ap x
asking                 local     +  p asking
auth                   local     +  p auth anything
bgrewriteaof           refused   !  p bgrewriteaof
bgsave                 refused   !  p bgsave
bitcount               single-slot : p bitcount {ct}s
bitfield               single-slot * p bitfield {ct}bf GET u8 0
bitfield_ro            single-slot * p bitfield_ro {ct}bf GET u8 0
bitop                  single-slot : p bitop AND {ct}bo {ct}s {ct}s
bitpos                 single-slot : p bitpos {ct}s 1
blmove                 pinned    *  p blmove {ct}e1 {ct}e2 LEFT RIGHT 0.01
blmpop                 pinned    *  p blmpop 0.01 1 {ct}e1 LEFT
blpop                  pinned    *  p blpop {ct}e1 0.01
brpop                  pinned    *  p brpop {ct}e1 0.01
brpoplpush             pinned    *  p brpoplpush {ct}e1 {ct}e2 0.01
bzmpop                 pinned    *  p bzmpop 0.01 1 {ct}e3 MIN
bzpopmax               pinned    *  p bzpopmax {ct}e3 0.01
bzpopmin               pinned    *  p bzpopmin {ct}e3 0.01
client                 container -  p client NOSUCH
client|caching         refused   !  p client CACHING yes
client|getname         local     $  p client GETNAME
client|getredir        refused   !  p client GETREDIR
client|help            one-master * p client HELP
client|id              local     :  p client ID
client|info            local     $  p client INFO
client|kill            local     :  p client KILL ID 999999
client|list            local     $  p client LIST
client|no-evict        local     +  p client NO-EVICT on
client|pause           refused   !  p client PAUSE 10
client|reply           local     +  p client REPLY ON
client|setname         local     +  p client SETNAME cmdtable
client|tracking        refused   !  p client TRACKING on
client|trackinginfo    refused   !  p client TRACKINGINFO
client|unblock         refused   !  p client UNBLOCK 1
client|unpause         refused   !  p client UNPAUSE
cluster                container -  p cluster NOSUCH
cluster|addslots       refused   !  p cluster ADDSLOTS 1
cluster|addslotsrange  refused   !  p cluster ADDSLOTSRANGE 1 2
cluster|bumpepoch      refused   !  p cluster BUMPEPOCH
cluster|count-failure-reports refused ! p cluster COUNT-FAILURE-REPORTS id
cluster|countkeysinslot single-slot : p cluster COUNTKEYSINSLOT 0
cluster|delslots       refused   !  p cluster DELSLOTS 1
cluster|delslotsrange  refused   !  p cluster DELSLOTSRANGE 1 2
cluster|failover       refused   !  p cluster FAILOVER
cluster|flushslots     refused   !  p cluster FLUSHSLOTS
cluster|forget         refused   !  p cluster FORGET id
cluster|getkeysinslot  single-slot * p cluster GETKEYSINSLOT 0 1
cluster|help           refused   !  p cluster HELP
cluster|info           local     $  p cluster INFO
cluster|keyslot        local     :  p cluster KEYSLOT k
cluster|links          refused   !  p cluster LINKS
cluster|meet           refused   !  p cluster MEET 127.0.0.1 1
cluster|myid           local     $  p cluster MYID
cluster|nodes          local     $  p cluster NODES
cluster|replicas       refused   !  p cluster REPLICAS id
cluster|replicate      refused   !  p cluster REPLICATE id
cluster|reset          refused   !  p cluster RESET
cluster|saveconfig     refused   !  p cluster SAVECONFIG
cluster|set-config-epoch refused !  p cluster SET-CONFIG-EPOCH 1
cluster|setslot        refused   !  p cluster SETSLOT 1 STABLE
cluster|shards         local     *  p cluster SHARDS
cluster|slaves         refused   !  p cluster SLAVES id
cluster|slots          local     *  p cluster SLOTS
command                local     *  p command
command|count          local     :  p command COUNT
command|docs           local     *  p command DOCS get
command|getkeys        local     *  p command GETKEYS get k
command|getkeysandflags local    *  p command GETKEYSANDFLAGS get k
command|help           local     *  p command HELP
command|info           local     *  p command INFO get
command|list           local     *  p command LIST
config                 container -  p config NOSUCH
config|get             one-master * p config GET maxmemory
config|help            one-master * p config HELP
config|resetstat       refused   !  p config RESETSTAT
config|rewrite         refused   !  p config REWRITE
config|set             refused   !  p config SET maxmemory 0
copy                   single-slot : p copy {ct}s {ct}cp REPLACE
dbsize                 broadcast :  p dbsize
debug                  refused   !  p debug OBJECT k
decr                   single-slot : p decr {ct}n
decrby                 single-slot : p decrby {ct}n 2
del                    split     :  p del {ct}dl cmdtable:o1
discard                pinned    +  c multi ; set {ct}tx 1 ; discard
dump                   single-slot $ p dump {ct}s
echo                   local     $  p echo hi
eval                   single-slot : p eval @ret1 1 {ct}s
eval                   single-slot : p eval @ret1 0
eval_ro                single-slot : p eval_ro @ret1 1 {ct}s
evalsha                single-slot : p evalsha @sha 1 {ct}s
evalsha_ro             single-slot : p evalsha_ro @sha 1 {ct}s
exec                   pinned    *  c multi ; set {ct}tx 1 ; exec
exists                 split     :  p exists {ct}s cmdtable:o1
expire                 single-slot : p expire {ct}ex 100
expireat               single-slot : p expireat {ct}ex 4000000000
expiretime             single-slot : p expiretime {ct}ex
failover               refused   !  p failover
fcall                  single-slot : o fcall cmdf 1 {ct}s
fcall                  single-slot : o fcall cmdf 0
fcall_ro               single-slot : o fcall_ro cmdf 1 {ct}s
flushall               broadcast +  o flushall
flushdb                broadcast +  o flushdb
function               container -  p function NOSUCH
function|delete        broadcast +  o function DELETE cmdlib
function|dump          one-master $ o function DUMP
function|flush         broadcast +  o function FLUSH
function|help          one-master * o function HELP
function|kill          broadcast -  p function KILL
function|list          one-master * o function LIST
function|load          broadcast $  o function LOAD REPLACE @lib
function|restore       broadcast +  o function RESTORE @fdump REPLACE
function|stats         one-master * o function STATS
geoadd                 single-slot : p geoadd {ct}g 13.36 38.11 palermo
geodist                single-slot $ p geodist {ct}g palermo catania
geohash                single-slot * p geohash {ct}g palermo
geopos                 single-slot * p geopos {ct}g palermo
georadius              single-slot * p georadius {ct}g 15 37 200 km
georadius_ro           single-slot * p georadius_ro {ct}g 15 37 200 km
georadiusbymember      single-slot * p georadiusbymember {ct}g palermo 200 km
georadiusbymember_ro   single-slot * p georadiusbymember_ro {ct}g palermo 200 km
geosearch              single-slot * p geosearch {ct}g FROMLONLAT 15 37 BYRADIUS 200 km
geosearchstore         single-slot : p geosearchstore {ct}gs {ct}g FROMLONLAT 15 37 BYRADIUS 200 km
get                    single-slot $ p get {ct}s
getbit                 single-slot : p getbit {ct}s 0
getdel                 single-slot $ p getdel {ct}gd
getex                  single-slot $ p getex {ct}s
getrange               single-slot $ p getrange {ct}s 0 1
getset                 single-slot $ p getset {ct}gset v
hdel                   single-slot : p hdel {ct}h nosuch
hello                  local     *  p hello 2
hello                  local     %  c hello 3
hexists                single-slot : p hexists {ct}h f
hget                   single-slot $ p hget {ct}h f
hgetall                single-slot * p hgetall {ct}h
hincrby                single-slot : p hincrby {ct}h n 1
hincrbyfloat           single-slot $ p hincrbyfloat {ct}h fl 1.5
hkeys                  single-slot * p hkeys {ct}h
hlen                   single-slot : p hlen {ct}h
hmget                  single-slot * p hmget {ct}h f
hmset                  single-slot + p hmset {ct}h a 1
hrandfield             single-slot $ p hrandfield {ct}h
hscan                  single-slot * p hscan {ct}h 0
hset                   single-slot : p hset {ct}h b 2
hsetnx                 single-slot : p hsetnx {ct}h c 3
hstrlen                single-slot : p hstrlen {ct}h f
hvals                  single-slot * p hvals {ct}h
incr                   single-slot : p incr {ct}n
incrby                 single-slot : p incrby {ct}n 3
incrbyfloat            single-slot $ p incrbyfloat {ct}fl 1.5
info                   broadcast $  p info server
keys                   broadcast *  p keys {ct}*
lastsave               broadcast :  p lastsave
latency                container -  p latency NOSUCH
latency|doctor         broadcast $  p latency DOCTOR
latency|graph          broadcast -  p latency GRAPH command
latency|help           one-master * p latency HELP
latency|histogram      broadcast *  p latency HISTOGRAM set
latency|history        broadcast *  p latency HISTORY command
latency|latest         broadcast *  p latency LATEST
latency|reset          broadcast :  p latency RESET command
lcs                    single-slot $ p lcs {ct}s {ct}s
lindex                 single-slot $ p lindex {ct}l 0
linsert                single-slot : p linsert {ct}l BEFORE a z
llen                   single-slot : p llen {ct}l
lmove                  single-slot $ p lmove {ct}l {ct}l RIGHT LEFT
lmpop                  single-slot * p lmpop 1 {ct}l LEFT
lolwut                 one-master $ p lolwut
lpop                   single-slot $ p lpop {ct}l
lpos                   single-slot $ p lpos {ct}l nosuch
lpush                  single-slot : p lpush {ct}l a
lpushx                 single-slot : p lpushx {ct}l b
lrange                 single-slot * p lrange {ct}l 0 -1
lrem                   single-slot : p lrem {ct}l 0 nosuch
lset                   single-slot + p lset {ct}l 0 x
ltrim                  single-slot + p ltrim {ct}lt 0 -1
memory                 container -  p memory NOSUCH
memory|doctor          broadcast $  p memory DOCTOR
memory|help            one-master * p memory HELP
memory|malloc-stats    broadcast $  p memory MALLOC-STATS
memory|purge           broadcast +  p memory PURGE
memory|stats           broadcast *  p memory STATS
memory|usage           single-slot : p memory USAGE {ct}s
mget                   split     *  p mget {ct}s cmdtable:o1
migrate                refused   !  p migrate 127.0.0.1 1 k 0 1
module                 container -  p module NOSUCH
module|help            one-master * p module HELP
module|list            refused   !  p module LIST
module|load            refused   !  p module LOAD x
module|loadex          refused   !  p module LOADEX x
module|unload          refused   !  p module UNLOAD x
monitor                refused   !  p monitor
move                   single-slot - p move {ct}s 1
mset                   split     +  p mset {ct}ms 1 cmdtable:o2 2
msetnx                 single-slot : p msetnx {ct}mn 1 {ct}mn2 2
multi                  pinned    +  c multi
object                 container -  p object NOSUCH
object|encoding        single-slot $ p object ENCODING {ct}s
object|freq            single-slot - p object FREQ {ct}s
object|help            one-master * p object HELP
object|idletime        single-slot : p object IDLETIME {ct}s
object|refcount        single-slot : p object REFCOUNT {ct}s
persist                single-slot : p persist {ct}ex
pexpire                single-slot : p pexpire {ct}ex 100000
pexpireat              single-slot : p pexpireat {ct}ex 4000000000000
pexpiretime            single-slot : p pexpiretime {ct}ex
pfadd                  single-slot : p pfadd {ct}hll a
pfcount                single-slot : p pfcount {ct}hll
pfdebug                refused   !  p pfdebug GETREG {ct}hll
pfmerge                single-slot + p pfmerge {ct}hll2 {ct}hll
pfselftest             refused   !  p pfselftest
ping                   local     +  p ping
psetex                 single-slot + p psetex {ct}px 100000 v
psubscribe             pinned    *  c psubscribe cmdtable:*
psync                  refused   !  p psync ? -1
pttl                   single-slot : p pttl {ct}px
publish                single-slot : p publish cmdtable:ch hi
pubsub                 container -  p pubsub NOSUCH
pubsub|channels        broadcast *  p pubsub CHANNELS
pubsub|help            one-master * p pubsub HELP
pubsub|numpat          broadcast :  p pubsub NUMPAT
pubsub|numsub          broadcast *  p pubsub NUMSUB cmdtable:ch
pubsub|shardchannels   broadcast *  p pubsub SHARDCHANNELS
pubsub|shardnumsub     broadcast *  p pubsub SHARDNUMSUB cmdtable:ch
punsubscribe           pinned    *  c punsubscribe
quit                   local     +  c quit
randomkey              broadcast $  p randomkey
readonly               local     +  p readonly
readwrite              local     +  p readwrite
rename                 single-slot + p rename {ct}rn1 {ct}rn2
renamenx               single-slot : p renamenx {ct}rnx1 {ct}rnx2
replconf               refused   !  p replconf x
replicaof              refused   !  p replicaof no one
reset                  local     +  c reset
restore                single-slot + p restore {ct}rs 0 @dump REPLACE
restore-asking         refused   !  p restore-asking {ct}ra 0 x
role                   local     *  p role
rpop                   single-slot $ p rpop {ct}l
rpoplpush              single-slot $ p rpoplpush {ct}l {ct}l
rpush                  single-slot : p rpush {ct}l c
rpushx                 single-slot : p rpushx {ct}l d
sadd                   single-slot : p sadd {ct}st c
save                   refused   !  p save
scan                   one-master * p scan 0
scard                  single-slot : p scard {ct}st
script                 container -  p script NOSUCH
script|debug           refused   !  p script DEBUG no
script|exists          broadcast *  p script EXISTS @sha
script|flush           broadcast +  o script FLUSH
script|help            one-master * p script HELP
script|kill            broadcast -  p script KILL
script|load            broadcast $  p script LOAD @ret1
sdiff                  single-slot * p sdiff {ct}st {ct}st2
sdiffstore             single-slot : p sdiffstore {ct}sd {ct}st {ct}st2
select                 local     +  p select 0
set                    single-slot + p set {ct}set v
setbit                 single-slot : p setbit {ct}sb 1 1
setex                  single-slot + p setex {ct}sx 100 v
setnx                  single-slot : p setnx {ct}snx v
setrange               single-slot : p setrange {ct}sr 1 v
shutdown               refused   !  p shutdown NOSAVE
sinter                 single-slot * p sinter {ct}st {ct}st2
sintercard             single-slot : p sintercard 1 {ct}st
sinterstore            single-slot : p sinterstore {ct}si {ct}st {ct}st2
sismember              single-slot : p sismember {ct}st a
slaveof                refused   !  p slaveof no one
slowlog                container -  p slowlog NOSUCH
slowlog|get            broadcast *  p slowlog GET 1
slowlog|help           one-master * p slowlog HELP
slowlog|len            broadcast :  p slowlog LEN
slowlog|reset          broadcast +  o slowlog RESET
smembers               single-slot * p smembers {ct}st
smismember             single-slot * p smismember {ct}st a b
smove                  single-slot : p smove {ct}st {ct}st2 nosuch
sort                   single-slot * p sort {ct}l ALPHA
sort_ro                single-slot * p sort_ro {ct}l ALPHA
spop                   single-slot $ p spop {ct}sp
spublish               single-slot : p spublish {ct}ch hi
srandmember            single-slot $ p srandmember {ct}st
srem                   single-slot : p srem {ct}st nosuch
sscan                  single-slot * p sscan {ct}st 0
ssubscribe             pinned    *  c ssubscribe {ct}ch
strlen                 single-slot : p strlen {ct}s
subscribe              pinned    *  c subscribe cmdtable:ch
substr                 single-slot $ p substr {ct}s 0 1
sunion                 single-slot * p sunion {ct}st {ct}st2
sunionstore            single-slot : p sunionstore {ct}su {ct}st {ct}st2
sunsubscribe           pinned    *  c sunsubscribe
swapdb                 refused   !  p swapdb 0 1
sync                   refused   !  p sync
time                   local     *  p time
touch                  split     :  p touch {ct}s cmdtable:o1
ttl                    single-slot : p ttl {ct}s
type                   single-slot + p type {ct}s
unlink                 split     :  p unlink {ct}ul cmdtable:o3
unsubscribe            pinned    *  c unsubscribe
unwatch                pinned    +  c watch {ct}w ; unwatch
wait                   refused   !  p wait 0 0
watch                  pinned    +  c watch {ct}w
xack                   single-slot : p xack {ct}x g 1-0
xadd                   single-slot $ p xadd {ct}x * f v
xautoclaim             single-slot * p xautoclaim {ct}x g c 0 0
xclaim                 single-slot * p xclaim {ct}x g c 0 1-0
xdel                   single-slot : p xdel {ct}x 9-9
xgroup                 container -  p xgroup NOSUCH
xgroup|create          single-slot + p xgroup CREATE {ct}x2 g $ MKSTREAM
xgroup|createconsumer  single-slot : p xgroup CREATECONSUMER {ct}x g c2
xgroup|delconsumer     single-slot : p xgroup DELCONSUMER {ct}x g c2
xgroup|destroy         single-slot : p xgroup DESTROY {ct}x2 g
xgroup|help            one-master * p xgroup HELP
xgroup|setid           single-slot + p xgroup SETID {ct}x g $
xinfo                  container -  p xinfo NOSUCH
xinfo|consumers        single-slot * p xinfo CONSUMERS {ct}x g
xinfo|groups           single-slot * p xinfo GROUPS {ct}x
xinfo|help             one-master * p xinfo HELP
xinfo|stream           single-slot * p xinfo STREAM {ct}x
xlen                   single-slot : p xlen {ct}x
xpending               single-slot * p xpending {ct}x g
xrange                 single-slot * p xrange {ct}x - +
xread                  single-slot * p xread COUNT 1 STREAMS {ct}x 0
xread                  single-slot * p xread BLOCK 10 STREAMS {ct}x $
xreadgroup             single-slot * p xreadgroup GROUP g c COUNT 1 STREAMS {ct}x >
xrevrange              single-slot * p xrevrange {ct}x + -
xsetid                 single-slot + p xsetid {ct}x 99999999999999-0
xtrim                  single-slot : p xtrim {ct}x MAXLEN 100
zadd                   single-slot : p zadd {ct}z 3 c
zcard                  single-slot : p zcard {ct}z
zcount                 single-slot : p zcount {ct}z -inf +inf
zdiff                  single-slot * p zdiff 1 {ct}z
zdiffstore             single-slot : p zdiffstore {ct}zd 1 {ct}z
zincrby                single-slot $ p zincrby {ct}z 1 a
zinter                 single-slot * p zinter 1 {ct}z
zintercard             single-slot : p zintercard 1 {ct}z
zinterstore            single-slot : p zinterstore {ct}zi 1 {ct}z
zlexcount              single-slot : p zlexcount {ct}z - +
zmpop                  single-slot * p zmpop 1 {ct}zp MIN
zmscore                single-slot * p zmscore {ct}z a
zpopmax                single-slot * p zpopmax {ct}zp
zpopmin                single-slot * p zpopmin {ct}zp
zrandmember            single-slot $ p zrandmember {ct}z
zrange                 single-slot * p zrange {ct}z 0 -1
zrangebylex            single-slot * p zrangebylex {ct}z - +
zrangebyscore          single-slot * p zrangebyscore {ct}z -inf +inf
zrangestore            single-slot : p zrangestore {ct}zr {ct}z 0 -1
zrank                  single-slot : p zrank {ct}z a
zrem                   single-slot : p zrem {ct}z nosuch
zremrangebylex         single-slot : p zremrangebylex {ct}zq - +
zremrangebyrank        single-slot : p zremrangebyrank {ct}zq 0 0
zremrangebyscore       single-slot : p zremrangebyscore {ct}zq 0 0
zrevrange              single-slot * p zrevrange {ct}z 0 -1
zrevrangebylex         single-slot * p zrevrangebylex {ct}z + -
zrevrangebyscore       single-slot * p zrevrangebyscore {ct}z +inf -inf
zrevrank               single-slot : p zrevrank {ct}z a
zscan                  single-slot * p zscan {ct}z 0
zscore                 single-slot $ p zscore {ct}z a
zunion                 single-slot * p zunion 1 {ct}z
zunionstore            single-slot : p zunionstore {ct}zu 1 {ct}z
`

// commandSetup runs before the p and c runs (through slotgate, on the shared cluster): the keys
// the runs read, so that each gets its usual reply rather than an error.
const commandSetup = `
del {ct}s {ct}l {ct}h {ct}z {ct}st {ct}st2 {ct}x {ct}x2 {ct}g {ct}hll {ct}rn1 {ct}rnx1 {ct}rnx2 {ct}n {ct}fl {ct}mn {ct}mn2 {ct}snx {ct}e1 {ct}e2 {ct}e3 {ct}zp {ct}ex
set {ct}s 10
rpush {ct}l a b c
hset {ct}h f 1
zadd {ct}z 1 a 2 b
sadd {ct}st a b
sadd {ct}st2 b
xadd {ct}x 1-0 f v
xgroup CREATE {ct}x g 0
xgroup CREATECONSUMER {ct}x g c
geoadd {ct}g 13.36 38.11 palermo 15.08 37.50 catania
pfadd {ct}hll a
set {ct}rn1 v
set {ct}rnx1 v
set {ct}ex v
`

// commandRun is one line of commandRuns.
type commandRun struct {
	line                int
	name, class, accept string
	where               string
	reqs                [][]string
}

func parseCommandRuns(t *testing.T) []commandRun {
	t.Helper()
	var runs []commandRun
	for i, line := range strings.Split(commandRuns, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 5 {
			t.Fatalf("commandRuns line %d: %q: want name class reply where args", i, line)
		}
		r := commandRun{line: i, name: f[0], class: f[1], accept: f[2], where: f[3]}
		var req []string
		for _, a := range f[4:] {
			if a == ";" {
				r.reqs = append(r.reqs, req)
				req = nil
				continue
			}
			req = append(req, a)
		}
		r.reqs = append(r.reqs, req)
		if r.where == "p" && len(r.reqs) != 1 {
			t.Fatalf("commandRuns line %d: a pipelined run has one request", i)
		}
		runs = append(runs, r)
	}
	return runs
}

// TestE2ECommandTable runs every command of slotgate's command table (docs/commands.md) through
// slotgate against a real cluster, at least once each: the reply's RESP type, or for a refused
// command the exact text the doc gives. Destructive commands run on a cluster of the test's own.
func TestE2ECommandTable(t *testing.T) {
	runs := parseCommandRuns(t)
	doc := map[string]server.CommandClass{}
	for _, cc := range server.CommandClasses() {
		doc[cc.Cmd.Name] = cc
	}
	covered := map[string]bool{}
	for _, r := range runs {
		cc, ok := doc[r.name]
		if !ok {
			t.Errorf("commandRuns line %d: %s is not in the command table", r.line, r.name)
			continue
		}
		if r.class != cc.Class {
			t.Errorf("commandRuns line %d: %s is %s in docs/commands.md, the run says %s", r.line, r.name, cc.Class, r.class)
		}
		covered[r.name] = true
	}
	for name, cc := range doc {
		if !covered[name] {
			t.Errorf("%s (%s) has no run in commandRuns: add one", name, cc.Class)
		}
	}
	if t.Failed() {
		return
	}

	vals := map[string]string{
		"ret1": "return 1",
		"lib":  "#!lua name=cmdlib\nredis.register_function{function_name='cmdf', callback=function(keys, args) return 1 end, flags={'no-writes'}}",
	}
	check := func(r commandRun, got string) {
		t.Helper()
		note := doc[r.name].Note
		switch {
		case r.accept == "!":
			if want := "-" + note + "\r\n"; got != want {
				t.Errorf("line %d %v: got %q, want the refusal %q", r.line, r.reqs[len(r.reqs)-1], got, want)
			}
		case r.accept == "-":
			if got == "" || got[0] != '-' || (strings.Contains(got, "slotgate") && r.class != server.ClassContainer) {
				t.Errorf("line %d %v: got %q, want an error (from the node, unless a container's)", r.line, r.reqs[len(r.reqs)-1], got)
			}
		case got == "" || !strings.ContainsRune(r.accept, rune(got[0])) || strings.HasPrefix(got, "-"):
			t.Errorf("line %d %v: got %.200q, want a reply of type %q", r.line, r.reqs[len(r.reqs)-1], got, r.accept)
		}
	}
	expand := func(req []string) []string {
		out := make([]string, len(req))
		for i, a := range req {
			if v, ok := vals[strings.TrimPrefix(a, "@")]; ok && strings.HasPrefix(a, "@") {
				a = v
			}
			out[i] = a
		}
		return out
	}

	start := time.Now()
	p := startProxy(t, cluster, nil)
	setup := dialRaw(t, p.Addr)
	for _, line := range strings.Split(strings.TrimSpace(commandSetup), "\n") {
		if r := setup.do(strings.Fields(line)...); r[0] == '-' {
			t.Fatalf("setup %s: %q", line, r)
		}
	}
	t.Cleanup(func() { // the shared cluster keeps no key of this test
		cl := p.client(t, nil)
		ctx := context.Background()
		keys, _ := cl.Keys(ctx, "{ct}*").Result()
		for _, k := range append(keys, "cmdtable:o1", "cmdtable:o2", "cmdtable:o3") {
			cl.Del(ctx, k)
		}
	})
	vals["dump"] = bulkText(t, setup.do("DUMP", "{ct}s"))
	vals["sha"] = bulkText(t, setup.do("SCRIPT", "LOAD", vals["ret1"]))
	nodes := dialMasters(t, cluster)
	before := nodeCalls(t, nodes)

	// The p runs: one connection, every request written at once, then the replies in order.
	var pipe []commandRun
	var out strings.Builder
	for _, r := range runs {
		if r.where == "p" {
			pipe = append(pipe, r)
			out.WriteString(respCmd(expand(r.reqs[0])...))
		}
	}
	pc := dialRaw(t, p.Addr)
	pc.write(out.String())
	for _, r := range pipe {
		check(r, pc.read())
	}
	// The c runs: a connection each, requests one after the other.
	for _, r := range runs {
		if r.where == "c" {
			c := dialRaw(t, p.Addr)
			var got string
			for _, req := range r.reqs {
				got = c.do(expand(req)...)
			}
			check(r, got)
		}
	}
	checkLanding(t, runs, "pc", doc, before, nodeCalls(t, nodes))
	t.Logf("%d runs on the shared cluster in %v", len(pipe), time.Since(start).Round(time.Millisecond))

	// The o runs: the test's own cluster (flushes), one connection, in order.
	start = time.Now()
	c := startTopologyCluster(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	op := startProxy(t, c, nil)
	oc := dialRaw(t, op.Addr)
	if r := oc.do("FUNCTION", "LOAD", vals["lib"]); r[0] == '-' {
		t.Fatalf("FUNCTION LOAD: %q", r)
	}
	vals["fdump"] = bulkText(t, oc.do("FUNCTION", "DUMP"))
	if r := oc.do("SET", "{ct}s", "1"); r != "+OK\r\n" {
		t.Fatalf("SET: %q", r)
	}
	nodes = dialMasters(t, c)
	before = nodeCalls(t, nodes)
	for _, r := range runs {
		if r.where == "o" {
			var got string
			for _, req := range r.reqs {
				got = oc.do(expand(req)...)
			}
			check(r, got)
		}
	}
	checkLanding(t, runs, "o", doc, before, nodeCalls(t, nodes))
	t.Logf("own cluster runs in %v (its start included)", time.Since(start).Round(time.Millisecond))
}

// dialMasters opens an authenticated connection to each master of c.
func dialMasters(t *testing.T, c *testcluster.Cluster) []*rawConn {
	t.Helper()
	var conns []*rawConn
	for _, n := range c.Masters() {
		rc := dialRaw(t, n.Addr)
		if r := rc.do("AUTH", c.Password); r != "+OK\r\n" {
			t.Fatalf("AUTH on %s: %q", n.Addr, r)
		}
		conns = append(conns, rc)
	}
	return conns
}

// nodeCalls returns, for each node, how many requests of each command ("get", "config|get")
// reached it: INFO commandstats' calls plus rejected_calls.
func nodeCalls(t *testing.T, nodes []*rawConn) []map[string]int64 {
	t.Helper()
	var out []map[string]int64
	for _, n := range nodes {
		text := bulkText(t, n.do("INFO", "commandstats"))
		m := map[string]int64{}
		for _, line := range strings.Split(text, "\r\n") {
			name, stats, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
			if !ok || !strings.HasPrefix(line, "cmdstat_") {
				continue
			}
			for _, kv := range strings.Split(stats, ",") {
				k, v, _ := strings.Cut(kv, "=")
				if k == "calls" || k == "rejected_calls" {
					n, _ := strconv.ParseInt(v, 10, 64)
					m[name] += n
				}
			}
		}
		m["info"]-- // the INFO that asked (counted from the next INFO on)
		out = append(out, m)
	}
	return out
}

// sentOtherwise are commands the nodes also get from elsewhere, so their counts say nothing of
// the client's: slotgate's own (AUTH on every backend connection, RESET cleaning a dedicated one
// for reuse, CLUSTER NODES refreshing the topology, READONLY on replica links, PING on idle
// subscriber connections, ASKING after ASK) and the replicas' REPLCONF ACK.
var sentOtherwise = map[string]bool{"auth": true, "reset": true, "cluster|nodes": true, "readonly": true,
	"ping": true, "asking": true, "replconf": true}

// checkLanding checks from the nodes' command counts that the runs of the given kinds (where)
// reached the nodes their class says: none for refused, local and container commands, every
// master for broadcast ones, exactly one for one-master ones, at least one for single-slot and
// split ones. (Pinned commands are a mix: subscriptions are answered by slotgate.)
func checkLanding(t *testing.T, runs []commandRun, where string, doc map[string]server.CommandClass, before, after []map[string]int64) {
	t.Helper()
	ran := map[string]bool{}
	for _, r := range runs {
		if strings.Contains(where, r.where) {
			ran[r.name] = true
		}
	}
	for name := range ran {
		var reached, total int64
		for i := range after {
			if d := after[i][name] - before[i][name]; d > 0 {
				reached++
				total += d
			}
		}
		switch cls := doc[name].Class; {
		case sentOtherwise[name]:
		case cls == server.ClassRefused || cls == server.ClassLocal || cls == server.ClassContainer:
			if total != 0 {
				t.Errorf("%s (%s) reached %d node(s), %d times", name, cls, reached, total)
			}
		case cls == server.ClassBroadcast && reached != int64(len(after)):
			t.Errorf("%s (broadcast) reached %d of %d masters", name, reached, len(after))
		case cls == server.ClassOneMaster && reached != 1:
			t.Errorf("%s (one-master) reached %d masters", name, reached)
		case (cls == server.ClassSingle || cls == server.ClassSplit) && reached == 0:
			t.Errorf("%s (%s) reached no master", name, cls)
		}
	}
}
