package h1

import "net/http"

// CloseIdleConnections closes the idle connections of every host, those
// of Fallback when it has a CloseIdleConnections method, and those made
// for WithTLS's requests. Busy connections
// are left alone.
func (t *Transport) CloseIdleConnections() {
	if m := t.hosts.Load(); m != nil {
		for _, p := range *m {
			p.closeIdle(false)
		}
	}
	fb := t.Fallback
	if fb == nil {
		t.mu.Lock()
		fb = t.fb // nil if never made; fbOnce has run if set
		t.mu.Unlock()
	}
	if ic, ok := fb.(interface{ CloseIdleConnections() }); ok {
		ic.CloseIdleConnections()
	}
	t.tlsTransports.Range(func(_, v any) bool {
		v.(*http.Transport).CloseIdleConnections()
		return true
	})
}

// CloseHost closes the idle connections to hostport ("host:port", or a
// host alone for port 80) now, and its busy ones as their requests end,
// instead of pooling them; later requests dial anew. It is meant for a node
// that left service discovery. Connections made for WithTLS's requests
// are closed alike (a node that left without closing them, its
// connections kept until IdleTimeout, was sent a request over one, which
// then waited for its deadline); other connections of Fallback are not
// affected.
func (t *Transport) CloseHost(hostport string) {
	addr := hostPort(hostport)
	t.forgetTLS(func(k tlsKeyOf) bool { return hostPort(k.host) == addr })
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.hosts.Load()
	if old == nil {
		return
	}
	var gone []string
	for k, p := range *old {
		if p.addr == addr && p.closeIdle(true) {
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return
	}
	m := make(map[string]*hostPool, len(*old))
	for k, v := range *old {
		m[k] = v
	}
	for _, k := range gone {
		delete(m, k)
	}
	t.hosts.Store(&m)
}

var _ http.RoundTripper = (*Transport)(nil)
