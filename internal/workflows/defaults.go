package workflows

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/invokego/invokego/internal/store"
)

// defaultFiles are the built-in workflows shipped in the binary. Each has an id starting with "default_" that
// never changes between releases (so an edited file updates its row instead of adding a new one) and
// meta.category "default".
//
//go:embed defaults/*.json
var defaultFiles embed.FS

// DefaultWorkflows parses the built-in workflows, checking each like an upload.
func DefaultWorkflows() ([]store.DefaultWorkflow, error) {
	names, err := fs.Glob(defaultFiles, "defaults/*.json")
	if err != nil {
		return nil, err
	}
	out := make([]store.DefaultWorkflow, 0, len(names))
	seen := map[string]string{}
	for _, name := range names {
		raw, err := defaultFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read default workflow %s: %w", name, err)
		}
		wf, err := ValidateWithID(raw, path.Base(name))
		if err != nil {
			return nil, fmt.Errorf("default workflow %s is invalid: %w", name, err)
		}
		switch {
		case !strings.HasPrefix(wf.ID, "default_") || !workflowIDPattern.MatchString(wf.ID):
			return nil, fmt.Errorf("default workflow %s: id %q must be default_ followed by letters, digits, - or _", name, wf.ID)
		case wf.Category != CategoryDefault:
			return nil, fmt.Errorf("default workflow %s: meta.category is %q, want %q", name, wf.Category, CategoryDefault)
		case seen[wf.ID] != "":
			return nil, fmt.Errorf("default workflows %s and %s share the id %s", seen[wf.ID], name, wf.ID)
		}
		seen[wf.ID] = name
		out = append(out, store.DefaultWorkflow{ID: wf.ID, Document: string(wf.Document(wf.ID))})
	}
	return out, nil
}

// SyncDefaults brings the default library in the database in line with the built-in workflows: new ones are
// added, changed ones replaced and withdrawn ones removed (with their thumbnails).
func (s *Service) SyncDefaults(ctx context.Context) error {
	defaults, err := DefaultWorkflows()
	if err != nil {
		return err
	}
	res, err := s.db.SyncDefaultWorkflows(ctx, defaults)
	if err != nil {
		return err
	}
	for _, id := range res.Removed {
		if err := s.thumbnails.remove(id); err != nil {
			s.logger.Warn("could not remove thumbnail of a withdrawn default workflow", "workflow_id", id, "error", err)
		}
	}
	if len(res.Added)+len(res.Updated)+len(res.Removed) > 0 {
		s.logger.Info("default workflows synced", "added", len(res.Added), "updated", len(res.Updated), "removed", len(res.Removed))
	}
	return nil
}
