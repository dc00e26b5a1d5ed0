// Package h1 is a lean HTTP/1.1 client transport for the gateway's hot path.
//
// # Why
//
// A CPU profile of the gateway at GOMAXPROCS=1 shows that net/http's
// Transport spends about 20% of the CPU of a proxied request in its
// per-connection readLoop and writeLoop goroutines and the channel hand-offs
// between them and the caller (persistConn.roundTrip, selectgo, channel
// operations). Transport does the whole round trip in the caller's goroutine
// instead: take an idle connection (or dial one), write the request, flush,
// read the response header and return. The response body reads straight from
// the connection's buffered reader, and the connection goes back to the pool
// when the body reaches EOF. There are no per-connection goroutines and no
// channels on the hot path (a channel is used only to wait for a connection
// when a host is at its MaxConnsPerHost bound, and a request with a body
// that is not in memory is written from a goroutine of its own: see Errors).
//
// The protocol code is the standard library's: requests are written with
// (*http.Request).Write and responses parsed with http.ReadResponse, so
// framing (Content-Length, chunked bodies and trailers, close-delimited
// bodies, bodiless HEAD/204/304 answers, conflicting framing) behaves as in
// net/http. Informational answers (100, 103, ...) are handed to the
// request's httptrace.ClientTrace.Got1xxResponse, when it has one (the
// first 5; later ones are dropped), and otherwise skipped; 101 is final.
// An answer's header, its informational answers' included, is bounded by
// Transport.MaxResponseHeaderBytes, 64 KiB by default where net/http's
// transport allows 10 MiB: a backend's bytes are not trusted. A larger one
// fails the round trip, on this transport's connections and the default
// Fallback's alike.
//
// Two exceptions, for speed, each held to the standard library by a
// differential fuzz test. A request without a body (the common proxied
// GET) is written by writeRequest, which follows Request.Write's rules
// (request line, Host, User-Agent, Content-Length: 0 for POST, PUT and
// PATCH, excluded fields) without allocating; FuzzWriteRequest holds its
// output to Request.Write's. Anything else it declines (a body, Close,
// punycode or zoned hosts, httptrace hooks) goes to Request.Write.
//
// And the common answer is parsed by parseResponse, without net/textproto
// (whose line and value strings were the largest share of a response's
// allocations), into the Response http.ReadResponse would return (but for
// a "Connection: close" field, kept: see Differences), with four
// allocations instead of about ten (up to six field values): the response
// with its body and the round trip's wrapper of that body (conn.go), the
// header map, and one string for the whole header block,
// of which the status, keys and values are substrings (a value kept keeps
// the block, at most 4 KiB, alive). It takes an answer whose header is wholly in the connection's
// buffer, at most 4 KiB and 64 fields: "HTTP/1.1" or "HTTP/1.0", a status
// from 200 to 599 but 204 and 304, field lines of a token, a colon and
// visible ASCII, CRLF line ends, exactly one Content-Length of at most 18
// digits, at most one Connection field ("close" or "keep-alive"), to a
// request other than HEAD. Anything else it declines without consuming a
// byte, and ReadResponse reads it: 1xx answers, chunked and close-delimited
// bodies, Transfer-Encoding or Trailer fields, repeated Content-Length,
// obs-fold, bare LF, spaces before a colon, other bytes, a header split
// over reads. FuzzParseResponse holds it to ReadResponse: every field of the
// response, each Read and Close of the body, and the bytes consumed.
//
// # What it handles
//
// Plain "http" URLs over HTTP/1.1, any method except CONNECT, with no
// request body, http.NoBody, or a body of known or unknown length (sent
// chunked). Requests with Close set, or a "Connection: close" field, are sent
// with "Connection: close" and their connection is not reused. Like an
// http.Transport with DisableCompression and no Proxy, it neither asks for
// nor decodes gzip and uses no proxy. Request.Write adds
// "User-Agent: Go-http-client/1.1" when the request has none, as Transport
// does.
//
// # What it falls back for
//
// These requests go to Transport.Fallback (by default an *http.Transport
// with the same dialer, whose connections count against MaxConnsPerHost
// with this transport's, which keeps no plain-HTTP connection idle (see
// shared.go), and whose plain-HTTP answers keep their Connection fields
// as this transport's do (see fallbackconn.go)):
//
//   - any scheme other than "http" (https above all; an https request sent
//     under WithTLS goes to a transport of its tls.Config's and node's own,
//     which shares the Fallback's limits and taps: see tls.go);
//   - requests with "Expect: 100-continue";
//   - protocol upgrades: an Upgrade field, or "upgrade" in Connection;
//   - the CONNECT method;
//   - requests with Trailer set;
//   - by default, request bodies of unknown length or over 64 KiB: see
//     Transport.MaxInlineBody.
//
// # Connections
//
// Connections are pooled per req.URL.Host (":80" is implied), reused last-in
// first-out, bounded per host by MaxConnsPerHost (busy and idle; callers
// beyond it wait for a connection or for their context) and MaxIdlePerHost,
// and closed after IdleTimeout idle. A connection goes back to the pool only
// when the response body was read to EOF without error (or there was none),
// neither side asked to close, the body was not delimited by the
// connection's close, the request was written entirely, and no byte beyond
// the answer's end was already read.
//
// A pooled connection is checked before every reuse, whatever the request,
// with one non-blocking peek (recv with MSG_PEEK on Unix): if it received
// any byte while idle (a late second answer, a body sent with a 204 or a HEAD
// answer) or its end, it is closed and another is taken. A connection
// carries a request only if it has been silent since its last answer, so
// that no request reads an answer meant for another. http.Transport gets the
// same guarantee from a goroutine reading each idle connection; the peek
// costs one system call per reuse instead. Where it cannot be made (a conn
// that is not a syscall.Conn, or a platform other than Unix), connections
// are not reused at all. A server may still close a connection between the
// check and the request: see the retry in Transport.RoundTrip. So a
// connection is retired before the idle time its server states (Keep-Alive:
// timeout=N), and a request that could not be sent again (a POST) takes
// only a connection idle for less than a second, else a fresh one: see
// idle.go.
//
// On Linux (a TCP connection, which package rawio makes a
// rawio.Exchanger), the peek is part of the request's send: a request
// built in memory (no body, or a body in memory of at most 4 KiB) goes out
// by exchange, which peeks, sends and, once the poller says the answer is
// there, reads it, in one syscall.RawConn.Read, so that no read returns
// EAGAIN and the check is made right before the send rather than when the
// pool hands the connection out. A connection that fails it was closed
// having sent nothing, and another is taken, as the pool does with one that
// fails its peek; a request with a body is checked before its body is read.
// Other requests, and connections that are not Exchangers, are peeked at
// by the pool, then written and read as before. See exchange.go.
//
// # System calls
//
// On the upstream socket, a round trip on a reused connection makes three
// system calls by exchange: the peek (which finds nothing: EAGAIN), the
// sendto of the request and one read of the answer. Before, it made the
// peek, the sendto, and most often a read that found nothing yet before the
// goroutine parked, then the read of the answer. TestSyscallsPerRoundTrip
// counts them with strace for sequential GETs: 3.00 per round trip by
// exchange (under strace's slowdown the old way's useless reads are rarer
// than in real operation: 3.02 to 3.32). Counted on the whole gateway
// (bench/load.sh's "sluice" config, GOMAXPROCS=1, bench/rate at 1,000
// requests/s for 5 s, three runs of each, medians, on a machine other
// processes kept busy):
//
//	strace -f -c -p $(pidof gateway)
//
// reads per request went from 4.47 to 3.61, of which EAGAIN from 2.01 to
// 1.15 (the rest are the client side's), and all system calls from 11.2 to
// 9.7 (9.8 to 9.0 without the runtime's nanosleep and futex, which vary
// with the load). The CPU of h1 alone, in a process of its own against a
// canned backend, pinned, GOMAXPROCS=1, with 16 round trips in flight:
// 16.25 µs per round trip instead of 18.25, then 14.75 instead of 16.25
// (medians of two series of 10 and 12 interleaved runs: -11 and -9 %);
// sequential round trips, each of which parks and wakes the process, cost
// 66 µs either way, the difference lost in that noise.
//
// # Errors
//
// The request's context bounds the whole round trip, body reads included:
// its deadline becomes the connection's, and its cancellation interrupts any
// read or write in progress. A lean context (internal/leanctx: the
// gateway's request and budget contexts), which arms no timer for its
// deadline, is not asked for Done on a pooled connection (a dial, which
// waits on Done, arms its timer): the round trip registers with it
// (leanctx's Register, with no allocation, instead of context.AfterFunc),
// and the connection's own timer, the one RoundTripBy uses, closes it at the
// context's deadline. Errors caused by the context ending satisfy
// errors.Is(err, ctx.Err()). Transport.RoundTripBy adds a deadline of the
// round trip's own (the upstream client's per-try timeout), kept by a timer
// of the connection's that closes it when the deadline passes, rather than
// in a context made per round trip: it behaves as that context would, its
// errors wrapping context.DeadlineExceeded. Errors of a round trip that wrote no byte of the
// request to any connection wrap ErrNothingWritten, so that the caller may
// send the request elsewhere whatever its method. A reused connection that
// the server had closed is retried once on a fresh connection when that is
// safe (see Transport.RoundTrip). A response body cut short (a
// Content-Length or chunked body that ends early, a malformed chunk) fails
// its Read with an error, never io.EOF. When the request's body fails to
// read, RoundTrip's error wraps the body's error (errors.As finds it, as with
// http.Transport, which returns it as is) but not ErrNothingWritten, the
// request is not retried and the connection is closed. A request body's
// Read that blocks (a client that stalls its upload) cannot be interrupted:
// a request whose body has no GetBody (one that is not in memory, such as a
// proxied client's) is written from a goroutine of its own, which RoundTrip
// leaves behind when the context ends first, returning the context's error
// and closing the connection; the goroutine ends when that Read returns, as
// http.Transport's writer does. A body with GetBody is read inline.
//
// # Differences from http.Transport
//
// The request is written entirely before the response is read, so an answer
// a server sends early (a 413 while the body is still uploading) is seen only
// if the server also reads the rest of the body, or closes the connection:
// a write that the server's reset fails (ECONNRESET, EPIPE) is followed by a
// read of the answer it sent before, which is returned (the connection is
// then not reused), and the round trip fails with the write's error only
// when there is none. http.Transport, which reads while it writes, fails
// such a round trip when its write fails first; the default Fallback's
// conns hold that write until the transport has read the answer
// (fallbackconn.go's tapConn.Write). A server that neither reads nor closes
// holds the round trip until its deadline. A response with both
// Content-Length and "Transfer-Encoding: chunked" is read as chunked, as
// net/http does. An answer whose status line's code is below 100 ("000",
// "099", "+99", which http.ReadResponse takes) fails the round trip as a
// malformed one: no status is below 100, and no ResponseWriter can pass one
// on. Request.Cancel is ignored: use the context. PUT and DELETE
// count as idempotent for the retry of a stale connection. An answer's
// Connection fields are kept in its Header, where http.ReadResponse
// deletes them when they hold "close": they name the fields a proxy must
// not forward ("Connection: close, X-Hop"), which the gateway's router
// leaves out only if it sees them (see connfield.go); so do the plain-HTTP
// answers of the default Fallback (fallbackconn.go), whose round trip fails
// when they cannot be read again.
package h1
