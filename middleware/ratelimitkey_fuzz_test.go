package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
)

// fuzzKeyRequest is one request of FuzzRateLimitKey: its peer, its
// X-Forwarded-For lines and values of the keyed header (each split at
// '\n'; empty: no field) and its verified subject (empty: none).
type fuzzKeyRequest struct{ remote, xff, header, subject string }

func (q fuzzKeyRequest) build(header string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = q.remote
	if q.xff != "" {
		r.Header["X-Forwarded-For"] = strings.Split(q.xff, "\n")
	}
	if q.header != "" && header != "" {
		for _, v := range strings.Split(q.header, "\n") {
			r.Header.Add(header, v)
		}
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, &Identity{Subject: q.subject}))
}

// keyedValue is what a key of kind k stands for, as ParseRateLimitKey's
// documentation says, written as text: the subject, or the header's value,
// when present on one line and not empty; else the client address (ClientIP,
// which FuzzClientIP holds to its promises), an IPv6 one by its /64, or the
// absence of an address, which no address stands for.
func keyedValue(k RateLimitKey, r *http.Request) string {
	switch k.kind {
	case keySubject:
		if id, _ := IdentityFrom(r.Context()); id.Subject != "" {
			return "subject " + id.Subject
		}
	case keyHeader:
		if v := r.Header.Values(k.header); len(v) == 1 && v[0] != "" {
			return "header " + v[0]
		}
	}
	a := k.proxies.ClientIP(r)
	switch {
	case !a.IsValid():
		return "no address"
	case a.Is6():
		return "address " + netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
	}
	return "address " + a.String()
}

// FuzzRateLimitKey: ParseRateLimitKey never panics, takes exactly "ip",
// "subject" and "header:NAME" (a name without space, tab or ':', in its
// canonical form), and, for the keys "ip", "subject", "header:X-Api-Key" and
// the fuzzed one, the keys built for two fuzzed requests are equal exactly
// when the values they stand for (keyedValue) are: across kinds too, since
// routes' policies may share a limiter. A key of at most keyBufLen bytes
// holds a long value by its hash, so equal keys for different values would
// mean a collision of SHA-256, or an ambiguity of the encoding. At the edge
// every one of these values is the client's to choose: an ambiguity lets a
// client draw from another's bucket (to exhaust it), or spread its own
// requests over buckets it makes up.
func FuzzRateLimitKey(f *testing.F) {
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8", "2001:db8::/32"})
	if err != nil {
		f.Fatal(err)
	}
	long := strings.Repeat("k", maxRawKey)
	for _, s := range []struct {
		spec string
		a, b fuzzKeyRequest
	}{
		{"ip", fuzzKeyRequest{"192.0.2.1:5", "", "", ""}, fuzzKeyRequest{"192.0.2.1:6", "", "", ""}},
		{"ip", fuzzKeyRequest{"[2001:db9::1]:5", "", "", ""}, fuzzKeyRequest{"[2001:db9::2:0:0:1]:5", "", "", ""}},
		{"ip", fuzzKeyRequest{"10.0.0.1:5", "6.6.6.6, 203.0.113.9", "", ""}, fuzzKeyRequest{"203.0.113.9:1", "", "", ""}},
		{"ip", fuzzKeyRequest{"[::ffff:192.0.2.1]:5", "", "", ""}, fuzzKeyRequest{"@", "", "", ""}},
		{"subject", fuzzKeyRequest{"192.0.2.1:5", "", "", "user-7"}, fuzzKeyRequest{"192.0.2.1:5", "", "", "user-8"}},
		{"subject", fuzzKeyRequest{"192.0.2.1:5", "", "", long}, fuzzKeyRequest{"192.0.2.1:5", "", "", long + "k"}},
		{"header:X-Api-Key", fuzzKeyRequest{"192.0.2.1:5", "", "key-1", ""}, fuzzKeyRequest{"192.0.2.1:5", "", "key-1\nkey-2", ""}},
		{"header: x-api-key ", fuzzKeyRequest{"192.0.2.1:5", "", "\nkey-2", ""}, fuzzKeyRequest{"192.0.2.1:5", "", "i\xc0\x00\x02\x01", ""}},
		{"header:X-Tenant", fuzzKeyRequest{"192.0.2.1:5", "", long + "h", ""}, fuzzKeyRequest{"192.0.2.1:5", "", "H" + long, ""}},
		{"header:", fuzzKeyRequest{}, fuzzKeyRequest{}},
		{"header:a b", fuzzKeyRequest{}, fuzzKeyRequest{}},
		{"IP", fuzzKeyRequest{}, fuzzKeyRequest{}},
	} {
		f.Add(s.spec, s.a.remote, s.a.xff, s.a.header, s.a.subject, s.b.remote, s.b.xff, s.b.header, s.b.subject)
	}
	fixed := []RateLimitKey{}
	for _, spec := range []string{"ip", "subject", "header:X-Api-Key"} {
		k, err := ParseRateLimitKey(spec, proxies)
		if err != nil {
			f.Fatal(err)
		}
		fixed = append(fixed, k)
	}
	f.Fuzz(func(t *testing.T, spec, remoteA, xffA, headerA, subA, remoteB, xffB, headerB, subB string) {
		keys := fixed
		k, err := ParseRateLimitKey(spec, proxies)
		name, isHeader := strings.CutPrefix(spec, "header:")
		name = strings.TrimSpace(name)
		valid := spec == "ip" || spec == "subject" || isHeader && name != "" && !strings.ContainsAny(name, " \t:")
		if (err == nil) != valid {
			t.Fatalf("ParseRateLimitKey(%q): %v", spec, err)
		}
		if err == nil {
			if isHeader && k.header != textproto.CanonicalMIMEHeaderKey(name) {
				t.Fatalf("ParseRateLimitKey(%q) keys header %q", spec, k.header)
			}
			keys = append(keys[:len(keys):len(keys)], k)
		}
		reqs := []fuzzKeyRequest{{remoteA, xffA, headerA, subA}, {remoteB, xffB, headerB, subB}}
		type built struct{ key, value string }
		var all []built
		for _, k := range keys {
			for _, q := range reqs {
				r := q.build(k.header)
				var buf [keyBufLen]byte
				key := k.append(buf[:0], r)
				if len(key) > keyBufLen {
					t.Fatalf("key of %d bytes", len(key))
				}
				all = append(all, built{string(key), keyedValue(k, r)})
			}
		}
		for i, x := range all {
			for _, y := range all[i+1:] {
				if (x.key == y.key) != (x.value == y.value) {
					t.Fatalf("keys %q and %q for %q and %q", x.key, y.key, x.value, y.value)
				}
			}
		}
	})
}

// TestRateLimitKeyNoAddress: a request whose peer address cannot be read
// (net/http's RemoteAddr on a Unix socket is "@" or empty) does not share
// the bucket of the IPv6 clients of ::/64, loopback ::1 included: the
// zero Addr's 16 bytes are those of "::".
func TestRateLimitKeyNoAddress(t *testing.T) {
	k, err := ParseRateLimitKey("ip", nil)
	if err != nil {
		t.Fatal(err)
	}
	none := k.append(nil, fuzzKeyRequest{remote: "@"}.build(""))
	for _, remote := range []string{"[::1]:5", "[::]:5", "[::2:3:4:5]:5"} {
		if key := k.append(nil, fuzzKeyRequest{remote: remote}.build("")); string(key) == string(none) {
			t.Errorf("peer %s has the key of no address, %q", remote, key)
		}
	}
}
