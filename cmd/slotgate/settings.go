package main

import (
	"fmt"
	"log/slog"

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
func liveSettings(st *settings.Settings, clientCap int, log *slog.Logger) server.Live {
	maxClients := st.Client.MaxClients
	if clientCap > 0 && maxClients > clientCap {
		log.Warn("maxclients lowered to fit the open-file limit (raise ulimit -n and -max-fds for more)",
			"maxclients", maxClients, "needs_fds", maxClients+reservedFDs, "fd_limit", clientCap+reservedFDs, "lowered_to", clientCap)
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

// hotKeySample is hotkey_sample as server.Config takes it (0 there is the default, negative off).
func hotKeySample(st *settings.Settings) int {
	if st.HotKeySample == 0 {
		return -1
	}
	return st.HotKeySample
}

// reloader applies a SIGHUP: the file read again, the reloadable settings applied, the others
// kept as slotgate started with them (logged as needing a restart).
type reloader struct {
	src       *settings.Source
	cur       *settings.Settings // in force
	srv       *server.Server
	rt        *router.Router
	clientCap int
	log       *slog.Logger
	level     *slog.LevelVar // log.level, which reloads
}

func (r *reloader) reload() {
	next, err := loadSettings(r.src)
	if err != nil {
		logReload(r.log, r.src.File, nil, err)
		return
	}
	changed, restart := settings.Changes(r.cur, next)
	for _, f := range restart {
		r.log.Warn("reload: setting needs a restart; the value in force stays", "setting", f.Path,
			"in_force", f.Format(r.cur), "in_file", f.Format(next))
	}
	settings.KeepRestart(r.cur, next)
	if err := r.srv.Reload(liveSettings(next, r.clientCap, r.log)); err != nil {
		logReload(r.log, r.src.File, nil, err)
		return
	}
	if err := r.level.UnmarshalText([]byte(next.Log.Level)); err != nil {
		logReload(r.log, r.src.File, nil, err) // checked by settings: not reached
		return
	}
	r.rt.SetRequestTimeout(next.Cluster.RequestTimeout)
	rf, _ := router.ParseReadFrom(next.Cluster.ReadFrom) // checked by settings
	r.rt.SetReadFrom(rf)
	r.cur = next
	var what []string
	for _, f := range changed {
		what = append(what, fmt.Sprintf("%s=%s", f.Path, f.Format(next))) // secrets: (hidden)
	}
	logReload(r.log, r.src.File, what, nil)
}
