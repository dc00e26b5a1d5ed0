package router

import (
	"net/http"
	"strings"
)

// An answer is a stream when the client should see each part of it as the
// backend sends it rather than when the server's buffer fills: server-sent
// events, and any answer of unknown length (chunked, or delimited by the
// connection's close), whose backend may pause between writes for as long
// as it likes. These are httputil.ReverseProxy's rules for flushing at
// once. An answer with a Content-Length is copied with the server's
// buffering, at no cost of a flush per write.

// eventStream is the media type of server-sent events.
const eventStream = "text/event-stream"

// isStream reports whether resp is to be flushed write by write.
func isStream(resp *http.Response) bool {
	if resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	if resp.ContentLength < 0 {
		return true
	}
	ct := resp.Header["Content-Type"]
	if len(ct) == 0 || len(ct[0]) < len(eventStream) || !strings.EqualFold(ct[0][:len(eventStream)], eventStream) {
		return false
	}
	rest := ct[0][len(eventStream):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}
