package api

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/models/install"
)

// OrphanDeleteResult is DELETE /sync/orphaned.
type OrphanDeleteResult struct {
	Deleted []string          `json:"deleted"`
	Errors  map[string]string `json:"errors"`
}

// modelInstallRoutes install models and run the install jobs, and keep the models folder and the records in
// step (scan, starters, orphans).
func modelInstallRoutes(d ModelDeps) []Route {
	svc := d.Models
	inst := d.Installer
	return []Route{
		JSON(modelOp(http.MethodGet, "/scan_folder", "Scan For Models", access.Admin),
			func(c *Call, in *struct {
				ScanPath string `query:"scan_path" required:"true" description:"Directory path to search for models"`
			}) ([]models.FoundModel, error) {
				return svc.ScanFolder(c.Context(), in.ScanPath)
			}),
		JSON(withStatus(modelOp(http.MethodPost, "/install", "Install Model", access.Admin), http.StatusCreated),
			func(c *Call, in *struct {
				Source      string `query:"source" required:"true" description:"Model source to install, can be a local path, repo_id, or remote URL"`
				Inplace     bool   `query:"inplace" default:"false" description:"Whether or not to install a local model in place"`
				AccessToken string `query:"access_token" description:"access token for the remote resource"`
			}) (map[string]any, error) {
				changes, err := readChanges(c.R)
				if err != nil {
					return nil, err
				}
				j, err := inst.Install(c.Context(), in.Source, in.Inplace, in.AccessToken, changes)
				if err != nil {
					return nil, err
				}
				return j.View(), nil
			}),
		JSON(modelOp(http.MethodGet, "/install", "List Model Install Jobs", access.Admin),
			func(c *Call, _ *NoInput) ([]map[string]any, error) {
				out := []map[string]any{}
				for _, j := range inst.Jobs() {
					out = append(out, j.View())
				}
				return out, nil
			}),
		Raw(modelOp(http.MethodDelete, "/install", "Prune Model Install Jobs", access.Admin),
			func(c *Call, _ *NoInput) error {
				if err := inst.Prune(c.Context()); err != nil {
					return err
				}
				return noContent(c)
			}),
		JSON(modelOp(http.MethodGet, "/install/{id}", "Get Model Install Job", access.Admin),
			func(c *Call, in *jobID) (map[string]any, error) {
				j, err := inst.Job(in.ID)
				if err != nil {
					return nil, err
				}
				return j.View(), nil
			}),
		JSON(withStatus(modelOp(http.MethodDelete, "/install/{id}", "Cancel Model Install Job", access.Admin), http.StatusCreated),
			func(c *Call, in *jobID) (any, error) { return nil, inst.Cancel(in.ID) }),
		JSON(withStatus(modelOp(http.MethodPost, "/install/{id}/pause", "Pause Model Install Job", access.Admin), http.StatusCreated),
			func(c *Call, in *jobID) (map[string]any, error) { return viewOf(inst.Pause(in.ID)) }),
		JSON(withStatus(modelOp(http.MethodPost, "/install/{id}/resume", "Resume Model Install Job", access.Admin), http.StatusCreated),
			func(c *Call, in *jobID) (map[string]any, error) { return viewOf(inst.Resume(in.ID)) }),
		JSON(withStatus(modelOp(http.MethodPost, "/install/{id}/restart_failed", "Restart Failed Model Downloads", access.Admin), http.StatusCreated),
			func(c *Call, in *jobID) (map[string]any, error) { return viewOf(inst.RestartFailed(in.ID)) }),
		JSON(withStatus(modelOp(http.MethodPost, "/install/{id}/restart_file", "Restart Model Download File", access.Admin), http.StatusCreated),
			func(c *Call, in *struct {
				ID  int64  `path:"id"`
				URL string `body:"json"`
			}) (map[string]any, error) {
				return viewOf(inst.RestartFile(in.ID, in.URL))
			}),
		JSON(modelOp(http.MethodGet, "/starter_models", "Get Starter Models", access.Admin),
			func(c *Call, _ *NoInput) (*models.StarterList, error) { return svc.Starters(c.Context()) }),
		JSON(modelOp(http.MethodGet, "/sync/orphaned", "Get Orphaned Models", access.Admin),
			func(c *Call, _ *NoInput) ([]models.Orphan, error) { return svc.Orphaned(c.Context()) }),
		JSON(modelOp(http.MethodDelete, "/sync/orphaned", "Delete Orphaned Models", access.Admin),
			func(c *Call, in *struct {
				Body struct {
					Paths []string `json:"paths"`
				} `body:"json"`
			}) (OrphanDeleteResult, error) {
				deleted, errs, err := svc.DeleteOrphaned(c.Context(), in.Body.Paths)
				return OrphanDeleteResult{Deleted: deleted, Errors: errs}, err
			}),
	}
}

func viewOf(j *install.Job, err error) (map[string]any, error) {
	if err != nil {
		return nil, err
	}
	return j.View(), nil
}

// readChanges reads the install body (ModelRecordChanges); an empty body means no changes.
func readChanges(r *http.Request) (models.Changes, error) {
	var ch models.Changes
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ch, err
		}
		return ch, apperr.BadRequest("Could not read request body")
	}
	if strings.TrimSpace(string(data)) == "" || strings.TrimSpace(string(data)) == "null" {
		return ch, nil
	}
	if err := DecodeJSONValue(data, &ch, false, "body"); err != nil {
		return ch, err
	}
	return ch, nil
}
