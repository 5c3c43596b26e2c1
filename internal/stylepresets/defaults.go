package stylepresets

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/invokego/invokego/internal/store"
)

// defaultsJSON are the built-in presets shipped in the binary. Their ids start with "default_" and never change
// between releases, so an edited preset updates its row (and stays selected in the UI) instead of being added
// anew.
//
//go:embed defaults.json
var defaultsJSON []byte

type defaultPreset struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	PositivePrompt string `json:"positive_prompt"`
	NegativePrompt string `json:"negative_prompt"`
}

// DefaultPresets parses the built-in presets, checking each.
func DefaultPresets() ([]store.StylePresetRecord, error) {
	var list []defaultPreset
	if err := json.Unmarshal(defaultsJSON, &list); err != nil {
		return nil, fmt.Errorf("built-in style presets: %w", err)
	}
	seen := map[string]bool{}
	out := make([]store.StylePresetRecord, 0, len(list))
	for _, d := range list {
		switch {
		case !strings.HasPrefix(d.ID, "default_") || !imageIDPattern.MatchString(d.ID) || seen[d.ID]:
			return nil, fmt.Errorf("built-in style preset id %q must be unique and default_ followed by letters, digits, - or _", d.ID)
		case strings.TrimSpace(d.Name) == "" || checkSizes(d.Name, d.PositivePrompt, d.NegativePrompt) != nil:
			return nil, fmt.Errorf("built-in style preset %s is malformed", d.ID)
		}
		seen[d.ID] = true
		out = append(out, store.StylePresetRecord{ID: d.ID, Name: d.Name, PresetData: encodeData(d.PositivePrompt, d.NegativePrompt), Type: TypeDefault})
	}
	return out, nil
}

// SyncDefaults brings the built-in presets in the database in line with the binary's.
func (s *Service) SyncDefaults(ctx context.Context) error {
	defaults, err := DefaultPresets()
	if err != nil {
		return err
	}
	res, err := s.db.SyncDefaultStylePresets(ctx, defaults)
	if err != nil {
		return err
	}
	for _, id := range res.Removed {
		if err := s.removeImage(id); err != nil {
			s.logger.Warn("could not remove the image of a withdrawn built-in style preset", "style_preset_id", id, "error", err)
		}
	}
	if len(res.Added)+len(res.Updated)+len(res.Removed) > 0 {
		s.logger.Info("built-in style presets synced", "added", len(res.Added), "updated", len(res.Updated), "removed", len(res.Removed))
	}
	return nil
}
