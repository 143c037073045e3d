package main

import (
	"fmt"
	"strings"

	"github.com/slotgate/slotgate/internal/settings"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
)

// loadSettings loads the settings (defaults, -config file, environment, flags) and checks what
// only the server can: the command lists.
func loadSettings(src *settings.Source) (*settings.Settings, error) {
	st, err := src.Load()
	if err != nil {
		return nil, err
	}
	if err := server.CheckCommandRules(st.Commands.Deny, st.Commands.Allow); err != nil {
		return nil, err
	}
	return st, nil
}

// liveSettings returns the server's reloadable settings from st; maxclients is lowered to what
// the open-file limit holds (clientCap, 0: unknown), saying so.
func liveSettings(st *settings.Settings, clientCap int, logf func(string, ...any)) server.Live {
	maxClients := st.Client.MaxClients
	if clientCap > 0 && maxClients > clientCap {
		logf("maxclients %d needs %d file descriptors, the limit is %d: maxclients lowered to %d (raise ulimit -n and -max-fds for more)",
			maxClients, maxClients+reservedFDs, clientCap+reservedFDs, clientCap)
		maxClients = clientCap
	}
	return server.Live{
		Password: st.Client.Password, SoftLimit: int(st.Client.SoftLimit), HardLimit: int(st.Client.HardLimit),
		MaxInflight: st.Client.MaxInflight, MaxRequest: int(st.Client.QueryLimit), MaxClients: maxClients,
		IdleTimeout: st.Client.IdleTimeout, MaxMergeBytes: int(st.Commands.MaxMergeBytes), ScriptCache: scriptCache(st),
		Deny: st.Commands.Deny, Allow: st.Commands.Allow,
	}
}

// scriptCache is commands.script_cache as server.Config takes it (0 there is the default).
func scriptCache(st *settings.Settings) int {
	if st.Commands.ScriptCache == 0 {
		return -1
	}
	return st.Commands.ScriptCache
}

// reloader applies a SIGHUP: the file read again, the reloadable settings applied, the others
// kept as slotgate started with them (logged as needing a restart).
type reloader struct {
	src       *settings.Source
	cur       *settings.Settings // in force
	srv       *server.Server
	rt        *router.Router
	clientCap int
	logf      func(string, ...any)
}

func (r *reloader) reload() {
	next, err := loadSettings(r.src)
	if err != nil {
		r.logf("reload: %v: the settings in force stay", err)
		return
	}
	changed, restart := settings.Changes(r.cur, next)
	for _, f := range restart {
		r.logf("reload: %s changed (%s -> %s): needs a restart, %s stays in force", f.Path, f.Format(r.cur), f.Format(next), f.Format(r.cur))
	}
	settings.KeepRestart(r.cur, next)
	if err := r.srv.Reload(liveSettings(next, r.clientCap, r.logf)); err != nil {
		r.logf("reload: %v: the settings in force stay", err)
		return
	}
	r.rt.SetRequestTimeout(next.Cluster.RequestTimeout)
	rf, _ := router.ParseReadFrom(next.Cluster.ReadFrom) // checked by settings
	r.rt.SetReadFrom(rf)
	r.cur = next
	if len(changed) == 0 {
		r.logf("reload: no reloadable setting changed")
		return
	}
	var what []string
	for _, f := range changed {
		what = append(what, fmt.Sprintf("%s=%s", f.Path, f.Format(next)))
	}
	r.logf("reload: applied %s", strings.Join(what, " "))
}
