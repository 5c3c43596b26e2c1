package api

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/models/cache"
	"github.com/invokego/invokego/internal/models/download"
	"github.com/invokego/invokego/internal/models/install"
	"github.com/invokego/invokego/internal/store"
)

var modelTags = []string{"model_manager"}

// ModelDeps are the services behind the model manager routes.
type ModelDeps struct {
	Models    *models.Service
	Installer *install.Installer
	Cache     *cache.Cache
	Hub       *download.HFClient
}

// ModelList is GET /api/v2/models/.
type ModelList struct {
	Models []*models.Config `json:"models"`
}

// KeysBody is the body of the bulk routes.
type KeysBody struct {
	Keys []string `json:"keys"`
}

// BulkDeleteResult is POST /i/bulk_delete.
type BulkDeleteResult struct {
	Deleted []string             `json:"deleted"`
	Failed  []models.BulkFailure `json:"failed"`
}

// BulkReidentifyResult is POST /i/bulk_reidentify.
type BulkReidentifyResult struct {
	Succeeded []string             `json:"succeeded"`
	Failed    []models.BulkFailure `json:"failed"`
}

// HFRepoInfo is GET /hugging_face.
type HFRepoInfo struct {
	URLs        []string `json:"urls"`
	IsDiffusers bool     `json:"is_diffusers"`
}

// OrphanDeleteResult is DELETE /sync/orphaned.
type OrphanDeleteResult struct {
	Deleted []string          `json:"deleted"`
	Errors  map[string]string `json:"errors"`
}

type modelKey struct {
	Key string `path:"key"`
}

type jobID struct {
	ID int64 `path:"id"`
}

func noContent(c *Call) error {
	c.W.WriteHeader(http.StatusNoContent)
	return nil
}

func failure(key string, err error) models.BulkFailure {
	msg := err.Error()
	if ae, ok := apperr.As(err); ok {
		msg = fmt.Sprint(ae.Detail)
	}
	return models.BulkFailure{Key: key, Error: msg}
}

// modelFor shows a record to its caller: in full to admins, without its source and server paths to everyone
// else (docs/security.md "Model sources and paths").
func modelFor(p access.Principal) func(*models.Config, error) (*models.Config, error) {
	return func(c *models.Config, err error) (*models.Config, error) {
		if err != nil || p.IsAdmin {
			return c, err
		}
		return c.ForNonAdmin(), nil
	}
}

// modelsFor is modelFor over a list.
func modelsFor(p access.Principal, list []*models.Config) []*models.Config {
	if p.IsAdmin {
		return list
	}
	out := make([]*models.Config, len(list))
	for i, c := range list {
		out[i] = c.ForNonAdmin()
	}
	return out
}

// ModelRoutes are /api/v2/models/* (docs/compatibility.md §1.9). Reads need a login, cover images the media rule, and every
// change, job, sync, scan, hub, starter, stats and token route an admin (docs/security.md D1).
func ModelRoutes(d ModelDeps) []Route {
	const p = "/api/v2/models"
	svc, inst := d.Models, d.Installer
	op := func(method, path, summary string, policy access.Policy) Op {
		return Op{Method: method, Path: p + path, Summary: summary, Tags: modelTags, Policy: policy}
	}
	withStatus := func(o Op, status int) Op { o.Status = status; return o }
	return []Route{
		JSON(op(http.MethodGet, "/", "List Model Records", access.LoggedIn),
			func(c *Call, in *struct {
				BaseModels  []models.BaseModelType `query:"base_models" description:"Base models to include"`
				ModelType   models.ModelType       `query:"model_type" description:"The type of model to get"`
				ModelName   string                 `query:"model_name" description:"Exact match on the name of the model"`
				ModelFormat models.ModelFormat     `query:"model_format" description:"Exact match on the format of the model (e.g. 'diffusers')"`
			}) (ModelList, error) {
				list, err := svc.List(c.Context(), store.ModelFilter{Bases: models.Strs(in.BaseModels), Type: string(in.ModelType), Name: in.ModelName, Format: string(in.ModelFormat)})
				if list == nil {
					list = []*models.Config{}
				}
				return ModelList{Models: modelsFor(c.Principal, list)}, err
			}),
		JSON(op(http.MethodGet, "/missing", "List Missing Models", access.LoggedIn),
			func(c *Call, _ *NoInput) (ModelList, error) {
				list, err := svc.Missing(c.Context())
				return ModelList{Models: modelsFor(c.Principal, list)}, err
			}),
		JSON(op(http.MethodGet, "/get_by_attrs", "Get Model Records By Attrs", access.LoggedIn),
			func(c *Call, in *struct {
				Name string               `query:"name" required:"true" description:"The name of the model"`
				Type models.ModelType     `query:"type" required:"true" description:"The type of the model"`
				Base models.BaseModelType `query:"base" required:"true" description:"The base model of the model"`
			}) (*models.Config, error) {
				return modelFor(c.Principal)(svc.ByAttrs(c.Context(), in.Name, string(in.Type), string(in.Base)))
			}),
		JSON(op(http.MethodGet, "/get_by_hash", "Get Model Records By Hash", access.LoggedIn),
			func(c *Call, in *struct {
				Hash string `query:"hash" required:"true"`
			}) (*models.Config, error) {
				return modelFor(c.Principal)(svc.ByHash(c.Context(), in.Hash))
			}),
		JSON(op(http.MethodGet, "/i/{key}", "Get Model Record", access.LoggedIn),
			func(c *Call, in *modelKey) (*models.Config, error) {
				return modelFor(c.Principal)(svc.Get(c.Context(), in.Key))
			}),
		JSON(op(http.MethodPatch, "/i/{key}", "Update Model Record", access.Admin),
			func(c *Call, in *struct {
				Key     string         `path:"key"`
				Changes models.Changes `body:"json"`
			}) (*models.Config, error) {
				return svc.Update(c.Context(), in.Key, in.Changes)
			}),
		Raw(op(http.MethodDelete, "/i/{key}", "Delete Model", access.Admin),
			func(c *Call, in *modelKey) error {
				if err := svc.Delete(c.Context(), in.Key); err != nil {
					return err
				}
				return noContent(c)
			}),
		JSON(op(http.MethodPost, "/i/{key}/reidentify", "Reidentify Model", access.Admin),
			func(c *Call, in *modelKey) (*models.Config, error) { return svc.Reidentify(c.Context(), in.Key) }),
		JSON(op(http.MethodPost, "/i/bulk_delete", "Bulk Delete Models", access.Admin),
			func(c *Call, in *struct {
				Body KeysBody `body:"json"`
			}) (BulkDeleteResult, error) {
				out := BulkDeleteResult{Deleted: []string{}, Failed: []models.BulkFailure{}}
				for _, k := range in.Body.Keys {
					if err := svc.Delete(c.Context(), k); err != nil {
						out.Failed = append(out.Failed, failure(k, err))
						continue
					}
					out.Deleted = append(out.Deleted, k)
				}
				return out, nil
			}),
		JSON(op(http.MethodPost, "/i/bulk_reidentify", "Bulk Reidentify Models", access.Admin),
			func(c *Call, in *struct {
				Body KeysBody `body:"json"`
			}) (BulkReidentifyResult, error) {
				out := BulkReidentifyResult{Succeeded: []string{}, Failed: []models.BulkFailure{}}
				for _, k := range in.Body.Keys {
					if _, err := svc.Reidentify(c.Context(), k); err != nil {
						out.Failed = append(out.Failed, failure(k, err))
						continue
					}
					out.Succeeded = append(out.Succeeded, k)
				}
				return out, nil
			}),
		Raw(Op{Method: http.MethodGet, Path: p + "/i/{key}/image", Summary: "Get Model Image", Tags: modelTags, Policy: access.Media, Produces: "image/png"},
			func(c *Call, in *modelKey) error {
				b, err := svc.CoverImage(c.Context(), in.Key)
				if err != nil {
					return err
				}
				c.W.Header().Set("Content-Type", "image/png")
				c.W.Header().Set("Cache-Control", "private, max-age=0")
				_, err = c.W.Write(b)
				return err
			}),
		JSON(Op{Method: http.MethodPatch, Path: p + "/i/{key}/image", Summary: "Update Model Image", Tags: modelTags, Policy: access.Admin, MaxBody: 32 << 20},
			func(c *Call, in *struct {
				Key  string   `path:"key"`
				Form struct{} `body:"multipart"`
			}) (any, error) {
				_, data, err := readUploadedImage(c.R, "image")
				if err != nil {
					return nil, err
				}
				// InvokeAI answers 200 with no value (null); the config's cover_image now names the image.
				_, err = svc.SetCoverImage(c.Context(), in.Key, data)
				return nil, err
			}),
		Raw(op(http.MethodDelete, "/i/{key}/image", "Delete Model Image", access.Admin),
			func(c *Call, in *modelKey) error {
				if err := svc.DeleteCoverImage(c.Context(), in.Key); err != nil {
					return err
				}
				return noContent(c)
			}),
		JSON(op(http.MethodGet, "/scan_folder", "Scan For Models", access.Admin),
			func(c *Call, in *struct {
				ScanPath string `query:"scan_path" required:"true" description:"Directory path to search for models"`
			}) ([]models.FoundModel, error) {
				return svc.ScanFolder(c.Context(), in.ScanPath)
			}),
		JSON(op(http.MethodGet, "/hugging_face", "Get Hugging Face Models", access.Admin),
			func(c *Call, in *struct {
				Repo string `query:"hugging_face_repo" required:"true" description:"Hugging face repo to search for models"`
			}) (HFRepoInfo, error) {
				return hubInfo(c, d, in.Repo)
			}),
		JSON(withStatus(op(http.MethodPost, "/install", "Install Model", access.Admin), http.StatusCreated),
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
		Raw(Op{Method: http.MethodGet, Path: p + "/install/huggingface", Summary: "Install Hugging Face Model", Tags: modelTags, Policy: access.Admin, Produces: "text/html"},
			func(c *Call, in *struct {
				Source string `query:"source" required:"true" description:"HuggingFace repo_id to install"`
			}) error {
				return installFromHubPage(c, d, in.Source)
			}),
		JSON(op(http.MethodGet, "/install", "List Model Install Jobs", access.Admin),
			func(c *Call, _ *NoInput) ([]map[string]any, error) {
				out := []map[string]any{}
				for _, j := range inst.Jobs() {
					out = append(out, j.View())
				}
				return out, nil
			}),
		Raw(op(http.MethodDelete, "/install", "Prune Model Install Jobs", access.Admin),
			func(c *Call, _ *NoInput) error {
				if err := inst.Prune(c.Context()); err != nil {
					return err
				}
				return noContent(c)
			}),
		JSON(op(http.MethodGet, "/install/{id}", "Get Model Install Job", access.Admin),
			func(c *Call, in *jobID) (map[string]any, error) {
				j, err := inst.Job(in.ID)
				if err != nil {
					return nil, err
				}
				return j.View(), nil
			}),
		JSON(withStatus(op(http.MethodDelete, "/install/{id}", "Cancel Model Install Job", access.Admin), http.StatusCreated),
			func(c *Call, in *jobID) (any, error) { return nil, inst.Cancel(in.ID) }),
		JSON(withStatus(op(http.MethodPost, "/install/{id}/pause", "Pause Model Install Job", access.Admin), http.StatusCreated),
			func(c *Call, in *jobID) (map[string]any, error) { return viewOf(inst.Pause(in.ID)) }),
		JSON(withStatus(op(http.MethodPost, "/install/{id}/resume", "Resume Model Install Job", access.Admin), http.StatusCreated),
			func(c *Call, in *jobID) (map[string]any, error) { return viewOf(inst.Resume(in.ID)) }),
		JSON(withStatus(op(http.MethodPost, "/install/{id}/restart_failed", "Restart Failed Model Downloads", access.Admin), http.StatusCreated),
			func(c *Call, in *jobID) (map[string]any, error) { return viewOf(inst.RestartFailed(in.ID)) }),
		JSON(withStatus(op(http.MethodPost, "/install/{id}/restart_file", "Restart Model Download File", access.Admin), http.StatusCreated),
			func(c *Call, in *struct {
				ID  int64  `path:"id"`
				URL string `body:"json"`
			}) (map[string]any, error) {
				return viewOf(inst.RestartFile(in.ID, in.URL))
			}),
		JSON(op(http.MethodPut, "/convert/{key}", "Convert Model", access.Admin),
			func(c *Call, in *modelKey) (*models.Config, error) {
				cfg, err := svc.Get(c.Context(), in.Key)
				if err != nil {
					return nil, err
				}
				if cfg.Format != models.FormatCheckpoint || cfg.Type != models.TypeMain {
					return nil, apperr.BadRequest(fmt.Sprintf("The model with key %s is not a main checkpoint model.", in.Key))
				}
				return nil, apperr.Conflict("Conversion to diffusers is not needed: invokego runs single-file checkpoints directly")
			}),
		JSON(op(http.MethodGet, "/starter_models", "Get Starter Models", access.Admin),
			func(c *Call, _ *NoInput) (*models.StarterList, error) { return svc.Starters(c.Context()) }),
		JSON(op(http.MethodGet, "/stats", "Get Model Manager Cache Stats", access.Admin),
			func(c *Call, _ *NoInput) (cache.Stats, error) { return d.Cache.Stats(), nil }),
		JSON(op(http.MethodPost, "/empty_model_cache", "Empty Model Cache", access.Admin),
			func(c *Call, _ *NoInput) (any, error) { d.Cache.Clear(); return nil, nil }),
		JSON(op(http.MethodGet, "/hf_login", "Get Hf Login Status", access.Admin),
			func(c *Call, _ *NoInput) (string, error) { return svc.HFTokenStatus(c.Context(), d.Hub.WhoAmI) }),
		JSON(op(http.MethodPost, "/hf_login", "Do Hf Login", access.Admin),
			func(c *Call, in *struct {
				Body struct {
					Token string `json:"token"`
				} `body:"json"`
			}) (string, error) {
				return svc.SetHFToken(c.Context(), in.Body.Token, d.Hub.WhoAmI)
			}),
		JSON(op(http.MethodDelete, "/hf_login", "Reset Hf Token", access.Admin),
			func(c *Call, _ *NoInput) (string, error) { return svc.ClearHFToken(c.Context()) }),
		JSON(op(http.MethodGet, "/sync/orphaned", "Get Orphaned Models", access.Admin),
			func(c *Call, _ *NoInput) ([]models.Orphan, error) { return svc.Orphaned(c.Context()) }),
		JSON(op(http.MethodDelete, "/sync/orphaned", "Delete Orphaned Models", access.Admin),
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

// hubInfo answers GET /hugging_face: whether a repository is a diffusers pipeline, else its weight file URLs.
func hubInfo(c *Call, d ModelDeps, repo string) (HFRepoInfo, error) {
	repoID, _, _, ok := download.ParseHFSource(repo)
	if !ok {
		return HFRepoInfo{}, apperr.BadRequest("No HuggingFace repository found")
	}
	tok, _ := d.Models.HFToken(c.Context())
	info, err := d.Hub.Repo(c.Context(), repoID, tok)
	if err != nil {
		return HFRepoInfo{}, apperr.BadRequest("No HuggingFace repository found").Wrap(err)
	}
	out := HFRepoInfo{}
	for _, f := range info.Files {
		if f.Path == "model_index.json" {
			out.IsDiffusers = true
		}
	}
	if !out.IsDiffusers {
		for _, f := range info.Files {
			if strings.HasSuffix(f.Path, ".safetensors") || strings.HasSuffix(f.Path, ".ckpt") || strings.HasSuffix(f.Path, ".gguf") {
				out.URLs = append(out.URLs, d.Hub.ResolveURL(repoID, f.Path))
			}
		}
	}
	return out, nil
}

// installFromHubPage is GET /install/huggingface: start an install (or report it is there) as a small page.
func installFromHubPage(c *Call, d ModelDeps, source string) error {
	page := func(status int, msg string) error {
		c.W.Header().Set("Content-Type", "text/html; charset=utf-8")
		c.W.WriteHeader(status)
		_, err := fmt.Fprintf(c.W, "<!DOCTYPE html><html><head><title>invokego</title></head><body><p>%s</p></body></html>\n", html.EscapeString(msg))
		return err
	}
	sources, err := d.Models.InstalledSources(c.Context())
	if err != nil {
		return page(http.StatusInternalServerError, "Could not check the installed models.")
	}
	if sources[source] {
		return page(http.StatusOK, "This model is already installed.")
	}
	if _, _, _, ok := download.ParseHFSource(source); !ok {
		return page(http.StatusBadRequest, "Not a Hugging Face repository id.")
	}
	if _, err := d.Installer.Install(c.Context(), source, false, "", models.Changes{}); err != nil {
		return page(apperr.StatusOf(err), "The install could not be started.")
	}
	return page(http.StatusCreated, "The model is being installed. You can close this page.")
}
