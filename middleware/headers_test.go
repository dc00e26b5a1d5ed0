package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHeaderRulesEditRequestsAndAnswers sets and removes fields on both
// sides: the request's before the handler, every value replaced; the
// answer's once, as it is written, by WriteHeader, Write or Flush alike,
// 1xx answers left as they are.
func TestHeaderRulesEditRequestsAndAnswers(t *testing.T) {
	hr, err := NewHeaderRules(
		HeaderEdits{Set: map[string]string{"x-api-version": "2"}, Remove: []string{"X-Debug"}},
		HeaderEdits{Set: map[string]string{"X-Content-Type-Options": "nosniff"}, Remove: []string{"server", "X-Powered-By"}},
		nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"WriteHeader", "Write", "Flush"} {
		t.Run(how, func(t *testing.T) {
			h := hr.Answers()(hr.Requests()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header["X-Api-Version"]; len(got) != 1 || got[0] != "2" {
					t.Errorf("X-Api-Version %q, want [2]", got)
				}
				if _, ok := r.Header["X-Debug"]; ok {
					t.Error("X-Debug reached the handler")
				}
				w.Header().Set("Server", "framework/1.0")
				w.Header().Set("X-Powered-By", "php")
				w.Header().Set("X-Content-Type-Options", "sniff-away")
				w.WriteHeader(http.StatusEarlyHints) // not edited
				switch how {
				case "WriteHeader":
					w.WriteHeader(http.StatusTeapot)
				case "Write":
					io.WriteString(w, "hello")
				case "Flush":
					http.NewResponseController(w).Flush()
				}
				w.Header().Set("X-Late", "1") // after the header went: not sent
			})))
			srv := httptest.NewServer(h)
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header["X-Api-Version"] = []string{"1", "3"}
			req.Header.Set("X-Debug", "on")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" ||
				strings.Join(resp.Header.Values("X-Content-Type-Options"), ",") != "nosniff" {
				t.Errorf("answer header %v", resp.Header)
			}
		})
	}
}

// TestHeaderRulesRefuseWhatTheGatewayKeeps refuses edits of framing,
// connection and the fields the gateway vouches for, on either side, and
// names and values that cannot travel.
func TestHeaderRulesRefuseWhatTheGatewayKeeps(t *testing.T) {
	for _, tc := range []struct {
		req, resp HeaderEdits
		msg       string
	}{
		{HeaderEdits{Set: map[string]string{"host": "x"}}, HeaderEdits{}, "Host is the gateway's"},
		{HeaderEdits{Remove: []string{"Sluice-Budget"}}, HeaderEdits{}, "Sluice-Budget is the gateway's"},
		{HeaderEdits{Set: map[string]string{"X-Forwarded-For": "1.2.3.4"}}, HeaderEdits{}, "X-Forwarded-For"},
		{HeaderEdits{Set: map[string]string{"X-User-Id": "admin"}}, HeaderEdits{}, "X-User-Id is the gateway's"},
		{HeaderEdits{Remove: []string{"transfer-encoding"}}, HeaderEdits{}, "Transfer-Encoding"},
		{HeaderEdits{}, HeaderEdits{Set: map[string]string{"Content-Length": "0"}}, "Content-Length"},
		{HeaderEdits{}, HeaderEdits{Remove: []string{"X-Request-Id"}}, "X-Request-Id"},
		{HeaderEdits{Set: map[string]string{"X Bad": "v"}}, HeaderEdits{}, "not a field name"},
		{HeaderEdits{Set: map[string]string{"X-A": "a\r\nX-B: b"}}, HeaderEdits{}, "cannot travel"},
		{HeaderEdits{Set: map[string]string{"X-A": " a"}}, HeaderEdits{}, "cannot travel"},
		{HeaderEdits{Set: map[string]string{"X-A": "a"}, Remove: []string{"x-a"}}, HeaderEdits{}, "both set and removed"},
		{HeaderEdits{}, HeaderEdits{Set: map[string]string{"X-A": "a", "x-a": "b"}}, "set twice"},
	} {
		_, err := NewHeaderRules(tc.req, tc.resp, []string{"x-user-id"})
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v %+v: %v, want an error with %q", tc.req, tc.resp, err, tc.msg)
		}
	}
	if hr, err := NewHeaderRules(HeaderEdits{}, HeaderEdits{}, nil); err != nil || hr.Requests() != nil || hr.Answers() != nil {
		t.Errorf("no edits: %v, want no middleware", err)
	}
}

// TestHeaderRulesLetAHandlerTakeTheConnection: a handler below the
// answers' edits can still hijack its connection (a WebSocket's), through
// http.ResponseController as the router does.
func TestHeaderRulesLetAHandlerTakeTheConnection(t *testing.T) {
	hr, err := NewHeaderRules(HeaderEdits{}, HeaderEdits{Remove: []string{"Server"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hr.Answers()(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		brw.Flush()
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Errorf("body %q", b)
	}
}
