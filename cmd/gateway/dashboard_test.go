package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// dashboardFile is the Grafana dashboard shipped in the repository.
const dashboardFile = "../../docs/grafana/sluice.json"

// dashboardExprs returns every PromQL expression of the dashboard: its
// panels' targets (rows' nested panels included) and its template
// variables' label_values queries.
func dashboardExprs(t *testing.T) (exprs []string, labelMetrics []string) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel: %v", dashboardFile, err)
			}
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*), *[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		m := labelValues.FindStringSubmatch(q["query"].(string))
		if m == nil {
			t.Fatalf("template variable query %v: want label_values(metric, label)", q["query"])
		}
		labelMetrics = append(labelMetrics, m[1])
	}
	return exprs, labelMetrics
}

// grafanaVars replaces the dashboard's variables with what Grafana would
// put there, so that Prometheus's own parser can read the expression.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$route", ".*", "$service", ".*")

// TestDashboardQueriesParseAndNameRealMetrics parses every expression of
// docs/grafana/sluice.json with Prometheus's PromQL parser and checks that
// every metric it names is in the gateway's /metrics after traffic.
func TestDashboardQueriesParseAndNameRealMetrics(t *testing.T) {
	exprs, names := dashboardExprs(t)
	if len(exprs) < 10 {
		t.Fatalf("%d expressions in the dashboard, want its panels' (10 or more)", len(exprs))
	}
	p := parser.NewParser(parser.Options{})
	for _, e := range exprs {
		expr, err := p.ParseExpr(grafanaVars.Replace(e))
		if err != nil {
			t.Errorf("%s: %v", e, err)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				names = append(names, vs.Name)
			}
			return nil
		})
	}
	g := obsGateway(t)
	traffic(t, g.handler())
	samples := sampleNames(scrape(t, g))
	seen := map[string]bool{}
	for _, name := range names {
		if name == "" {
			t.Errorf("a selector without a metric name in the dashboard")
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		if name == "sluice_budget_received_seconds_bucket" {
			continue // a backend's (budget.Inbound): checked by TestBackendExportsTheBudgetView
		}
		if !samples[name] {
			t.Errorf("the dashboard names %s, which the gateway's /metrics lacks", name)
		}
	}
}
