package router

import "testing"

// TestCopyBufHoldsTheSmallBufferWhileIdle: a copy loop reads into its own
// small buffer until a read fills it, then into a large pooled one while
// reads come in bulk, and back into the small one, the large one given
// back, after a read that the small one would have held: the read that
// waits for an idle tunnel's next bytes holds smallBuf, not largeBuf. The
// large buffer is given back only at the next get, after the bytes read
// into it were written.
func TestCopyBufHoldsTheSmallBufferWhileIdle(t *testing.T) {
	var b copyBuf
	steps := []struct {
		read int // what the read into get's buffer returned
		want int // the length of the buffer get returns next
	}{
		{0, smallBuf},            // the first read waits with the small buffer
		{10, smallBuf},           // a few bytes: still the small one
		{smallBuf, largeBuf},     // a full small buffer: bulk, the large one
		{largeBuf, largeBuf},     // bulk goes on
		{smallBuf, largeBuf},     // as much as the small one holds: still bulk
		{smallBuf - 1, smallBuf}, // it slows: back to the small one
		{0, smallBuf},
	}
	if got := len(b.get()); got != smallBuf {
		t.Fatalf("first get: %d bytes, want %d", got, smallBuf)
	}
	for i, s := range steps {
		held := b.large
		b.read(s.read)
		if b.large != held {
			t.Fatalf("step %d: read changed the buffer the bytes it read are in", i)
		}
		if got := len(b.get()); got != s.want {
			t.Fatalf("step %d: after a read of %d, get gave %d bytes, want %d", i, s.read, got, s.want)
		}
		if (b.large != nil) != (s.want == largeBuf) {
			t.Fatalf("step %d: holds a large buffer %v, want %v", i, b.large != nil, s.want == largeBuf)
		}
	}
	b.read(largeBuf)
	b.get()
	b.release()
	if b.large != nil {
		t.Fatal("release kept the large buffer")
	}
}
