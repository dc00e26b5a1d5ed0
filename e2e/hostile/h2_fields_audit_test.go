package hostile

import (
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// h2FieldSpellings: what HTTP/2 lets a client spell otherwise than an
// HTTP/1.1 client reaches the backend as the HTTP/1.1 request would. Cookie
// crumbs (one cookie field a pair, RFC 9113 8.2.3) arrive as one Cookie
// field joined with "; "; a header block cut into one-byte CONTINUATION
// frames is served as the same block in one frame is; and a dynamic
// table larger than the gateway's 4 KiB (an HPACK size update past its
// SETTINGS_HEADER_TABLE_SIZE) ends the connection with COMPRESSION_ERROR,
// holding nothing.
func h2FieldSpellings(t *testing.T, s *h2Stack) {
	h := s.dial(t)
	if a := h.get(1, "/up/crumbs", "cookie", "a=1", "cookie", "b=2", "cookie", "c=3"); a.status != 200 {
		t.Fatalf("cookie crumbs: %v", a)
	}
	if seen := s.echo.matching("/up/crumbs"); len(seen) != 1 {
		t.Errorf("cookie crumbs: the backend saw %d requests, want 1", len(seen))
	} else if got := seen[0].Header.Values("Cookie"); len(got) != 1 || got[0] != "a=1; b=2; c=3" {
		t.Errorf("cookie crumbs: the backend saw Cookie %q, want one field \"a=1; b=2; c=3\"", got)
	}

	blk := h.block(":method", "GET", ":scheme", "http", ":authority", "gw.test", ":path", "/up/tiny-frames",
		"x-pad", strings.Repeat("p", 8000))
	if err := h.write(func(fr *http2.Framer) error {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: blk[:1], EndStream: true}); err != nil {
			return err
		}
		for i := 1; i < len(blk); i++ {
			if err := fr.WriteContinuation(3, i == len(blk)-1, blk[i:i+1]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if a := h.wait(3); a.status != 200 || len(s.echo.matching("/up/tiny-frames")) != 1 {
		t.Errorf("a header block in %d one-byte frames: %v, want the backend's 200", len(blk), a)
	}

	big := s.dial(t)
	big.enc.SetMaxDynamicTableSizeLimit(1 << 20)
	big.enc.SetMaxDynamicTableSize(1 << 20)
	big.get(1, "/up/big-table", "x-a", strings.Repeat("a", 100))
	how, closed := big.waitClosed(hangLimit)
	t.Logf("a dynamic table of 1 MiB: %s", how)
	if !closed || !strings.Contains(how, "COMPRESSION_ERROR") {
		t.Errorf("a dynamic table of 1 MiB: %q, want the connection ended with COMPRESSION_ERROR", how)
	}
	if n := len(s.echo.matching("/up/big-table")); n > 0 {
		t.Errorf("the request with a table past the bound reached the backend (%d)", n)
	}
}
