package upstream

import (
	"sync/atomic"
	"time"
)

// An upload is no queue.
//
// A node's limit and its queue check count the attempts waiting for their
// answer (limit.go), and learn from each answer's round trip. An attempt
// whose request body the client is still sending has not reached the
// node's queue yet, and its round trip holds the client's upload: 40
// clients starting uploads of a second each at once, to a node that
// answers in 2 ms once it has the body, made other calls look over 3 s
// away, and a few in a hundred were refused 503 overloaded; and the limit
// learnt a 10 s upload to a node that then answered at once as a 10 s
// round trip (TestAnUploadIsNoQueue). So an attempt with a body counts
// as waiting only once its body has all been sent, and its round trip is
// taken from then. An attempt whose body never ended (the client left, the
// node answered before reading it all) teaches the limit nothing of a
// round trip it did not make, but an answer's round trip as it is.

// uploadWait counts an attempt with a body in its node's queue from the
// moment its body has been read to its end (bodyEnded) to the attempt's
// end (over). The transport may read the body on another goroutine.
type uploadWait struct {
	nl    *nodeLimit // nil without limits; set before the body is read
	now   func() time.Time
	at    atomic.Int64 // when the body ended (Unix ns on now's clock)
	state atomic.Int32 // uploading, waiting, over
}

const (
	uploading int32 = iota
	waitingAnswer
	attemptOver
)

// bodyEnded notes that the body has been read to its end.
func (w *uploadWait) bodyEnded() {
	if w.nl == nil || w.state.Load() != uploading {
		return
	}
	w.at.Store(w.now().UnixNano())
	if w.state.CompareAndSwap(uploading, waitingAnswer) {
		w.nl.waiting.Add(1)
	}
}

// over ends the count, when the attempt's answer's head came or it ended
// without one, and returns when the body ended, or false when it did not.
func (w *uploadWait) over() (time.Time, bool) {
	if w.nl == nil {
		return time.Time{}, false
	}
	if w.state.Swap(attemptOver) != waitingAnswer {
		return time.Time{}, false
	}
	w.nl.waiting.Add(-1)
	return time.Unix(0, w.at.Load()), true
}
