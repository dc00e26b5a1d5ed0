// Package server is the gateway's lean HTTP/1.x server: the half of a
// proxied request that net/http's http.Server did before.
//
// # Why
//
// With the client half made lean (package upstream/h1), net/http's server
// became the largest part of the gateway's CPU that is not a system call:
// per request it starts a goroutine that reads the connection in the
// background (to notice a client leaving), sets and clears deadlines around
// it, builds a per-request response with a chunking writer and a pooled
// buffered writer, formats the Date field anew, and sorts the header fields
// to write them. Server keeps what matters of that and pays for the rest only
// when it is used.
//
// # What it shares with net/http
//
// Requests are parsed by http.ReadRequest, the same code net/http's server
// uses, so the framing of requests (Content-Length, chunked bodies and their
// trailers, conflicting or duplicate lengths, header syntax) is net/http's.
// The common request (HTTP/1.1, an origin-form target without escapes, one
// Host field, plain field lines, no body or one of a declared length, its
// header already buffered) is read by readFast instead, into the request
// http.ReadRequest would have made, in fewer allocations and with its
// context from the start; it consumes nothing of any other, which
// http.ReadRequest then reads (see reqparse.go; FuzzReadFast holds the two
// to the same result). Since readFast reads only what is already buffered,
// the header limit below applies to both alike. On top, Server checks what net/http's server
// checks, whichever read the request: the Host field (present on HTTP/1.1,
// well formed), field names, the major version; and it answers 501 or 400
// as net/http does, by the type of http.ReadRequest's error (framing.go).
// Its limits and timeouts are net/http's to the byte and the moment (but for
// IdleTimeout's grain, below): the header limit is MaxHeaderBytes plus 4096
// bytes of slop, counted in bytes read from the connection, from its first
// byte for the first request and, for a later one, once 4 bytes of it came
// (so a later request may have up to 4 KiB more, as with net/http); the
// first request's header is due ReadHeaderTimeout after the accept, a later
// one's ReadHeaderTimeout after its first bytes, which IdleTimeout waits
// for; a connection that sends 1 to 3 bytes of a later request and then ends
// gets no answer. The read and write deadlines a handler sets through
// http.ResponseController end with its request.
// Answers follow net/http's rules: the handler's Content-Length is used when
// it sets one; an answer that ends within 4 KiB gets a computed length;
// longer ones are chunked on HTTP/1.1 and delimited by closing on HTTP/1.0;
// HEAD, 1xx, 204 and 304 carry no body; a missing Content-Type is sniffed
// with http.DetectContentType from the body's first 512 bytes, or from all
// it wrote before it flushed or returned when that is less (small writes
// are held for it even under a declared length, as net/http's buffer holds
// them); trailers are sent when declared with the
// "Trailer" field or named with http.TrailerPrefix; "100 Continue" is sent
// on the first read of a body whose client expects it; a body the handler
// left unread is discarded, up to 256 KiB, to keep the connection, or the
// connection is closed once what the client still sends was drained (for
// up to half a second, net/http's linger), so that the close does not reset
// the connection and destroy the end of the answer (also when the answer
// closes the connection anyway). A handler that panics (http.ErrAbortHandler
// included) ends its connection without the rest of its answer: no
// terminating chunk, no length computed from what it had written. The
// ResponseWriter implements http.Flusher, http.Hijacker (whose reader holds
// every byte read ahead, the watch's included), and what
// http.ResponseController looks for.
//
// FuzzRequest, a differential fuzz test, holds the two servers to the same
// answers, past the header limits too, but for the differences below;
// FuzzAnswer holds them to the same answers for the same handler (a script
// of statuses, header fields, writes and flushes the fuzzer writes, careless
// and hostile ones included), and this server's answers to being readable
// by http.ReadResponse whatever the handler did.
//
// # Where it differs
//
//   - Noticing a client that left (which cancels the request's context)
//     starts only once a request has run for Server.WatchAfter (10 ms by
//     default), and at most an eighth of it later, instead of on every
//     request: see watch.go and watchsweep.go. A client that
//     leaves during a shorter request is noticed when its answer is written.
//     A read deadline the handler set that fires while the watch reads is
//     taken for the client leaving, as by net/http, unless the handler has
//     cleared it or moved it later since.
//   - A kept-alive connection idle for IdleTimeout is closed up to a grain
//     later than net/http closes it, never sooner: a 64th of IdleTimeout, at
//     most a second. Its idle deadline is left on the socket while it is
//     within the grain, so that a busy connection sets it once per grain
//     instead of once per request (see deadline.go).
//   - The read and write deadlines a handler sets through
//     http.ResponseController reach the socket at once only when a read or
//     write is under way; else just before the next one, which they bound
//     as they would have. So a deadline set and cleared around writes the
//     buffer takes costs nothing, and an error setting one (on a connection
//     already closed) comes with that read or write, not from the call.
//   - Its own error answers (400, 417, 431, 501, 505) are problem bodies
//     (application/problem+json), like every other error of the gateway.
//   - A request with both Content-Length and Transfer-Encoding is refused
//     with 400 and its connection closed (RFC 9112, section 6.3), and an
//     HTTP/1.0 request with Transfer-Encoding is served and its connection
//     closed (section 6.1); net/http's server serves both and keeps the
//     connection, which lets a request hidden in the body through when a
//     proxy in front reads the other length. See framing.go.
//   - The tokens "close" and "keep-alive" of the Connection field, and
//     "100-continue" of Expect, are looked for in the comma-separated lists
//     of RFC 9110 (every Connection line; the first Expect line), where
//     net/http searches the first line leniently, with a space separating
//     tokens too ("Connection: 0 keep-alive" keeps an HTTP/1.0 connection
//     there, not here).
//   - Only HTTP/1.x: an HTTP/2 preface is answered 505 (net/http passes
//     "PRI * HTTP/2.0" to the handler). There is no TLS; the gateway
//     terminates none.
//   - An HTTP/1.1 request with an empty Host field is refused, like one
//     without, and one in absolute form without a Host field is accepted
//     with the target's authority: http.ReadRequest drops the Host field,
//     so the two cases cannot be told apart.
//   - HTTP/1.0 clients get no 1xx answers (RFC 9110, section 15.2), and no
//     1xx answer carries the handler's Connection field.
//   - A framing field a handler set in the map under a non-canonical name
//     ("content-length", "Transfer-encoding", "CONNECTION") is not sent:
//     net/http sends it beside its own framing, two lengths or codings a
//     client or a proxy between them may each read its own way. Nor is the
//     second of two Content-Length values, nor the handler's own
//     Transfer-Encoding (net/http sends both, and its client refuses both).
//   - An answer ending within 4 KiB gets a length where net/http's, past
//     2 KiB, is chunked (or, to HTTP/1.0, ends with the connection); so is
//     one whose handler set a Content-Length that is no number, or a Trailer
//     field that names no trailer a client would take.
//   - The request's context does not carry http.ServerContextKey.
//   - Shutdown closes at once a new connection on which no byte came yet;
//     net/http's leaves it 5 seconds to send its first request.
//
// For listeners that net/http's server runs, NetHTTP brings its error
// answers and its handling of chunked requests close to this server's (see
// nethttp.go for what remains).
//
// # Connections
//
// One goroutine per connection reads a request, runs the handler and writes
// the answer, which goes out in one write when it fits the 4 KiB buffer.
// Buffers are pooled. Deadlines reach the socket only when a read or write
// needs them (deadline.go): a kept-alive request whose header comes whole in
// one read sets none, the header deadline being wanted only for a header
// that comes in pieces, and a deadline left stale on the socket (the idle
// one while a body is read, say) is replaced before anything is read under
// it. Reads and writes go through package rawio, which spares the
// scheduler's system-call bookkeeping. Shutdown closes the
// listeners and the idle connections, lets requests in flight finish (their
// answers say "Connection: close"), and returns once all are closed.
package server
