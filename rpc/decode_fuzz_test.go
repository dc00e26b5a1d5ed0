package rpc_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// referenceAnswer is what the server answered to body before it decoded
// with json.Unmarshal: one json.Decoder.Decode, then nothing but white
// space (Decoder.Token reaching io.EOF), or a 400 whose detail is the
// decoder's error (worded by rpc.DecodeDetail, in the body's terms) or
// "data after the JSON value"; and, since the server
// refuses what is not UTF-8 before it decodes, a 400 for that.
func referenceAnswer(body []byte) (status int, detail string, rsp *echoRsp) {
	if !utf8.Valid(body) {
		return http.StatusBadRequest, "the body is not UTF-8", nil
	}
	var req echoReq
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&req); err != nil {
			return http.StatusBadRequest, rpc.DecodeDetail(err), nil
		}
		if _, err := dec.Token(); err != io.EOF {
			return http.StatusBadRequest, "data after the JSON value", nil
		}
	}
	return http.StatusOK, "", &echoRsp{Name: req.Name, Count: req.Count}
}

// FuzzUnmarshalMatchesDecoder holds the server's decoding of a request body
// (json.Unmarshal, the decoder only to word a refusal) to the decoder-based
// reference it replaced: the same status, the same problem detail, the same
// decoded request.
func FuzzUnmarshalMatchesDecoder(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `{}` + "\n\n", `null`, `{"name":"ada","count":3}`, `{"name":`, `{"count":"3"}`,
		`{} {}`, `{}x`, `{}]`, `[]`, `"s"`, `3`, `{"name":"a\u00e9\ud800"}`, "{\"name\":\"\xff\"}",
		`{"count":1e3}`, `{"count":1.5}`, `{"Name":"case"}`, `{"name":"a","name":"b"}`, `{"x":[1,{"y":null}]}`,
		`{"count":99999999999999999999}`, ` {"name":"a"} ` + "\t", `{"name":"a"}/*c*/`, `tru`, `nul`,
	} {
		f.Add([]byte(s))
	}
	srv := testServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 64 { // testServer's MaxBodyBytes: a 413 before any decoding
			return
		}
		r := httptest.NewRequest(http.MethodPost, "/rpc/Test.Echo", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		status, detail, rsp := referenceAnswer(body)
		if w.Code != status {
			t.Fatalf("body %q: status %d, the reference %d (%s); answer %s", body, w.Code, status, detail, w.Body)
		}
		if status != http.StatusOK {
			var p struct{ Type, Detail string }
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatalf("body %q: problem body %q: %v", body, w.Body, err)
			}
			if p.Detail != detail || p.Type != problem.TypeBadRequest {
				t.Fatalf("body %q: problem %s %q, the reference %q", body, p.Type, p.Detail, detail)
			}
			return
		}
		want, _ := json.Marshal(rsp)
		if got := strings.TrimSuffix(w.Body.String(), "\n"); got != string(want) {
			t.Fatalf("body %q: answer %s, the reference %s", body, got, want)
		}
	})
}
