package tlscert

import (
	"crypto/tls"
	"fmt"
	"io"
)

// MaxFileBytes bounds a certificate, key or CA bundle file. The largest in
// common use, a system's whole CA bundle, is some 200 KiB.
const MaxFileBytes = 1 << 20

// ReadFile reads a PEM file of at most limit bytes. It refuses what is not
// a regular file: the files are named by an operator, and a slip such as
// /dev/zero, /dev/stdin or a named pipe would otherwise hold a
// configuration load or a reload forever, or fill memory. The file is
// opened without waiting and checked as opened, not before: a check by
// name, then an open, would let a file swapped for a pipe in between hold
// the open.
func ReadFile(name string, limit int64) ([]byte, error) {
	f, err := openNoWait(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return data, nil
}

// LoadPair is tls.LoadX509KeyPair, with both files read by ReadFile.
func LoadPair(p Pair) (tls.Certificate, error) {
	cert, err := ReadFile(p.CertFile, MaxFileBytes)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ReadFile(p.KeyFile, MaxFileBytes)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(cert, key)
}
