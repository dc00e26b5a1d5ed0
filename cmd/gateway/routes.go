package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/sluicehq/sluice/router"
)

// routes prints the route table of a configuration file, in the order the
// router tries its patterns (matchOrder): for a request that several
// patterns would match, the first row that matches is the route it gets.
func (c *cli) routes(args []string) error {
	fs := c.flags("routes")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("routes: name one file (- for standard input)")
	}
	cfg, err := c.load(rest[0])
	if err != nil {
		return err
	}
	rs := byHostRows(cfg.RouterRoutes())
	hosts := len(rs) > 0 && rs[0].Hosts != nil
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	if hosts {
		fmt.Fprint(tw, "HOST\t")
	}
	fmt.Fprintln(tw, "METHOD\tPATH\tNAME\tSERVICE\tKIND\tTARGET\tBUDGET")
	for _, r := range rs {
		if hosts {
			fmt.Fprintf(tw, "%s\t", r.Hosts[0])
		}
		kind, target := routeKind(r)
		name, service, budget := r.Name, r.Service, budgetText(r)
		if name == "" {
			name = "-"
		}
		if service == "" {
			service, budget = "-", "-" // answered by the gateway: no service, no budget spent
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Method, r.Path, name, service, kind, target, budget)
	}
	return tw.Flush()
}

// routeKind returns what the routes command shows of r in its KIND and
// TARGET columns.
func routeKind(r router.Route) (kind, target string) {
	switch {
	case r.Redirect != nil:
		status := r.Redirect.Status
		if status == 0 {
			status = router.DefaultRedirectStatus
		}
		return "redirect", fmt.Sprintf("%d %s", status, r.Redirect.To)
	case r.Respond != nil:
		status := r.Respond.Status
		if status == 0 {
			status = router.DefaultRespondStatus
		}
		return "respond", strconv.Itoa(status)
	case r.Endpoint != "":
		return "rpc", r.Endpoint
	case r.Rewrite != "":
		return "http", "rewrite " + r.Rewrite
	}
	return "http", "-"
}

// byHostRows returns routes in the order the router tries them. When some
// route names hosts, each row is of one host (Hosts holds it alone; "*" for
// the routes without hosts, which serve every host after its own): the
// names first, then the wildcards, then "*", each in match order.
func byHostRows(rs []router.Route) []router.Route {
	named := false
	for _, r := range rs {
		named = named || len(r.Hosts) > 0
	}
	if !named {
		slices.SortStableFunc(rs, matchOrder)
		return rs
	}
	var rows []router.Route
	for _, r := range rs {
		hosts := r.Hosts
		if len(hosts) == 0 {
			hosts = []string{"*"}
		}
		for _, h := range hosts {
			row := r
			row.Hosts = []string{strings.ToLower(strings.TrimSuffix(h, "."))}
			rows = append(rows, row)
		}
	}
	rank := func(h string) int {
		switch {
		case h == "*":
			return 2
		case strings.HasPrefix(h, "*."):
			return 1
		}
		return 0
	}
	slices.SortStableFunc(rows, func(a, b router.Route) int {
		ha, hb := a.Hosts[0], b.Hosts[0]
		return cmp.Or(cmp.Compare(rank(ha), rank(hb)), cmp.Compare(ha, hb), matchOrder(a, b))
	})
	return rows
}

// budgetText is a route's budget as the router applies it: defaults
// filled in, or a stream route's idle timeout and lifetime.
func budgetText(r router.Route) string {
	if s := r.Stream; s != nil {
		idle, life := cmp.Or(s.IdleTimeout, router.DefaultStreamIdleTimeout), cmp.Or(s.MaxLifetime, router.DefaultStreamMaxLifetime)
		return fmt.Sprintf("stream idle %s, lifetime %s", idle, life)
	}
	p := r.Budget
	text := fmt.Sprintf("%s (max %s, min %s", p.Timeout, cmp.Or(p.Max, p.Timeout), p.MinOrDefault())
	if p.AllowRaise {
		text += ", raise"
	}
	return text + ")"
}

// Kinds of pattern pieces, in the order chi tries them at one point of a
// path: literal text, {name:regexp}, {name}, then the catch-all *.
const (
	pieceLiteral = iota
	pieceRegexp
	pieceParam
	pieceCatchAll
)

// piece is one literal byte or one parameter of a pattern.
type piece struct {
	kind int
	b    byte
}

// pieces splits a route pattern into its literal bytes and parameters.
func pieces(p string) []piece {
	var out []piece
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{':
			depth, j := 0, i
			for ; j < len(p); j++ {
				if p[j] == '{' {
					depth++
				} else if p[j] == '}' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			kind := pieceParam
			if strings.Contains(p[i:min(j, len(p))], ":") {
				kind = pieceRegexp
			}
			out = append(out, piece{kind: kind})
			i = j
		case '*':
			out = append(out, piece{kind: pieceCatchAll})
		default:
			out = append(out, piece{kind: pieceLiteral, b: p[i]})
		}
	}
	return out
}

// matchOrder orders routes as the router tries them: at the first point
// where two patterns differ, literal text before a {name:regexp}
// parameter, before a {name} parameter, before the catch-all. Patterns
// that differ in their literal text match different paths and are
// ordered by it; a route of the same pattern comes after by method.
func matchOrder(a, b router.Route) int {
	pa, pb := pieces(a.Path), pieces(b.Path)
	for i := range min(len(pa), len(pb)) {
		if c := cmp.Or(cmp.Compare(pa[i].kind, pb[i].kind), cmp.Compare(pa[i].b, pb[i].b)); c != 0 {
			return c
		}
	}
	return cmp.Or(cmp.Compare(len(pa), len(pb)), cmp.Compare(a.Method, b.Method))
}
