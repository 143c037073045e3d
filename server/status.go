package server

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// The status page: one HTML page on the admin address, in the spirit of HAProxy's stats page,
// refreshing itself, and the same data as JSON (/?json or /?format=json) for scripts. It reads
// only what readers may read from any goroutine: the router's topology and status, counters,
// and the loops' published hot-key snapshots.

// Status is everything the status page shows.
type Status struct {
	Version       string    `json:"version"`
	Started       time.Time `json:"started"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Listen        string    `json:"listen"`
	EventLoops    int       `json:"event_loops"`

	Clients           int64  `json:"clients"`
	RemoteClients     int64  `json:"remote_clients"`
	MaxClients        int    `json:"maxclients"`
	ClientBufferBytes uint64 `json:"client_buffer_bytes"`

	TopologyKnown bool          `json:"topology_known"`
	SlotsCovered  int           `json:"slots_covered"`
	Slots         int           `json:"slots"`
	Shards        []ShardStatus `json:"shards"`
	Redirects     Redirects     `json:"redirects"`
	LimitsHit     []Count       `json:"limits_hit"`

	HotKeySample int      `json:"hotkey_sample"` // 1 in this many keyed requests; 0: off
	HotKeys      []HotKey `json:"hotkeys"`

	TopologyChangesTotal uint64                  `json:"topology_changes_total"`
	TopologyChanges      []router.TopologyChange `json:"topology_changes"` // newest first

	Settings []Setting `json:"settings"`
}

// ShardStatus is one master and its replicas.
type ShardStatus struct {
	Master   string   `json:"master"`
	Replicas []string `json:"replicas"`
	State    string   `json:"state"`         // ok, or unreachable
	Down     []string `json:"down_replicas"` // replicas a loop could not reach
	Slots    int      `json:"slots"`
	Epoch    uint64   `json:"epoch"`

	// OpsPerSec is the master's replies per second over the last seconds, as Snapshot measures
	// them (OpsSource "measured"); before the first measurement, estimated from the hot-key
	// samples ("sampled").
	OpsPerSec float64 `json:"ops_per_sec"`
	OpsSource string  `json:"ops_source"`
	// From Snapshot only; nil before its first measurement.
	P50Ms     *float64 `json:"p50_ms"`
	P99Ms     *float64 `json:"p99_ms"`
	Redirects *uint64  `json:"redirects"`
}

// Redirects are the router's redirect counters since start.
type Redirects struct {
	Moved     uint64 `json:"moved"`
	Ask       uint64 `json:"ask"`
	TryAgain  uint64 `json:"tryagain"`
	Followed  uint64 `json:"followed"`
	Untrusted uint64 `json:"untrusted"`
}

// Count is one named counter.
type Count struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// Setting is one configuration value; secrets show as "(set)" or "(none)".
type Setting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Status gathers the status page's data. Safe from any goroutine.
func (srv *Server) Status() Status {
	now := time.Now()
	st := Status{
		Version: Version, Started: srv.started, UptimeSeconds: int64(now.Sub(srv.started) / time.Second),
		Listen: srv.cfg.Listen, EventLoops: srv.cfg.Loops,
		Clients: srv.clients.Load(), RemoteClients: srv.remoteClients.Load(), MaxClients: srv.lv().MaxClients,
		ClientBufferBytes: uint64(memoryHeld.Get()), Slots: slot.Count,
		HotKeySample: srv.hotSample(), HotKeys: srv.HotKeys(metricsHotKeys),
		TopologyChanges: srv.rt.Changes(), Shards: []ShardStatus{}, // [] rather than null for scripts
	}
	if st.TopologyChanges == nil {
		st.TopologyChanges = []router.TopologyChange{}
	}
	rs := srv.rt.Status()
	st.TopologyChangesTotal = rs.TopologyChanges
	st.Redirects = Redirects{Moved: rs.Moved, Ask: rs.Ask, TryAgain: rs.TryAgain, Followed: rs.RedirectsFollowed, Untrusted: rs.Untrusted}
	snap := srv.Snapshot()
	lim := snap.Limits
	st.LimitsHit = []Count{
		{"clients disconnected over -client-hard-limit", lim.DisconnectedOverLimit},
		{"clients paused at -client-soft-limit (now)", lim.Paused},
		{"clients evicted over -max-memory", lim.Evicted},
		{"connections refused at -maxclients", lim.RejectedMaxClients},
		{"connections refused by -protected", lim.RejectedProtected},
		{"clients closed idle (-client-idle-timeout)", lim.IdleClosed},
		{"requests timed out (-request-timeout)", lim.RequestTimeouts},
		{"requests without an owner past the retry window", lim.Expired},
		{"dedicated connections refused at -max-dedicated", lim.DedicatedRefused},
		{"silent nodes reconnected (-backend-stall)", lim.BackendStalls},
	}
	measured := map[string]ShardSnapshot{} // the nodes' own rates and latencies (stats.go)
	for _, sh := range snap.Shards {
		measured[sh.Master] = sh
	}
	sampled := srv.sampledShardRates()
	if t := srv.rt.Topology(); t != nil {
		st.TopologyKnown = true
		st.SlotsCovered = t.Covered()
		slots := t.SlotCounts()
		for i, m := range t.Masters {
			sh := ShardStatus{Master: m, State: "ok", Slots: slots[i], Epoch: t.Epoch(i), Replicas: []string{}, Down: []string{},
				OpsPerSec: sampled[m], OpsSource: "sampled"}
			if i < len(t.Replicas) {
				sh.Replicas = append(sh.Replicas, t.Replicas[i]...)
			}
			for _, r := range sh.Replicas {
				if rs.Down[r] {
					sh.Down = append(sh.Down, r)
				}
			}
			if rs.Down[m] {
				sh.State = "unreachable"
			}
			if ms, ok := measured[m]; ok {
				p50, p99, red := float64(ms.P50)/1e6, float64(ms.P99)/1e6, ms.Redirects
				sh.OpsPerSec, sh.OpsSource, sh.P50Ms, sh.P99Ms, sh.Redirects = ms.OpsPerSec, "measured", &p50, &p99, &red
			}
			st.Shards = append(st.Shards, sh)
		}
	}
	st.Settings = append(settingsOf("", reflect.ValueOf(srv.cfg)), settingsOf("backend ", reflect.ValueOf(srv.rt.Config()))...)
	return st
}

// settingsOf lists a configuration struct's fields; functions are left out and any field
// named like a password or secret shows only whether it is set.
func settingsOf(prefix string, v reflect.Value) []Setting {
	var out []Setting
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		if !f.IsExported() || fv.Kind() == reflect.Func {
			continue
		}
		val := fmt.Sprint(fv.Interface())
		if name := strings.ToLower(f.Name); strings.Contains(name, "password") || strings.Contains(name, "secret") || strings.Contains(name, "token") {
			val = "(none)"
			if !fv.IsZero() {
				val = "(set)"
			}
		}
		out = append(out, Setting{Name: prefix + f.Name, Value: val})
	}
	return out
}

// StatusHandler serves the status page; /?json or /?format=json the same data as JSON. The
// page refreshes itself every 2 seconds (?refresh=N seconds, 0: never).
func (srv *Server) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		st := srv.Status()
		w.Header().Set("Cache-Control", "no-store")
		if q.Has("json") || q.Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(st)
			return
		}
		refresh := 2
		if v := q.Get("refresh"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 3600 {
				http.Error(w, "refresh: seconds between 0 (never) and 3600", http.StatusBadRequest)
				return
			}
			refresh = n
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(w, statusView{Status: st, Refresh: refresh, Now: time.Now()}); err != nil {
			srv.log.Warn("status page", "err", err)
		}
	})
}

type statusView struct {
	Status
	Refresh int
	Now     time.Time
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"ops": func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	"ms": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return strconv.FormatFloat(*v, 'f', 2, 64)
	},
	"count": func(v *uint64) string {
		if v == nil {
			return "–"
		}
		return strconv.FormatUint(*v, 10)
	},
	"uptime": func(s int64) string { return (time.Duration(s) * time.Second).String() },
	"when":   func(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") },
	"pct": func(a, b int) string {
		if b == 0 {
			return "0"
		}
		return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 1, 64)
	},
	"join": strings.Join,
	"inc":  func(i int) int { return i + 1 },
}).Parse(statusHTML))

const statusHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>slotgate {{.Version}} status</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 .2em} h2{font-size:15px;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;background:#fff} th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#e8eef4} td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{background:#d9f2d9} .bad{background:#f6d0d0} .warn{background:#fbeec8}
.meta span{margin-right:2em} code{font-size:12px}
</style></head><body>
<h1>slotgate status</h1>
<div class="meta"><span>version <b id="version">{{.Version}}</b></span><span>up <b>{{uptime .UptimeSeconds}}</b> (since {{when .Started}})</span>
<span>listening on <b>{{.Listen}}</b>, {{.EventLoops}} event loop(s)</span><span>page at {{when .Now}}{{if .Refresh}}, refreshed every {{.Refresh}} s{{end}}</span></div>

<h2>Shards</h2>
{{if .TopologyKnown}}
<p id="coverage" class="{{if eq .SlotsCovered .Slots}}ok{{else}}bad{{end}}">slots covered: <b>{{.SlotsCovered}}</b> of {{.Slots}} ({{pct .SlotsCovered .Slots}} %)</p>
<table id="shards"><tr><th>master</th><th>state</th><th>replicas</th><th>slots</th><th>epoch</th><th>ops/s</th><th>p50 ms</th><th>p99 ms</th><th>redirects</th></tr>
{{range .Shards}}<tr class="shard" data-master="{{.Master}}" data-ops="{{ops .OpsPerSec}}">
<td>{{.Master}}</td><td class="{{if eq .State "ok"}}ok{{else}}bad{{end}}">{{.State}}</td>
<td>{{if .Replicas}}{{join .Replicas ", "}}{{else}}none{{end}}{{if .Down}} <span class="bad">down: {{join .Down ", "}}</span>{{end}}</td>
<td class="n">{{.Slots}}</td><td class="n">{{.Epoch}}</td><td class="n ops" title="{{.OpsSource}}">{{ops .OpsPerSec}}</td>
<td class="n">{{ms .P50Ms}}</td><td class="n">{{ms .P99Ms}}</td><td class="n">{{count .Redirects}}</td></tr>
{{end}}</table>
{{else}}<p class="bad">no topology yet</p>{{end}}
<p>redirects since start: MOVED {{.Redirects.Moved}}, ASK {{.Redirects.Ask}}, TRYAGAIN {{.Redirects.TryAgain}}; followed {{.Redirects.Followed}}, refused as untrusted {{.Redirects.Untrusted}}</p>

<h2>Clients</h2>
<table id="clients"><tr><th>connected</th><th>from other hosts</th><th>maxclients</th><th>buffer bytes</th></tr>
<tr><td class="n">{{.Clients}}</td><td class="n">{{.RemoteClients}}</td><td class="n">{{.MaxClients}}</td><td class="n">{{.ClientBufferBytes}}</td></tr></table>

<h2>Limits hit</h2>
<table id="limits">{{range .LimitsHit}}<tr><td>{{.Name}}</td><td class="n{{if .Value}} warn{{end}}">{{.Value}}</td></tr>{{end}}</table>

<h2>Hot keys</h2>
{{if .HotKeySample}}<p>1 in {{.HotKeySample}} keyed requests sampled; rates decay over about 10 s.</p>
{{if .HotKeys}}<table id="hotkeys"><tr><th>#</th><th>key</th><th>ops/s</th><th>master</th></tr>
{{range $i, $k := .HotKeys}}<tr class="hotkey"><td class="n">{{inc $i}}</td><td><code>{{$k.Key}}</code></td><td class="n">{{ops $k.OpsPerSec}}</td><td>{{$k.Shard}}</td></tr>
{{end}}</table>{{else}}<p>none sampled yet</p>{{end}}
{{else}}<p>sampling is off</p>{{end}}

<h2>Topology changes</h2>
<p>{{.TopologyChangesTotal}} since start; the last ones, newest first:</p>
<table id="changes"><tr><th>when</th><th>what</th><th>topology</th></tr>
{{range .TopologyChanges}}<tr><td>{{when .At}}</td><td>{{.What}}</td><td><code>{{.Topology}}</code></td></tr>
{{end}}</table>

<h2>Settings</h2>
<table id="settings">{{range .Settings}}<tr><td>{{.Name}}</td><td><code>{{.Value}}</code></td></tr>{{end}}</table>
</body></html>
`
