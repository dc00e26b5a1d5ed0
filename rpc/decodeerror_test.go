package rpc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rpc"
)

type orderLine struct {
	Qty  int     `json:"qty"`
	Cost float64 `json:"cost"`
}

type orderMeta struct {
	Tag string `json:"tag"`
}

type createOrder struct {
	orderMeta
	Customer string          `json:"customer"`
	Lines    []orderLine     `json:"lines"`
	Paid     *bool           `json:"paid"`
	Blob     []byte          `json:"blob"`
	Extra    map[string]uint `json:"extra"`
}

// TestMalformedBodyDetailSpeaksOfTheBody: a body whose value does not fit
// the handler's request type is refused 400 with a detail in the body's
// own terms (member names, JSON values), never the handler's Go types,
// which encoding/json's words named ("cannot unmarshal string into Go
// struct field createOrder.lines.qty of type int") and which went through
// the gateway to the public.
func TestMalformedBodyDetailSpeaksOfTheBody(t *testing.T) {
	s := rpc.NewServer()
	rpc.Register(s, "Orders.Create", func(context.Context, *createOrder) (*echoRsp, error) { return &echoRsp{}, nil })
	for _, tc := range []struct{ body, want string }{
		{`{"customer":7}`, `field "customer": a number where a string is wanted`},
		{`{"lines":[{"qty":"2"}]}`, `field "lines.qty": a string where an integer in range is wanted`},
		{`{"lines":[{"qty":1.5}]}`, `field "lines.qty": the number 1.5 where an integer in range is wanted`},
		{`{"lines":[{"qty":99999999999999999999}]}`, `field "lines.qty": the number 99999999999999999999 where an integer in range is wanted`},
		{`{"lines":[{"cost":"x"}]}`, `field "lines.cost": a string where a number in range is wanted`},
		{`{"lines":{}}`, `field "lines": an object where an array is wanted`},
		{`{"paid":"yes"}`, `field "paid": a string where a boolean is wanted`},
		{`{"blob":{}}`, `field "blob": an object where a base64 string is wanted`},
		{`{"blob":"!!"}`, `illegal base64 data at input byte 0`},
		{`{"extra":{"a":-1}}`, `field "extra": the number -1 where an integer in range is wanted`},
		{`{"tag":true}`, `field "orderMeta.tag": a boolean where a string is wanted`},
		{`"s"`, `the body is a string where an object is wanted`},
		{`[1]`, `the body is an array where an object is wanted`},
		{`{"customer":`, `unexpected EOF`},
		{`{"customer" 1}`, `invalid character '1' after object key`},
	} {
		r := httptest.NewRequest(http.MethodPost, "/rpc/Orders.Create", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var p struct{ Detail string }
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want a 400 problem", tc.body, w.Code, w.Body)
			continue
		}
		if p.Detail != tc.want {
			t.Errorf("%s: detail %q, want %q", tc.body, p.Detail, tc.want)
		}
		for _, leak := range []string{"Go ", "createOrder", "orderLine", "rpc_test", "float64", "int"} {
			if strings.Contains(strings.ReplaceAll(p.Detail, "integer", ""), leak) {
				t.Errorf("%s: detail %q names %q, the handler's type", tc.body, p.Detail, leak)
			}
		}
	}
}

// TestMalformedBodyDetailIsBounded: a detail repeats no more than a few
// dozen bytes of the body, where a number of a megabyte that did not fit
// its field, or a member's name as long that is no number where one is
// wanted, came back whole in the 400.
func TestMalformedBodyDetailIsBounded(t *testing.T) {
	s := rpc.NewServer()
	rpc.Register(s, "Orders.Create", func(context.Context, *createOrder) (*echoRsp, error) { return &echoRsp{}, nil })
	rpc.Register(s, "Orders.Keyed", func(context.Context, *map[int]int) (*echoRsp, error) { return &echoRsp{}, nil })
	long := strings.Repeat("é", 1<<18) // 512 KiB
	digits := strings.Repeat("9", 1<<20-64)
	for _, tc := range []struct{ endpoint, body, want string }{
		{"Orders.Create", `{"lines":[{"qty":` + digits + `}]}`,
			`field "lines.qty": the number ` + digits[:64] + `… (` + strconv.Itoa(len(digits)) + ` bytes) where an integer in range is wanted`},
		{"Orders.Keyed", `{"` + long + `":2}`,
			`the body is the number ` + long[:64] + `… (` + strconv.Itoa(len(long)) + ` bytes) where an integer in range is wanted`},
	} {
		r := httptest.NewRequest(http.MethodPost, "/rpc/"+tc.endpoint, strings.NewReader(tc.body))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		var p struct{ Detail string }
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusBadRequest {
			t.Fatalf("%s: %d, %d bytes, want a 400 problem", tc.endpoint, w.Code, w.Body.Len())
		}
		if p.Detail != tc.want {
			t.Errorf("%s: detail of %d bytes %.200q…, want %q", tc.endpoint, len(p.Detail), p.Detail, tc.want)
		}
	}
}
