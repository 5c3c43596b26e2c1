package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/models/probe"
	"github.com/invokego/invokego/internal/store"
)

// ErrDuplicate marks a refusal because the model is already installed (InvokeAI's DuplicateModelException).
var ErrDuplicate = errors.New("model already installed")

// Service holds the model records and the models folder.
type Service struct {
	db *store.DB
	// modelsDir is the absolute models folder; relative record paths are relative to it.
	modelsDir string
	// imagesDir holds cover images, outside the models folder so they never look like orphaned models.
	imagesDir string
	logger    *slog.Logger
	now       func() time.Time
	// Unload, when set, drops a model from the cache before its record or files change.
	Unload func(key string)
}

// Options configure a Service.
type Options struct {
	ModelsDir string
	ImagesDir string
	Logger    *slog.Logger
	Now       func() time.Time
}

// NewService builds the records service.
func NewService(db *store.DB, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, modelsDir: opts.ModelsDir, imagesDir: opts.ImagesDir, logger: opts.Logger, now: opts.Now}
}

// ModelsDir is the absolute models folder.
func (s *Service) ModelsDir() string { return s.modelsDir }

// AbsPath resolves a record's path.
func (s *Service) AbsPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(s.modelsDir, filepath.FromSlash(p))
}

// RecordPath is how a path is stored: relative (slash-separated) inside the models folder, absolute outside.
func (s *Service) RecordPath(abs string) string {
	if rel, ok := s.insideModels(abs); ok {
		return filepath.ToSlash(rel)
	}
	return abs
}

func (s *Service) insideModels(abs string) (string, bool) {
	rel, err := filepath.Rel(s.modelsDir, abs)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// IsInstalledCopy reports whether a record's files live in the models folder (so deleting the record deletes
// them); models used in place are never touched.
func (s *Service) IsInstalledCopy(c *Config) bool {
	_, ok := s.insideModels(s.AbsPath(c.Path))
	return ok
}

func decode(row store.ModelRow) (*Config, error) {
	var c Config
	if err := json.Unmarshal(row.Config, &c); err != nil {
		return nil, fmt.Errorf("decode model %s: %w", row.ID, err)
	}
	return &c, nil
}

func decodeAll(rows []store.ModelRow) ([]*Config, error) {
	out := make([]*Config, 0, len(rows))
	for _, r := range rows {
		c, err := decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Get returns a record.
func (s *Service) Get(ctx context.Context, key string) (*Config, error) {
	row, err := s.db.GetModel(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound(fmt.Sprintf("Unknown model: %s", key))
	}
	if err != nil {
		return nil, err
	}
	return s.withCover(decode(row))
}

// withCover fills cover_image with the image URL when an image exists, as InvokeAI's responses do.
func (s *Service) withCover(c *Config, err error) (*Config, error) {
	if err != nil {
		return nil, err
	}
	if _, statErr := os.Stat(s.coverPath(c.Key)); statErr == nil {
		c.CoverImage = Ptr("api/v2/models/i/" + c.Key + "/image")
	} else {
		c.CoverImage = nil
	}
	return c, nil
}

// Filter selects model records; empty fields do not filter. It is the store's filter, named here so that the
// API layer does not reach into the store.
type Filter = store.ModelFilter

// List returns the records matching a filter.
func (s *Service) List(ctx context.Context, f Filter) ([]*Config, error) {
	rows, err := s.db.ListModels(ctx, f)
	if err != nil {
		return nil, err
	}
	out, err := decodeAll(rows)
	if err != nil {
		return nil, err
	}
	for _, c := range out {
		if _, err := s.withCover(c, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ByAttrs finds the record with a name, type and base.
func (s *Service) ByAttrs(ctx context.Context, name, typ, base string) (*Config, error) {
	rows, err := s.db.ListModels(ctx, store.ModelFilter{Name: name, Type: typ, Bases: []string{base}})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, apperr.NotFound("No model found with these attributes")
	}
	return s.withCover(decode(rows[0]))
}

// ByHash finds a record by content hash.
func (s *Service) ByHash(ctx context.Context, hash string) (*Config, error) {
	rows, err := s.db.ModelsByHash(ctx, hash)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, apperr.NotFound("No model found with this hash")
	}
	return s.withCover(decode(rows[0]))
}

// ByPath finds the record stored with a path (relative or absolute as stored).
func (s *Service) ByPath(ctx context.Context, p string) (*Config, bool, error) {
	row, err := s.db.ModelByPath(ctx, p)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	c, err := decode(row)
	return c, err == nil, err
}

// Add stores a new record, giving it a key when it has none.
func (s *Service) Add(ctx context.Context, c *Config) error {
	if c.Key == "" {
		c.Key = uuid.NewString()
	}
	c.hideCredentials()
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.db.InsertModel(ctx, c.Key, b); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return apperr.Conflict(fmt.Sprintf("A model with path %s or key %s is already installed", c.Path, c.Key)).Wrap(ErrDuplicate)
		}
		return err
	}
	return nil
}

// Update applies ModelRecordChanges (PATCH). Values outside the schema are 422, as FastAPI validates the body
// before the handler runs; values the record then refuses are 409, as InvokeAI maps ValueError.
func (s *Service) Update(ctx context.Context, key string, ch Changes) (*Config, error) {
	if err := ch.Validate(); err != nil {
		return nil, err
	}
	c, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	ch.Key = nil // the key identifies the record and never changes
	if err := ch.Apply(c); err != nil {
		return nil, err
	}
	c.hideCredentials()
	c.CoverImage = nil
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	if s.Unload != nil {
		s.Unload(key)
	}
	if err := s.db.UpdateModel(ctx, key, b); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, apperr.Conflict(fmt.Sprintf("Another model already uses path %s", c.Path))
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil, apperr.NotFound(fmt.Sprintf("Unknown model: %s", key))
		}
		return nil, err
	}
	return s.withCover(c, nil)
}

// replace stores a record's config as it is.
func (s *Service) replace(ctx context.Context, c *Config) error {
	c.hideCredentials()
	c.CoverImage = nil
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.db.UpdateModel(ctx, c.Key, b)
}

// Delete removes a record; files of models installed into the models folder go with it, files of models
// used in place stay.
func (s *Service) Delete(ctx context.Context, key string) error {
	c, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	if s.Unload != nil {
		s.Unload(key)
	}
	if err := s.db.DeleteModel(ctx, key); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apperr.NotFound(fmt.Sprintf("Unknown model: %s", key))
		}
		return err
	}
	if s.IsInstalledCopy(c) {
		abs := s.AbsPath(c.Path)
		if err := os.RemoveAll(abs); err != nil {
			s.logger.Warn("remove model files", "path", abs, "error", err)
		}
		if c.ConfigPath != nil && *c.ConfigPath != "" {
			if cfgAbs := s.AbsPath(*c.ConfigPath); s.isInside(cfgAbs) {
				os.Remove(cfgAbs)
			}
		}
		s.pruneEmptyParents(filepath.Dir(abs))
	}
	os.Remove(s.coverPath(key))
	return nil
}

func (s *Service) isInside(abs string) bool { _, ok := s.insideModels(abs); return ok }

// pruneEmptyParents removes now-empty <base>/<type> folders up to the models folder.
func (s *Service) pruneEmptyParents(dir string) {
	for s.isInside(dir) {
		if err := os.Remove(dir); err != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// BulkResult reports a bulk operation per key.
type BulkFailure struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

// Reidentify probes a record's files again and updates what identification decides (base, type, format,
// variant, prediction type, size, hash), keeping the key, name, description and source.
func (s *Service) Reidentify(ctx context.Context, key string) (*Config, error) {
	c, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	abs := s.AbsPath(c.Path)
	res, err := probe.Probe(ctx, abs, probe.Hints{})
	if err != nil {
		if errors.Is(err, probe.ErrUnknownModel) || errors.Is(err, probe.ErrInvalidModel) {
			return nil, apperr.UnsupportedMedia(fmt.Sprintf("Could not identify model %s: %v", key, err))
		}
		return nil, err
	}
	hash, err := probe.Hash(ctx, abs, nil)
	if err != nil {
		return nil, err
	}
	fresh := FromProbe(res)
	fresh.Key, fresh.Name, fresh.Description = c.Key, c.Name, c.Description
	fresh.Source, fresh.SourceType, fresh.SourceAPIResponse, fresh.SourceURL = c.Source, c.SourceType, c.SourceAPIResponse, c.SourceURL
	fresh.Path, fresh.Hash = c.Path, hash
	if c.TriggerPhrases != nil {
		fresh.TriggerPhrases = c.TriggerPhrases
	}
	if len(c.DefaultSettings) > 0 && fresh.Type == c.Type {
		fresh.DefaultSettings = c.DefaultSettings
	}
	if fresh.ConfigPath != nil {
		fresh.ConfigPath = Ptr(s.RecordPath(*fresh.ConfigPath))
	}
	if s.Unload != nil {
		s.Unload(key)
	}
	if err := s.replace(ctx, fresh); err != nil {
		return nil, err
	}
	return s.withCover(fresh, nil)
}

// FromProbe builds a config (without key, path, hash or source) from a probe result.
func FromProbe(r *probe.Result) *Config {
	c := &Config{Name: r.Name, FileSize: r.FileSize, Base: r.Base, Type: r.Type, Format: r.Format}
	c.Description = Ptr(fmt.Sprintf("%s %s model %s", r.Base, r.Type, r.Name))
	if r.Variant != "" {
		c.Variant = Ptr(r.Variant)
	}
	if r.PredictionType != "" {
		c.PredictionType = Ptr(r.PredictionType)
	}
	if r.Format == FormatDiffusers {
		c.RepoVariant = Ptr(r.RepoVariant)
	}
	if r.ConfigPath != "" {
		c.ConfigPath = Ptr(r.ConfigPath)
	}
	if r.ImageEncoder != "" {
		c.ImageEncoderModelID = Ptr(r.ImageEncoder)
	}
	if len(r.Submodels) > 0 {
		c.Submodels = map[string]Submodel{}
		for k, v := range r.Submodels {
			c.Submodels[k] = Submodel{PathOrPrefix: v.Path, ModelType: v.ModelType}
		}
	}
	if c.Type == TypeMain && c.Base == BaseFlux {
		c.DefaultSettings = fluxMainSettings(r.Variant)
	} else if c.Type == TypeMain {
		c.DefaultSettings = defaultMainSettings(c.Base)
	}
	return c
}

// defaultMainSettings is InvokeAI's MainModelDefaultSettings.from_base: the native resolution of SD bases.
func defaultMainSettings(base string) json.RawMessage {
	size := map[string]int{BaseSD1: 512, BaseSD2: 768, BaseSDXL: 1024}[base]
	if size == 0 {
		return nil
	}
	return encodeSettings(&MainModelDefaultSettings{Width: &size, Height: &size})
}

// Missing lists records whose files are gone.
func (s *Service) Missing(ctx context.Context) ([]*Config, error) {
	all, err := s.List(ctx, store.ModelFilter{})
	if err != nil {
		return nil, err
	}
	out := []*Config{}
	for _, c := range all {
		if _, err := os.Stat(s.AbsPath(c.Path)); errors.Is(err, fs.ErrNotExist) {
			out = append(out, c)
		}
	}
	return out, nil
}

// InstalledPaths returns the absolute paths of every record, for "is installed" checks.
func (s *Service) InstalledPaths(ctx context.Context) (map[string]bool, error) {
	all, err := s.List(ctx, store.ModelFilter{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range all {
		out[filepath.Clean(s.AbsPath(c.Path))] = true
	}
	return out, nil
}

// HideStoredCredentials rewrites the records an earlier invokego stored with credentials in their source (a
// URL's user information, token or signature parameters) to the public form. It runs at start-up and reports
// how many records changed.
func (s *Service) HideStoredCredentials(ctx context.Context) (int, error) {
	all, err := s.List(ctx, store.ModelFilter{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range all {
		before, beforeURL := c.Source, c.SourceURL
		if c.hideCredentials(); c.Source == before && c.SourceURL == beforeURL {
			continue
		}
		if err := s.replace(ctx, c); err != nil {
			return n, fmt.Errorf("rewrite the source of model %s: %w", c.Key, err)
		}
		n++
	}
	return n, nil
}

// InstalledSources returns the source of every record.
func (s *Service) InstalledSources(ctx context.Context) (map[string]bool, error) {
	all, err := s.List(ctx, store.ModelFilter{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range all {
		out[c.Source] = true
	}
	return out, nil
}
