package server

import "testing"

// fakeWaiter is a rawio.Conn's Waits whose count the test sets.
type fakeWaiter struct{ n uint32 }

func (f *fakeWaiter) Waits() uint32 { return f.n }

// A connection yields while its yields pay (the read after finds its data
// without waiting), stops for yieldBackoff idle waits after one that did
// not, then tries again; one whose reads rawio does not make never yields.
func TestYielderBacksOff(t *testing.T) {
	var none yielder
	if none.before() {
		t.Fatal("a connection without Waits yielded")
	}

	f := &fakeWaiter{}
	y := yielder{w: f}
	for i := range 3 { // paying yields: the reads did not wait
		if !y.before() {
			t.Fatalf("wait %d: no yield while yields pay", i)
		}
		y.after(true)
	}
	if !y.before() {
		t.Fatal("no yield before the one that does not pay")
	}
	f.n++ // the read after it waited
	y.after(true)
	for i := range yieldBackoff {
		if y.before() {
			t.Fatalf("yielded on wait %d of the %d after a yield that did not pay", i, yieldBackoff)
		}
		f.n++ // waits after no yield say nothing
		y.after(false)
	}
	if !y.before() {
		t.Fatalf("no yield after %d waits without", yieldBackoff)
	}
	y.after(true)
	if !y.before() {
		t.Fatal("no yield after one that paid")
	}
}
