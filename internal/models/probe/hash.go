package probe

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"lukechampine.com/blake3"
)

// weightExtensions are the files InvokeAI's ModelHash includes when hashing a folder.
var weightExtensions = []string{".ckpt", ".safetensors", ".bin", ".pt", ".pth"}

// IsWeightsFile reports whether a file name has a model-weights extension.
func IsWeightsFile(name string) bool {
	return slices.ContainsFunc(weightExtensions, func(ext string) bool { return strings.HasSuffix(name, ext) })
}

// Hash computes InvokeAI's model hash: "blake3:" + the BLAKE3 hex digest of a file; for a folder, the BLAKE3
// of the concatenated hex digests of its weight files, taken in path-component order (Python's sorted() on
// Path objects). progress, if not nil, is called with the bytes hashed so far.
func Hash(ctx context.Context, path string, progress func(done int64)) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	var done int64
	report := func(n int64) {
		done += n
		if progress != nil {
			progress(done)
		}
	}
	if !st.IsDir() {
		h, err := hashFile(ctx, path, report)
		if err != nil {
			return "", err
		}
		return "blake3:" + h, nil
	}
	var files [][]string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && IsWeightsFile(d.Name()) {
			rel, err := filepath.Rel(path, p)
			if err != nil {
				return err
			}
			files = append(files, strings.Split(filepath.ToSlash(rel), "/"))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("list %s: %w", path, err)
	}
	slices.SortFunc(files, slices.Compare[[]string])
	composite := blake3.New(32, nil)
	for _, parts := range files {
		h, err := hashFile(ctx, filepath.Join(append([]string{path}, parts...)...), report)
		if err != nil {
			return "", err
		}
		composite.Write([]byte(h))
	}
	return "blake3:" + hex.EncodeToString(composite.Sum(nil)), nil
}

func hashFile(ctx context.Context, path string, report func(int64)) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := blake3.New(32, nil)
	buf := make([]byte, 4<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			report(int64(n))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", path, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
