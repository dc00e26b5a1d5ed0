package source

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// TestKVWatcherDoesNotGoBackToTheCopyOfAServerWithoutALeader: the watch
// read version 20 (from the leader, say); its next query lands on a server
// cut off from the others, whose copy still holds version 10 and which
// knows no leader. That answer is a watch error, not a version: the
// gateway keeps serving 20 (it went back to 10, on every replica whose
// agent asked that server, until the partition healed). Once a server
// that knows a leader answers, the watch goes on from there, and follows
// an index that goes back on it (a restored snapshot).
func TestKVWatcherDoesNotGoBackToTheCopyOfAServerWithoutALeader(t *testing.T) {
	r := startKV(t, 0)
	c := r.next()
	c.reply <- kvReply{pair: pair(20, "v20"), meta: &api.QueryMeta{LastIndex: 20, KnownLeader: true}}
	c = r.next()
	if d := r.delivered(); len(d) != 1 || string(d[0].text.Data) != "v20" {
		t.Fatalf("delivered %+v, want v20", d)
	}
	// The server that answered dies; the agent asks the cut-off one.
	c.reply <- kvReply{err: errors.New("connection reset")}
	if err := <-r.errs; err == nil || errors.Is(err, ErrBehind) {
		t.Fatalf("the error handler got %v, want the reset", err)
	}
	<-r.timers
	r.fire <- time.Now()
	c = r.next()
	c.reply <- kvReply{pair: pair(10, "v10"), meta: &api.QueryMeta{LastIndex: 15}}
	if err := <-r.errs; !errors.Is(err, ErrBehind) {
		t.Fatalf("the cut-off server's answer gave the error %v, want ErrBehind", err)
	}
	<-r.timers
	if d := r.delivered(); len(d) != 0 {
		t.Fatalf("the copy of a server without a leader was delivered: %+v", d)
	}
	r.fire <- time.Now()
	// The partition heals: the same version, from a server with a leader.
	c = r.next()
	c.reply <- kvReply{pair: pair(20, "v20"), meta: &api.QueryMeta{LastIndex: 21, KnownLeader: true}}
	c = r.next()
	if err := <-r.errs; err != nil {
		t.Fatalf("recovery told the error handler %v, want nil", err)
	}
	if d := r.delivered(); len(d) != 0 {
		t.Fatalf("the version held was delivered again: %+v", d)
	}
	// A snapshot restored: the index goes back on a server with a leader.
	c.reply <- kvReply{pair: pair(8, "v8"), meta: &api.QueryMeta{LastIndex: 9, KnownLeader: true}}
	r.next()
	if d := r.delivered(); len(d) != 1 || string(d[0].text.Data) != "v8" {
		t.Fatalf("after a restore delivered %+v, want v8", d)
	}
}
