package hostile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// servers are the listener servers every case runs against, by the name
// subtests use and the value of listeners[].server.
// listenerServer is one of the gateway's listener servers: its name in
// subtests, and in the configuration.
type listenerServer struct{ name, config string }

var servers = []listenerServer{
	{"sluice", "sluice"},
	{"net-http", "net/http"},
}

// stack is one gateway process, on one listener server, with the backends
// its routes lead to. Each server gets its own stack, so that breakers,
// pools and counters of one never see the other's traffic.
type stack struct {
	server string // the listener server's name in subtests
	gw     string // the route listener's address
	admin  string // the admin listener's address
	proc   *gatewayProc

	echo *echoBackend // smuggling, limits, paths, slow bodies, misc
	brk  *echoBackend // the service whose breaker clients try to open
	pool *echoBackend // the service slow uploads try to starve
	big  *bigBackend  // a large answer for a client that never reads
	raw  map[string]*rawBackend
}

// routes of the suite's gateway (each smuggling and upstream-answer case
// adds its own). Budgets are short so that cases that wait for one to end
// stay fast.
const routesYAML = `
routes:
  - {name: lim, method: GET, path: /lim/*, service: echo}
  - {name: pub, method: GET, path: /pub/*, service: echo, rewrite: /public/}
  - {name: app, method: GET, path: /app/*, service: echo}
  - {name: stall, method: "*", path: /stall/*, service: stall, budget: {timeout: 1s, max: 1s}}
  - {name: head, method: GET, path: /head/*, service: echo}
  - {name: open, method: "*", path: /open/*, service: echo}
  - {name: authd, method: GET, path: /authd/*, service: echo, auth: users}
  - {name: brk, method: "*", path: /brk/*, service: brk}
  - {name: pool-up, method: "*", path: /pool-up/*, service: pool, budget: {timeout: 30s, max: 30s}}
  - {name: pool-get, method: GET, path: /pool-get/*, service: pool, budget: {timeout: 3s, max: 3s}}
  - {name: big, method: GET, path: /big/*, service: big, budget: {timeout: 2s, max: 2s}}
  - {name: big-up, method: POST, path: /big-up/*, service: big}
  - {name: zip, method: "*", path: /zip/*, service: echo, compress: {min_size: -1, algorithms: [gzip]}}
  - {name: cors, method: GET, path: /cors/*, service: echo, cors: {origins: ["https://app.example.com"]}}
  - {name: rpc-merge, method: POST, path: "/rpc-merge/{id}", service: echo, endpoint: Merge.Big}
  - {name: rpc-plain, method: POST, path: /rpc-plain, service: echo, endpoint: Plain.Echo}
`

func newStack(t *testing.T, name, server string) *stack {
	t.Helper()
	s := &stack{server: name, echo: newEchoBackend(t), brk: newEchoBackend(t), pool: newEchoBackend(t),
		big: newBigBackend(t), raw: map[string]*rawBackend{}}
	var b strings.Builder
	gatewayYAML(&b, server, time.Second)
	b.WriteString("registry:\n  kind: static\n  static:\n")
	node := func(service, addr string) {
		fmt.Fprintf(&b, "    - {service: %s, id: %s-1, address: %q}\n", service, service, addr)
	}
	node("echo", s.echo.Listener.Addr().String())
	// Services of their own on the same backend, so that what one case
	// does to a service's breaker and nodes never changes another's.
	node("stall", s.echo.Listener.Addr().String())
	smuggling := smugglingCases()
	for i := range smuggling {
		node(smuggleID(i), s.echo.Listener.Addr().String())
	}
	node("brk", s.brk.Listener.Addr().String())
	node("pool", s.pool.Listener.Addr().String())
	node("big", s.big.Listener.Addr().String())
	for _, c := range upstreamCases {
		rb := newRawBackend(t, c.answer)
		s.raw[c.slug] = rb
		node("up-"+c.slug, rb.addr())
	}
	usersYAML(t, &b, "a secret of the hostile suite, 32+ bytes long")
	b.WriteString("defaults:\n  budget: {timeout: 5s, max: 10s, min: 1ms}\n")
	b.WriteString(routesYAML)
	for i := range smuggling {
		fmt.Fprintf(&b, "  - {name: %s, method: \"*\", path: /smug/%s/*, service: %s}\n", smuggleID(i), smuggleID(i), smuggleID(i))
	}
	for _, c := range upstreamCases {
		fmt.Fprintf(&b, "  - {name: up-%s, method: GET, path: /up/%s/*, service: up-%s, budget: {timeout: %s, max: %s}}\n",
			c.slug, c.slug, c.slug, c.budget, c.budget)
	}
	proc, addrs := startWith(t, b.String())
	s.proc, s.gw, s.admin = proc, addrs[0], addrs[1]
	return s
}
