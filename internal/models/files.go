package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // cover images may be uploaded as GIF
	_ "image/jpeg" // or JPEG
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	_ "golang.org/x/image/webp" // or WebP

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/models/probe"
	"github.com/invokego/invokego/internal/store"
)

// coverSize bounds the stored cover image, as InvokeAI keeps a 256-pixel thumbnail.
const coverSize = 256

func (s *Service) coverPath(key string) string {
	return filepath.Join(s.imagesDir, filepath.Base(key)+".png")
}

// CoverImage returns the PNG bytes of a model's cover image.
func (s *Service) CoverImage(ctx context.Context, key string) ([]byte, error) {
	if _, err := s.Get(ctx, key); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.coverPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apperr.NotFound("The model image could not be found")
	}
	return b, err
}

// SetCoverImage decodes an uploaded image, shrinks it to a thumbnail and stores it as PNG.
func (s *Service) SetCoverImage(ctx context.Context, key string, data []byte) (*Config, error) {
	if _, err := s.Get(ctx, key); err != nil {
		return nil, err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, apperr.UnsupportedMedia("Not an image")
	}
	if int64(cfg.Width)*int64(cfg.Height) > 64<<20 {
		return nil, apperr.UnsupportedMedia("Image is too large")
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, apperr.UnsupportedMedia("Not an image")
	}
	img = thumbnail(img, coverSize)
	if err := os.MkdirAll(s.imagesDir, 0o755); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	tmp := s.coverPath(key) + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, s.coverPath(key)); err != nil {
		return nil, apperr.Conflict("Could not save the model image").Wrap(err)
	}
	return s.Get(ctx, key)
}

// DeleteCoverImage removes a model's cover image.
func (s *Service) DeleteCoverImage(ctx context.Context, key string) error {
	if _, err := s.Get(ctx, key); err != nil {
		return err
	}
	err := os.Remove(s.coverPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return apperr.NotFound("The model image could not be found")
	}
	return err
}

// thumbnail scales img down (box filter) so that its longer side is at most max.
func thumbnail(img image.Image, max int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= max && h <= max {
		return img
	}
	nw, nh := max, h*max/w
	if h > w {
		nw, nh = w*max/h, max
	}
	if nw < 1 {
		nw = 1
	}
	if nh < 1 {
		nh = 1
	}
	out := image.NewNRGBA(image.Rect(0, 0, nw, nh))
	for y := 0; y < nh; y++ {
		y0, y1 := b.Min.Y+y*h/nh, b.Min.Y+(y+1)*h/nh
		for x := 0; x < nw; x++ {
			x0, x1 := b.Min.X+x*w/nw, b.Min.X+(x+1)*w/nw
			var r, g, bl, a, n uint64
			for yy := y0; yy < y1; yy++ {
				for xx := x0; xx < x1; xx++ {
					cr, cg, cb, ca := img.At(xx, yy).RGBA()
					r, g, bl, a, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca), n+1
				}
			}
			if n == 0 {
				continue
			}
			// Average premultiplied values, then un-premultiply for NRGBA.
			ar := a / n
			i := out.PixOffset(x, y)
			if ar > 0 {
				out.Pix[i+0] = uint8((r / n) * 0xffff / ar >> 8)
				out.Pix[i+1] = uint8((g / n) * 0xffff / ar >> 8)
				out.Pix[i+2] = uint8((bl / n) * 0xffff / ar >> 8)
			}
			out.Pix[i+3] = uint8(ar >> 8)
		}
	}
	return out
}

// FoundModel is one entry of a folder scan.
type FoundModel struct {
	Path        string `json:"path"`
	IsInstalled bool   `json:"is_installed"`
}

// maxScanEntries bounds a folder scan so a huge tree cannot stall the server.
const maxScanEntries = 200000

// ScanFolder finds model files and model folders under a path (InvokeAI's ModelSearch): a folder with a
// model_index.json or config.json is one model; otherwise weights files are models by themselves.
func (s *Service) ScanFolder(ctx context.Context, root string) ([]FoundModel, error) {
	root = filepath.Clean(root)
	st, err := os.Stat(root)
	if err != nil || !st.IsDir() {
		return nil, apperr.BadRequest(fmt.Sprintf("The search path '%s' does not exist or is not directory", root))
	}
	isInstalled, err := s.installedMatcher(ctx)
	if err != nil {
		return nil, err
	}
	out := []FoundModel{}
	seen := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable entries are skipped, as a search would
		}
		if seen++; seen > maxScanEntries {
			return filepath.SkipAll
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if p != root && (fileIn(p, "model_index.json") || fileIn(p, "config.json")) {
				out = append(out, FoundModel{Path: p, IsInstalled: isInstalled(p)})
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && (probe.IsWeightsFile(d.Name()) || strings.HasSuffix(d.Name(), ".gguf")) {
			out = append(out, FoundModel{Path: p, IsInstalled: isInstalled(p)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// installedMatcher reports whether a scanned path is installed: it equals a record's resolved path or its
// source, as InvokeAI compares both (a model copied into the models folder keeps the path it came from as
// its source).
func (s *Service) installedMatcher(ctx context.Context) (func(p string) bool, error) {
	all, err := s.List(ctx, store.ModelFilter{})
	if err != nil {
		return nil, fmt.Errorf("list installed models: %w", err)
	}
	known := map[string]bool{}
	for _, c := range all {
		known[filepath.Clean(s.AbsPath(c.Path))] = true
		if c.Source != "" {
			known[c.Source] = true
			if filepath.IsAbs(c.Source) {
				known[filepath.Clean(c.Source)] = true
			}
		}
	}
	return func(p string) bool {
		if known[p] {
			return true
		}
		abs, err := filepath.Abs(p)
		return err == nil && known[abs]
	}, nil
}

func fileIn(dir, name string) bool {
	st, err := os.Stat(filepath.Join(dir, name))
	return err == nil && !st.IsDir()
}

// Orphan is a folder (or file) in the models folder holding model files that no record references.
type Orphan struct {
	Path         string   `json:"path"`
	AbsolutePath string   `json:"absolute_path"`
	Files        []string `json:"files"`
	SizeBytes    int64    `json:"size_bytes"`
}

// Orphaned lists model files in the models folder that no record references, grouped by their install
// folder (<base>/<type>/<name>); a loose file is its own entry. Hidden folders (the download cache) are
// skipped.
func (s *Service) Orphaned(ctx context.Context) ([]Orphan, error) {
	installed, err := s.InstalledPaths(ctx)
	if err != nil {
		return nil, err
	}
	covered := func(p string) bool {
		for q := p; s.isInside(q) || q == s.modelsDir; q = filepath.Dir(q) {
			if installed[q] {
				return true
			}
			if q == s.modelsDir {
				break
			}
		}
		return false
	}
	units := map[string]*Orphan{}
	err = filepath.WalkDir(s.modelsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if d.IsDir() {
			if p != s.modelsDir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if installed[p] {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !(probe.IsWeightsFile(d.Name()) || d.Name() == "model_index.json" || strings.HasSuffix(d.Name(), ".gguf")) {
			return nil
		}
		if covered(p) {
			return nil
		}
		rel, _ := s.insideModels(p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		unitRel := rel
		if len(parts) >= 4 {
			unitRel = strings.Join(parts[:3], "/")
		}
		unitAbs := filepath.Join(s.modelsDir, filepath.FromSlash(unitRel))
		if _, ok := units[unitAbs]; !ok {
			units[unitAbs] = &Orphan{Path: filepath.ToSlash(unitRel), AbsolutePath: unitAbs, Files: []string{}}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]Orphan, 0, len(units))
	for abs, u := range units {
		_ = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					u.SizeBytes += info.Size()
				}
				rel, _ := filepath.Rel(abs, p)
				if rel == "." {
					rel = filepath.Base(p)
				}
				u.Files = append(u.Files, filepath.ToSlash(rel))
			}
			return nil
		})
		sort.Strings(u.Files)
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// DeleteOrphaned removes the listed orphans. Paths must be entries of the current orphan listing (relative
// or absolute), so nothing a record references and nothing outside the models folder can be deleted.
func (s *Service) DeleteOrphaned(ctx context.Context, paths []string) ([]string, map[string]string, error) {
	orphans, err := s.Orphaned(ctx)
	if err != nil {
		return nil, nil, err
	}
	byPath := map[string]Orphan{}
	for _, o := range orphans {
		byPath[o.Path] = o
		byPath[o.AbsolutePath] = o
	}
	deleted := []string{}
	errs := map[string]string{}
	for _, p := range paths {
		o, ok := byPath[p]
		if !ok {
			o, ok = byPath[filepath.Clean(p)]
		}
		if !ok {
			errs[p] = "Not an orphaned model path"
			continue
		}
		if err := os.RemoveAll(o.AbsolutePath); err != nil {
			errs[p] = err.Error()
			continue
		}
		s.pruneEmptyParents(filepath.Dir(o.AbsolutePath))
		deleted = append(deleted, p)
	}
	return deleted, errs, nil
}
