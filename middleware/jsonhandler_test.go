package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// slogLine is the line slog's own JSON handler writes for l at at: what
// the access log wrote before JSONHandler, and the reference of its
// encoder.
func slogLine(t testing.TB, at time.Time, l *accessLine) []byte {
	t.Helper()
	var buf bytes.Buffer
	var attrs [maxAttrs]slog.Attr
	rd := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	rd.AddAttrs(l.attrs(attrs[:0])...)
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), rd); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hostileText is text a client or a backend can put in a line: control
// bytes, quotes and backslashes, bytes that are not UTF-8, the separators
// JavaScript reads as line ends, HTML's specials, DEL, long runes.
var hostileText = []string{
	"", "/", "/hello/bench", `"`, `\`, `\"`, "\x00", "\x01\x1f", "\n\r\t", "\b\f",
	"\x7f", "<script>&amp;</script>", "\u2028\u2029", "a\u2028b\u2029c", "\xff", "\xc3", "\xe2\x80",
	"é", "日本語", "\U0001F600", "\xed\xa0\x80", "%0d%0a", "a\"b\\c\nd\x00e\xfff\u2028g",
	"127.0.0.1:40000", "[::1]:5", "4bf92f3577b34da6a3ce929d0e0e4736", strings.Repeat("ab\x01", 300),
}

// zones are locations a gateway's clock may be in, with odd offsets:
// RFC 3339 writes minutes, not seconds, of an offset.
var zones = []*time.Location{
	time.UTC, time.Local, time.FixedZone("", 0), time.FixedZone("NPT", 5*3600+45*60),
	time.FixedZone("NST", -(3*3600 + 30*60)), time.FixedZone("LMT", 3600+61), time.FixedZone("E", -14*3600),
}

func randomLine(rng *rand.Rand) accessLine {
	pick := func() string {
		if rng.IntN(3) == 0 {
			// Text made of pieces, so that hostile bytes sit beside
			// plain ones.
			var b strings.Builder
			for range rng.IntN(5) {
				b.WriteString(hostileText[rng.IntN(len(hostileText))])
			}
			return b.String()
		}
		return hostileText[rng.IntN(len(hostileText))]
	}
	l := accessLine{
		method: pick(), path: pick(), remote: pick(), host: pick(),
		status: rng.IntN(1000) - 1, duration: time.Duration(rng.Int64() - rng.Int64()), bytes: rng.Int64() - rng.Int64(),
		aborted: rng.IntN(2) == 0,
	}
	if rng.IntN(2) == 0 {
		l.route, l.service = pick(), pick()
		if l.route == "" {
			l.route = "r"
		}
	}
	if rng.IntN(2) == 0 {
		l.node, l.attempts = pick(), rng.IntN(10)+1
	}
	if rng.IntN(2) == 0 {
		l.granted, l.left = time.Duration(rng.Int64N(1<<40)+1), time.Duration(rng.Int64()-rng.Int64())
	}
	if rng.IntN(2) == 0 {
		l.requestID, l.hasRequestID = pick(), true
	}
	l.traceID = pick()
	return l
}

func randomTime(rng *rand.Rand) time.Time {
	var ns int
	switch rng.IntN(4) {
	case 0: // a whole second
	case 1:
		ns = rng.IntN(10) * 100_000_000
	case 2:
		ns = rng.IntN(1000) * 1000
	default:
		ns = rng.IntN(1_000_000_000)
	}
	sec := rng.Int64N(253402300799) // 0001-01-01 to 9999-12-31 in Unix seconds, give or take
	if rng.IntN(2) == 0 {
		sec = 1_700_000_000 + rng.Int64N(100_000_000)
	}
	return time.Unix(sec-62135596800*int64(rng.IntN(2)), int64(ns)).In(zones[rng.IntN(len(zones))])
}

func TestAccessJSONMatchesSlog(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	for i := range n {
		l := randomLine(rng)
		at := randomTime(rng)
		if i%2 == 1 {
			at = time.Now() // with its monotonic reading, as the access log's end has one
		}
		want := slogLine(t, at, &l)
		got, ok := appendAccessJSON(nil, at, &l)
		if y := at.Year(); !ok != (y < 0 || y >= 10000) {
			t.Fatalf("at %v: ok %v", at, ok)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("line %d at %v:\n got %q\nwant %q", i, at, got, want)
		}
	}
}

// TestJSONHandlerWritesWhatSlogWrites: through the handler, out-of-range
// years (which slog writes with an error) included, and records of other
// kinds, as slog.NewJSONHandler writes them.
func TestJSONHandlerWritesWhatSlogWrites(t *testing.T) {
	l := accessLine{method: "GET", path: "/a\nb", remote: "192.0.2.1:1", status: 200, hasRequestID: true, requestID: "x"}
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 5, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 1, zones[3]),
	} {
		var buf bytes.Buffer
		NewJSONHandler(&buf, nil).writeAccess(at, &l)
		if want := slogLine(t, at, &l); !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("at %v:\n got %q\nwant %q", at, buf.Bytes(), want)
		}
	}
	var got, want bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	slog.New(NewJSONHandler(&got, opts)).With("k", 1).Debug("m\x00", "a", []int{1})
	slog.New(slog.NewJSONHandler(&want, opts)).With("k", 1).Debug("m\x00", "a", []int{1})
	if g, w := stripTime(got.Bytes()), stripTime(want.Bytes()); !bytes.Equal(g, w) {
		t.Errorf("a record of its own:\n got %q\nwant %q", g, w)
	}
}

// stripTime drops a line's time field, which two writes cannot share.
func stripTime(line []byte) []byte {
	if i := bytes.Index(line, []byte(`","level"`)); bytes.HasPrefix(line, []byte(`{"time":"`)) && i > 0 {
		return line[i+2:]
	}
	return line
}

// TestAccessLogWritesTheSameLineThroughJSONHandler: the whole middleware,
// over either handler, with options the encoder cannot follow (the source
// added, an attribute replaced) included.
func TestAccessLogWritesTheSameLineThroughJSONHandler(t *testing.T) {
	replace := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "path" {
			a.Value = slog.StringValue("[path]")
		}
		return a
	}
	for _, opts := range []*slog.HandlerOptions{nil, {Level: slog.LevelInfo}, {AddSource: true}, {ReplaceAttr: replace}} {
		var lines [2][]byte
		for i := range lines {
			var buf bytes.Buffer
			var h slog.Handler = slog.NewJSONHandler(&buf, opts)
			if i == 1 {
				h = NewJSONHandler(&buf, opts)
			}
			t0 := time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)
			ticks := []time.Time{t0, t0.Add(1500 * time.Millisecond)}
			now := func() time.Time { tm := ticks[0]; ticks = ticks[1:]; return tm }
			mw := AccessLog(slog.New(h), now)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := w.(*Recorder)
				rec.NoteRoute("route\u2028", "svc")
				rec.NoteAttempt("10.0.0.1:80")
				rec.NoteAttempt("10.0.0.2:80")
				rec.NoteBudget(time.Second, t0.Add(time.Second))
				w.Header().Set("X-Request-Id", "id\"1")
				w.WriteHeader(http.StatusTeapot)
				_, _ = w.Write([]byte("tea"))
			}))
			req := httptest.NewRequest("PUT", "/p\xff/q", nil)
			req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			mw.ServeHTTP(httptest.NewRecorder(), req)
			// On a clock of the caller's, the line's time is when it was
			// written, as slog's LogAttrs takes it: not the two runs'.
			lines[i] = stripTime(buf.Bytes())
		}
		if !bytes.Equal(lines[0], lines[1]) {
			t.Errorf("options %+v:\nslog        %q\nJSONHandler %q", opts, lines[0], lines[1])
		}
	}
}

// TestJSONHandlerWritesOneLineAtATime: the access log's lines and the
// handler's other records, written at once from many goroutines to a
// writer that is not safe for concurrent use (the race detector watches
// it), come out whole.
func TestJSONHandlerWritesOneLineAtATime(t *testing.T) {
	var buf bytes.Buffer
	h := NewJSONHandler(&buf, nil)
	logger := slog.New(h)
	l := accessLine{method: "GET", path: strings.Repeat("/p", 200), remote: "192.0.2.1:1", status: 200}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 200 {
				if g%2 == 0 {
					h.writeAccess(time.Now(), &l)
				} else {
					logger.Info("other", "path", l.path)
				}
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("a line mixed with another: %q", line)
		}
	}
}

func FuzzAccessJSONMatchesSlog(f *testing.F) {
	f.Add("GET", "/hello", "127.0.0.1:1", "api.example.com", "r", "n", "id", "trace", 200, int64(1500), int64(1_700_000_000_123_456_789), 3600, uint8(0xff))
	f.Add("\x00", "\xff\u2028", `"\`, "", "", "", "", "", -1, int64(-1), int64(0), -50000, uint8(0))
	f.Fuzz(func(t *testing.T, method, path, remote, host, route, node, id, trace string, status int, d, unixNano int64, offset int, flags uint8) {
		l := accessLine{method: method, path: path, remote: remote, host: host, status: status, duration: time.Duration(d),
			bytes: d ^ unixNano, aborted: flags&1 != 0, traceID: trace}
		if flags&2 != 0 && route != "" {
			l.route, l.service = route, node
		}
		if flags&4 != 0 {
			l.node, l.attempts = node, int(flags>>4)+1
		}
		if flags&8 != 0 {
			l.granted, l.left = time.Duration(d&(1<<40))+1, time.Duration(-d)
		}
		if flags&16 != 0 {
			l.requestID, l.hasRequestID = id, true
		}
		at := time.Unix(0, unixNano).In(time.FixedZone("", offset%(18*3600)))
		got, ok := appendAccessJSON(nil, at, &l)
		if !ok {
			return
		}
		if want := slogLine(t, at, &l); !bytes.Equal(got, want) {
			t.Fatalf("\n got %q\nwant %q", got, want)
		}
	})
}

// TestPlainPrefixFindsEveryByteToEscape: every byte value at every place
// of an eight-byte word, after plain bytes of each value, against the
// byte-at-a-time definition.
func TestPlainPrefixFindsEveryByteToEscape(t *testing.T) {
	for c := range 256 {
		for _, fill := range []byte{' ', 'a', '~', 0x7f, '!', '#', '[', ']'} {
			for at := range 18 {
				s := strings.Repeat(string(fill), at) + string(rune(0)) + strings.Repeat(string(fill), 9)
				s = s[:at] + string([]byte{byte(c)}) + s[at+1:]
				want := 0
				for want < len(s) && jsonPlain[s[want]] {
					want++
				}
				if got := plainPrefix(s); got != want {
					t.Fatalf("byte %#x at %d among %q: plainPrefix %d, want %d", c, at, fill, got, want)
				}
			}
		}
	}
}
