package budget

import (
	"math"
	"strconv"
	"time"
)

// GRPCHeaderName is the field gRPC uses for a call's timeout.
const GRPCHeaderName = "Grpc-Timeout"

// ParseGRPCTimeout decodes gRPC's grpc-timeout value: 1 to 8 ASCII digits and
// one unit of H (hours), M (minutes), S (seconds), m (milliseconds),
// u (microseconds) or n (nanoseconds). Values too large for a time.Duration
// saturate at its maximum.
func ParseGRPCTimeout(s string) (time.Duration, error) {
	if len(s) < 2 || len(s) > 9 {
		return 0, ErrGRPCSyntax
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, ErrGRPCSyntax
	}
	var v int64
	for i := 0; i < len(s)-1; i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, ErrGRPCSyntax
		}
		v = v*10 + int64(c-'0')
	}
	if v > int64(math.MaxInt64/unit) {
		return time.Duration(math.MaxInt64), nil
	}
	return time.Duration(v) * unit, nil
}

// AppendGRPCTimeout appends d in grpc-timeout form to dst, choosing the finest
// unit whose value fits in 8 digits and rounding down. A d of zero or less
// encodes as "0n".
func AppendGRPCTimeout(dst []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(dst, '0', 'n')
	}
	units := [...]struct {
		d time.Duration
		c byte
	}{
		{time.Nanosecond, 'n'}, {time.Microsecond, 'u'}, {time.Millisecond, 'm'},
		{time.Second, 'S'}, {time.Minute, 'M'}, {time.Hour, 'H'},
	}
	const maxValue = 99_999_999
	for _, u := range units {
		if v := d / u.d; v <= maxValue {
			dst = strconv.AppendInt(dst, int64(v), 10)
			return append(dst, u.c)
		}
	}
	// Unreachable: MaxInt64 nanoseconds is about 2.6 million hours.
	return append(dst, "99999999H"...)
}
