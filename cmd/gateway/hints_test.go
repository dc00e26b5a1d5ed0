package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
)

// A backend's 103 Early Hints reach a navigation's client before the final
// answer, with their Link fields, which do not leak into the final answer;
// an API request (no text/html in Accept) gets no 103. Both listener
// servers; the gateway's lean upstream transport hands the 103 on.
func TestEarlyHintsReachNavigations(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html></html>")
	}))
	t.Cleanup(srv.Close)
	for _, kind := range listenerKinds {
		for _, accept := range []string{"text/html,application/xhtml+xml", "application/json"} {
			t.Run(kind+"/"+accept, func(t *testing.T) {
				cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(), "  - {path: /page, service: svc}\n"))
				logger, _ := newLogger()
				_, addr := startGateway(t, cfg, logger, kind)

				var mu sync.Mutex
				var codes []int
				var links []string
				trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					mu.Lock()
					defer mu.Unlock()
					codes = append(codes, code)
					links = append(links, h.Get("Link"))
					return nil
				}}
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", "http://"+addr+"/page", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Accept", accept)
				resp, err := freshClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(body) != "<html></html>" {
					t.Fatalf("answer %d %q, %v", resp.StatusCode, body, err)
				}
				if l := resp.Header.Get("Link"); l != "" {
					t.Errorf("the hint's Link leaked into the final answer: %q", l)
				}
				mu.Lock()
				defer mu.Unlock()
				if accept == "application/json" {
					if len(codes) != 0 {
						t.Errorf("an API request got 1xx answers %v", codes)
					}
					return
				}
				if len(codes) != 1 || codes[0] != http.StatusEarlyHints || links[0] != "</app.css>; rel=preload; as=style" {
					t.Errorf("1xx answers %v with Link %q; want one 103 with the backend's Link", codes, links)
				}
			})
		}
	}
}

// "Expect: 100-continue" is the gateway's to answer: the client gets its
// "100 Continue" when the gateway starts reading the body, the body reaches
// the backend whole, and the backend is not asked again (Expect is not
// forwarded: the body is already on its way, and a forwarded expectation
// would only make the backend's 100 a second one). Both listener servers.
func TestExpectContinueIsAnsweredAtTheEdge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Saw-Expect", r.Header.Get("Expect"))
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(), "  - {method: POST, path: /up, service: svc}\n"))
			logger, _ := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)

			got100 := make(chan struct{}, 1)
			trace := &httptrace.ClientTrace{Got100Continue: func() { got100 <- struct{}{} }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "POST",
				"http://"+addr+"/up", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Expect", "100-continue")
			// The client waits for the 100 far longer than the test does.
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 5 * waitLimit},
				Timeout: waitLimit}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "hello" {
				t.Fatalf("answer %d %q", resp.StatusCode, body)
			}
			select {
			case <-got100:
			default:
				t.Error("the client got no 100 Continue")
			}
			if e := resp.Header.Get("X-Saw-Expect"); e != "" {
				t.Errorf("the backend was sent Expect: %q", e)
			}
		})
	}
}
