package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/sluicehq/sluice/internal/proxytest"
	"github.com/sluicehq/sluice/middleware"
)

// compressFuzzMinSize is the fuzzed route's min_size: small, so that the
// fuzzer's short bodies fall on both sides of it.
const compressFuzzMinSize = 16

// FuzzGatewayCompressedAnswer fuzzes the gateway's whole handler chain, on
// a route that compresses, with a backend's answers, as FuzzGatewayAnswer
// does without compression, and holds what the client gets to the rules
// docs/configuration.md's compress section states, written out here from
// the docs, not from middleware/compress*.go: which answers are left as
// they are (HEAD; 204, 206, 304; Content-Range; a Content-Encoding;
// no-transform; a digest; an excluded type, sniffed when the backend sent
// none; shorter than min_size; an untyped stream), which are compressed
// with the client's coding (losing Content-Length and Accept-Ranges,
// strong ETags made weak, Vary: Accept-Encoding added to the backend's,
// the body decoding to the backend's, trailers kept), and which get the
// Vary without being compressed (the client accepts no coding; a 304,
// whose strong ETags the client's If-None-Match names weak come back
// weak, all of them when it has more than one). The client asks for gzip, zstd, br or identity by bits 4 and 5
// of the mode, and sends If-None-Match by bit 6; the answer's other
// fields must cross as without compression.
func FuzzGatewayCompressedAnswer(f *testing.F) {
	proxytest.AddSeeds(f)
	json := bytes.Repeat([]byte(`{"a":1},`), 8)
	f.Add(uint16(0), "Content-Type: application/json\nETag: \"v1\"\nAccept-Ranges: bytes\nVary: Origin", json, uint8(0), "")
	f.Add(uint16(0), "Content-Type: text/plain\nETag: W/\"v1\"", json, uint8(16+1), "X-Sum: 1")     // zstd, chunked
	f.Add(uint16(0), "Content-Type: text/plain\nVary: *", json, uint8(32+2), "")                    // br, by the close
	f.Add(uint16(0), "Content-Type: text/plain\nVary: accept-encoding", json, uint8(48), "")        // identity
	f.Add(uint16(0), "Content-Type: IMAGE/PNG; x=1", json, uint8(0), "")                            // excluded
	f.Add(uint16(0), "Cache-Control: public, No-Transform", json, uint8(0), "")                     // no-transform
	f.Add(uint16(0), "Repr-Digest: sha-256=:x:", json, uint8(0), "")                                // a digest
	f.Add(uint16(0), "", append([]byte("\x89PNG\x0d\x0a\x1a\x0a"), json...), uint8(0), "")          // sniffed, excluded
	f.Add(uint16(0), "", json, uint8(0), "")                                                        // sniffed, text
	f.Add(uint16(6), "Content-Range: bytes 0-63/100\nContent-Type: text/plain", json, uint8(0), "") // 206
	f.Add(uint16(104), "ETag: \"v1\"\nVary: Origin", []byte{}, uint8(0), "")                        // 304
	f.Add(uint16(104), "ETag: \"a\"\nETag: \"b\"\nVary: Origin", []byte{}, uint8(64), "")           // 304, If-None-Match
	f.Add(uint16(104), "ETag: \"a\"\nETag: W/\"b\"\nETag: \"c\"", []byte{}, uint8(0), "")           // 304 of three tags
	f.Add(uint16(104), "ETag: \"v1\"\nContent-Type: image/png", []byte{}, uint8(64), "")            // 304 of an excluded type
	f.Add(uint16(0), "Content-Type: text/plain", json, uint8(8), "")                                // HEAD
	f.Add(uint16(0), "Content-Type: text/plain", []byte("short"), uint8(0), "")                     // below min_size
	f.Add(uint16(0), "Content-Type: text/plain\nETag: \"a\"\nETag: \"b\"", json, uint8(0), "")      // two tags
	f.Add(uint16(0), "Content-Type: text/plain\nETag: v1", json, uint8(0), "")                      // no entity-tag
	node := proxytest.NewNode(f)
	route := fmt.Sprintf("  - {method: \"*\", path: /t, service: svc, compress: {min_size: %d}}\n", compressFuzzMinSize)
	edges := proxytest.Edges(f, gatewayOf(f, node.Addr(), route))
	f.Fuzz(func(t *testing.T, status uint16, fields string, body []byte, mode uint8, trailers string) {
		a := proxytest.AnswerFrom(status, fields, body, mode, trailers)
		base, ok := a.Expect()
		if !ok {
			t.Skip("an answer ReadResponse refuses")
		}
		coding := []string{"gzip", "zstd", "br", "identity"}[mode>>4%4]
		node.Set(&a)
		header := http.Header{"Accept-Encoding": {coding}}
		if mode&64 != 0 {
			header.Set("If-None-Match", compressFuzzINM)
		}
		for _, edge := range edges {
			resp, got := edge.Do(t, a.Method(), header)
			if err := checkCompressed(a, base, coding, mode&64 != 0, resp, got); err != nil {
				t.Errorf("%s, Accept-Encoding %s, backend answer %q:\n%v", edge.Name, coding, a.Bytes(), err)
			}
		}
	})
}

// compressFuzzINM is the If-None-Match of a request with bit 6 of the
// mode set: tags a compressed answer carried weak, and one it could not.
const compressFuzzINM = `W/"v1", W/"a", "b"`

// The ways the docs let an answer reach a client that accepts a coding.
const (
	mustCompress = iota // compressed with the client's coding
	leftAlone           // as the backend sent it; its Vary may gain Accept-Encoding
	untouched           // as the backend sent it, Vary and all (HEAD)
)

// compressRule is what docs/configuration.md's compress section says of
// a, whose identity answer is base: how it reaches a client that accepts
// a coding, and whether it gets Vary: Accept-Encoding when not compressed
// (an answer that could have been compressed, and a 304).
func compressRule(a proxytest.Answer, base proxytest.Expected) (way int, vary bool) {
	h := base.Header
	if a.Head {
		return untouched, false
	}
	ct, typed := h["Content-Type"]
	allow := h["Content-Range"] == nil && h["Content-Encoding"] == nil && !noTransform(h["Cache-Control"]) &&
		h["Content-Digest"] == nil && h["Repr-Digest"] == nil && h["Digest"] == nil && h["Content-Md5"] == nil &&
		!(typed && len(ct) > 0 && excludedType(ct[0]))
	switch {
	case base.Status == http.StatusNotModified:
		return leftAlone, allow
	case base.Status == http.StatusNoContent, base.Status == http.StatusPartialContent, !allow:
		return leftAlone, false
	case !typed && a.Framing != 0:
		// A stream's header goes out before its first byte (docs: stream),
		// with nothing yet to sniff a type from.
		return leftAlone, false
	case !typed && excludedType(http.DetectContentType(base.Body)):
		return leftAlone, false
	case a.Framing != 0, len(base.Body) >= compressFuzzMinSize:
		// A stream is flushed before min_size bytes arrived.
		return mustCompress, true
	}
	return leftAlone, false
}

// noTransform reports whether Cache-Control fields hold no-transform.
func noTransform(vv []string) bool {
	for _, v := range vv {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-transform") {
				return true
			}
		}
	}
	return false
}

// excludedType reports whether the media type of a Content-Type value is
// among the default types_excluded, without regard to case and
// parameters.
func excludedType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	major, _, _ := strings.Cut(mt, "/")
	return slices.Contains(middleware.DefaultCompressTypesExcluded, mt) ||
		slices.Contains(middleware.DefaultCompressTypesExcluded, major+"/*")
}

// checkCompressed holds what a client that asked for coding got (resp,
// and its body) to compressRule, and the rest of the answer to base.
func checkCompressed(a proxytest.Answer, base proxytest.Expected, coding string, inm bool, resp *http.Response, body []byte) error {
	way, vary := compressRule(a, base)
	want := proxytest.Expected{Status: base.Status, Header: base.Header.Clone(), Body: base.Body, Trailer: base.Trailer, Length: base.Length}
	if base.Status == http.StatusNotModified && vary && (inm || len(want.Header["Etag"]) > 1) {
		// The client holds the tag weak, as a compressed answer carried it;
		// or the 304 has more than one tag, each made weak.
		many := len(want.Header["Etag"]) > 1
		for i, tag := range want.Header["Etag"] {
			if strings.HasPrefix(tag, `"`) && (many || strings.Contains(compressFuzzINM, "W/"+tag)) {
				want.Header["Etag"][i] = "W/" + tag
			}
		}
	}
	encoded := resp.Header["Content-Encoding"] != nil && base.Header["Content-Encoding"] == nil
	if coding == "identity" && way == mustCompress {
		way = leftAlone
	}
	var problems []string
	switch way {
	case mustCompress:
		if !encoded {
			return fmt.Errorf("not compressed, want %s; fields %q", coding, resp.Header)
		}
		want.Header["Content-Encoding"] = []string{coding}
		delete(want.Header, "Accept-Ranges")
		for i, tag := range want.Header["Etag"] {
			if strings.HasPrefix(tag, `"`) {
				want.Header["Etag"][i] = "W/" + tag
			}
		}
		decoded, err := decode(coding, body)
		if err != nil {
			return fmt.Errorf("decoding the %s body %q: %v", coding, body, err)
		}
		body = decoded
	default:
		if encoded {
			return fmt.Errorf("compressed (%q), want the answer as it came", resp.Header["Content-Encoding"])
		}
	}
	// Vary: the backend's list, with Accept-Encoding added when the rule
	// says so, and allowed when the answer was left alone.
	sent, gotVary := varyTokens(base.Header["Vary"]), varyTokens(resp.Header["Vary"])
	added := slices.DeleteFunc(slices.Clone(gotVary), func(v string) bool { return slices.Contains(sent, v) })
	switch {
	case !slices.Equal(slices.DeleteFunc(slices.Clone(gotVary), func(v string) bool { return v == "accept-encoding" }),
		slices.DeleteFunc(slices.Clone(sent), func(v string) bool { return v == "accept-encoding" })):
		problems = append(problems, fmt.Sprintf("Vary %q, want the backend's %q and at most Accept-Encoding", resp.Header["Vary"], base.Header["Vary"]))
	case len(added) > 0 && way == untouched:
		problems = append(problems, fmt.Sprintf("Vary %q on an answer left untouched, want the backend's %q", resp.Header["Vary"], base.Header["Vary"]))
	case vary && !slices.Contains(gotVary, "accept-encoding") && !slices.Contains(sent, "*"):
		problems = append(problems, fmt.Sprintf("Vary %q, want Accept-Encoding added to the backend's %q", resp.Header["Vary"], base.Header["Vary"]))
	}
	if resp.Header["Vary"] != nil {
		want.Header["Vary"] = resp.Header["Vary"]
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return want.Check(resp, body, gatewayAdds)
}

// varyTokens returns the members of Vary fields, in lower case.
func varyTokens(vv []string) []string {
	var out []string
	for _, v := range vv {
		for m := range strings.SplitSeq(v, ",") {
			if m = strings.ToLower(strings.TrimSpace(m)); m != "" {
				out = append(out, m)
			}
		}
	}
	return out
}

// decode returns body decoded from coding.
func decode(coding string, body []byte) ([]byte, error) {
	var r io.Reader
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	default:
		return nil, fmt.Errorf("no coding %q", coding)
	}
	return io.ReadAll(r)
}
