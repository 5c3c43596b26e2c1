package pickle

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxPickleBytes bounds the pickle inside a checkpoint; real state-dict pickles are a few megabytes.
const MaxPickleBytes = 256 << 20

// ReadTorch decodes the main object of a torch.save file: the zip format (torch ≥ 1.6), whose data.pkl
// holds it, or the legacy sequence of pickles. Tensor data is not read; the returned *Tensor values name
// their storages.
func ReadTorch(r io.ReaderAt, size int64) (any, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, errors.New("file too small")
	}
	if !bytes.Equal(magic[:], []byte("PK\x03\x04")) {
		n := min(size, MaxPickleBytes)
		data := make([]byte, n)
		if _, err := r.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return unpickleLegacy(data)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, err
	}
	var entry *zip.File
	for _, zf := range zr.File {
		if zf.Name == "data.pkl" || strings.HasSuffix(zf.Name, "/data.pkl") {
			entry = zf
			break
		}
	}
	if entry == nil {
		return nil, errors.New("no data.pkl in the archive")
	}
	if entry.UncompressedSize64 > MaxPickleBytes {
		return nil, fmt.Errorf("data.pkl is too large")
	}
	rc, err := entry.Open()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, MaxPickleBytes+1))
	rc.Close()
	if err != nil {
		return nil, err
	}
	return Unpickle(data, DefaultLimits)
}

// unpickleLegacy decodes the main object of the legacy format, which has three pickles before it (magic
// number, protocol version, system info).
func unpickleLegacy(data []byte) (any, error) {
	pos := 0
	for i := 0; i < 3; i++ {
		u := &unpickler{data: data[pos:], memo: map[int64]any{}, limits: DefaultLimits}
		if _, err := u.run(); err != nil {
			return nil, err
		}
		pos += u.pos
	}
	return Unpickle(data[pos:], DefaultLimits)
}
