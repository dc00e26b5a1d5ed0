package consul

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

// An answer past the bound fails the Lookup; one within it is read whole.
func TestClientBoundsConsulsAnswers(t *testing.T) {
	var entries strings.Builder
	entries.WriteString("[")
	for i := range 100 {
		if i > 0 {
			entries.WriteString(",")
		}
		fmt.Fprintf(&entries, `{"Node":{"Node":"n%d","Address":"10.0.0.%d"},"Service":{"ID":"api-%d","Service":"api","Port":80}}`, i, i%250+1, i)
	}
	entries.WriteString("]")
	body := entries.String()
	consul := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Consul-Index", "7")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	defer consul.Close()
	lookup := func(max int64) ([]int, error) {
		c, err := newClient(&api.Config{Address: strings.TrimPrefix(consul.URL, "http://")}, max)
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := New(c).Lookup(context.Background(), "api")
		return make([]int, len(nodes)), err
	}
	if _, err := lookup(int64(len(body)) - 1); err == nil || !strings.Contains(err.Error(), "an answer over") {
		t.Errorf("an answer one byte over the bound: err %v, want the bound's", err)
	}
	if nodes, err := lookup(int64(len(body))); err != nil || len(nodes) != 100 {
		t.Errorf("an answer of exactly the bound: %d nodes, %v; want 100, nil", len(nodes), err)
	}
}
