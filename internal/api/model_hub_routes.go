package api

import (
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/models/download"
)

// HFRepoInfo is GET /hugging_face.
type HFRepoInfo struct {
	URLs        []string `json:"urls"`
	IsDiffusers bool     `json:"is_diffusers"`
}

// modelHubRoutes talk to the Hugging Face hub: repository contents, one-click installs and the token.
func modelHubRoutes(d ModelDeps) []Route {
	svc := d.Models
	return []Route{
		JSON(modelOp(http.MethodGet, "/hugging_face", "Get Hugging Face Models", access.Admin),
			func(c *Call, in *struct {
				Repo string `query:"hugging_face_repo" required:"true" description:"Hugging face repo to search for models"`
			}) (HFRepoInfo, error) {
				return hubInfo(c, d, in.Repo)
			}),
		Raw(Op{Method: http.MethodGet, Path: modelsPath + "/install/huggingface", Summary: "Install Hugging Face Model", Tags: modelTags, Policy: access.Admin, Produces: "text/html"},
			func(c *Call, in *struct {
				Source string `query:"source" required:"true" description:"HuggingFace repo_id to install"`
			}) error {
				return installFromHubPage(c, d, in.Source)
			}),
		JSON(modelOp(http.MethodGet, "/hf_login", "Get Hf Login Status", access.Admin),
			func(c *Call, _ *NoInput) (string, error) { return svc.HFTokenStatus(c.Context(), d.Hub.WhoAmI) }),
		JSON(modelOp(http.MethodPost, "/hf_login", "Do Hf Login", access.Admin),
			func(c *Call, in *struct {
				Body struct {
					Token string `json:"token"`
				} `body:"json"`
			}) (string, error) {
				return svc.SetHFToken(c.Context(), in.Body.Token, d.Hub.WhoAmI)
			}),
		JSON(modelOp(http.MethodDelete, "/hf_login", "Reset Hf Token", access.Admin),
			func(c *Call, _ *NoInput) (string, error) { return svc.ClearHFToken(c.Context()) }),
	}
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
