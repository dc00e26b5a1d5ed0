package middleware

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Encoders are kept in a pool per coding and level, reset onto each answer:
// building one costs far more than the answers it encodes (zstd's and
// brotli's tables, gzip's window). Their windows are kept small, 512 KiB,
// since an API answer rarely gains from more and every encoder in use holds
// its window: zstd's is within the 8 MiB that RFC 9659 lets HTTP clients
// refuse beyond, and zstd runs on the answer's goroutine only.

// encoder is what the three codings' writers have in common.
type encoder interface {
	io.Writer
	Flush() error
	Close() error
	Reset(io.Writer)
}

// compressLevels maps the levels of CompressLevels (fastest, default,
// best) to each coding's own: gzip 1, 5, 9; brotli 1, 3, 6 (brotli in Go
// is the slowest of the three: at quality 3 a 1 MiB JSON answer compresses
// at about 100 MB/s on one core, twice as fast as at 4 for 20 % more bytes;
// its 10 and 11 are far too slow for answers made on the fly); zstd's
// fastest, default and "better" speeds (its "best" costs several times the
// memory).
var compressLevels = [numCodings][3]int{
	codingZstd:   {int(zstd.SpeedFastest), int(zstd.SpeedDefault), int(zstd.SpeedBetterCompression)},
	codingBrotli: {1, 3, 6},
	codingGzip:   {gzip.BestSpeed, 5, gzip.BestCompression},
}

// encoderWindowLog is the base-2 logarithm of the encoders' windows.
const encoderWindowLog = 19

// encoderPool holds idle encoders of one coding and level.
type encoderPool struct{ p *sync.Pool }

func newEncoderPool(alg coding, level int) encoderPool {
	lv := compressLevels[alg][level]
	var mk func() any
	switch alg {
	case codingZstd:
		mk = func() any {
			e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevel(lv)), zstd.WithEncoderConcurrency(1),
				zstd.WithWindowSize(1<<encoderWindowLog), zstd.WithLowerEncoderMem(true))
			if err != nil { // the options are constants: this cannot happen
				panic(err)
			}
			return encoder(e)
		}
	case codingBrotli:
		mk = func() any {
			return encoder(brotli.NewWriterOptions(nil, brotli.WriterOptions{Quality: lv, LGWin: encoderWindowLog}))
		}
	default:
		mk = func() any {
			e, err := gzip.NewWriterLevel(nil, lv)
			if err != nil { // the levels are constants: this cannot happen
				panic(err)
			}
			return encoder(e)
		}
	}
	return encoderPool{p: &sync.Pool{New: mk}}
}

// get returns an encoder writing to w.
func (p encoderPool) get(w io.Writer) encoder {
	e := p.p.Get().(encoder)
	e.Reset(w)
	return e
}

// put returns e to the pool, detached from its writer.
func (p encoderPool) put(e encoder) {
	e.Reset(io.Discard)
	p.p.Put(e)
}

// encodersInUse counts the encoders that answers hold, in the whole
// process: every Compress (every route's, and those of configurations
// since replaced, whose answers may still be streaming) draws on it, so
// that MaxEncoders bounds what the gateway holds, not what one route does.
// Idle encoders in the pools are not counted: sync.Pool lets the garbage
// collector take them.
var encodersInUse atomic.Int64

// acquireEncoder counts one more encoder in use and reports true, or
// reports false when c.maxEncoders are in use already. It never waits: an
// answer refused one goes uncompressed at once.
func (c *Compress) acquireEncoder() bool {
	for {
		n := c.inUse.Load()
		if n >= c.maxEncoders {
			return false
		}
		if c.inUse.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// releaseEncoder counts one encoder less in use.
func (c *Compress) releaseEncoder() { c.inUse.Add(-1) }
