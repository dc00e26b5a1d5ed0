package problem

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

type body struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// want returns what encoding/json reads back from s after encoding it: s with
// each invalid UTF-8 byte replaced by U+FFFD, as Body does too.
func want(t testing.TB, s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkBody(t testing.TB, status int, typ, title, detail string) {
	t.Helper()
	b := Body(status, typ, title, detail)
	if !json.Valid(b) {
		t.Fatalf("Body(%q, %q, %q) is not valid JSON: %s", typ, title, detail, b)
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("Body does not end with a newline: %q", b)
	}
	var got body
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	exp := body{Type: want(t, typ), Title: want(t, title), Status: status, Detail: want(t, detail)}
	if got != exp {
		t.Fatalf("Body decodes to %+v, want %+v", got, exp)
	}
}

var oddStrings = []string{
	"",
	"plain",
	`quote " and backslash \ and slash /`,
	"control \x00 \x01 \x08 \t \n \r \x1f \x7f",
	"html <script>&amp;</script>",
	"invalid utf-8 \xff \xc3 \xed\xa0\x80 end",
	"truncated at the end \xe2\x82",
	"unicode: Grüße, 日本, 🚀, \u2028 \u2029",
	strings.Repeat("long ", 1000),
}

func TestBodyIsValidJSON(t *testing.T) {
	for _, s := range oddStrings {
		checkBody(t, 502, "urn:x:"+s, "Title "+s, s)
	}
}

func TestBodyOmitsEmptyDetail(t *testing.T) {
	b := string(Body(404, TypeNotFound, "No such endpoint", ""))
	if b != `{"type":"urn:sluice:problem:no-route","title":"No such endpoint","status":404}`+"\n" {
		t.Fatalf("Body = %q", b)
	}
}

func FuzzBody(f *testing.F) {
	for _, s := range oddStrings {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, title, detail string) {
		checkBody(t, 500, TypeInternal, title, detail)
	})
}

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Content-Length", "3") // stale, from a handler that gave up
	Write(w, 503, TypeNoNodes, "No nodes available", "service \"a\"")
	if w.Code != 503 {
		t.Fatalf("status %d", w.Code)
	}
	h := w.Header()
	if h.Get("Content-Type") != ContentType || h.Get("Cache-Control") != "no-store" || h.Get("Content-Length") != "" {
		t.Fatalf("headers %v", h)
	}
	var got body
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got != (body{TypeNoNodes, "No nodes available", 503, `service "a"`}) {
		t.Fatalf("body %+v", got)
	}
}

func TestIsProblem(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{"application/problem+json", true},
		{"application/problem+json; charset=utf-8", true},
		{"Application/Problem+JSON", true},
		{" application/problem+json ;x=y", true},
		{"application/json", false},
		{"text/plain", false},
		{"", false},
		{"application/problem+jsonx", false},
	}
	for _, tt := range tests {
		if got := IsProblem(tt.ct); got != tt.want {
			t.Errorf("IsProblem(%q) = %v, want %v", tt.ct, got, tt.want)
		}
	}
}

func TestBodyAllocatesOnce(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		_ = Body(504, TypeBudgetSpent, "Budget spent", "the deadline passed \"early\"")
	})
	if allocs != 1 {
		t.Fatalf("Body allocates %v times, want 1", allocs)
	}
}

// TestWriteNamesTheRequestID checks that an answer carrying X-Request-Id
// gets a body naming it, escaped, and that one without has no such member.
func TestWriteNamesTheRequestID(t *testing.T) {
	for _, id := range []string{"", "0af7651916cd43dd8448eb211c80319c", `odd"id`} {
		w := httptest.NewRecorder()
		if id != "" {
			w.Header().Set("X-Request-Id", id)
		}
		Write(w, 502, TypeUpstream, "Upstream failed", "")
		var got map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("id %q: %v: %s", id, err, w.Body)
		}
		rid, has := got["request_id"]
		if id == "" && has {
			t.Errorf("no id: body has request_id %v", rid)
		}
		if id != "" && rid != id {
			t.Errorf("id %q: body request_id = %v", id, rid)
		}
	}
}
