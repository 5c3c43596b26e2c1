package api

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
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
		Raw(Op{Method: http.MethodGet, Path: modelsPath + "/install/huggingface", Summary: "Install Hugging Face Model", Tags: modelTags, Policy: access.Admin, Produces: "text/html",
			Description: "Shows a page that asks to confirm the install; the confirmation POSTs to the same path. A GET changes nothing."},
			func(c *Call, in *struct {
				Source string `query:"source" required:"true" description:"HuggingFace repo_id to install"`
			}) error {
				return installFromHubPage(c, d, in.Source, false)
			}),
		Raw(Op{Method: http.MethodPost, Path: modelsPath + "/install/huggingface", Summary: "Confirm Hugging Face Model Install", Tags: modelTags, Policy: access.Admin, Produces: "text/html",
			Description: "Starts the install the GET page asked to confirm."},
			func(c *Call, in *struct {
				Source string `query:"source" required:"true" description:"HuggingFace repo_id to install"`
			}) error {
				return installFromHubPage(c, d, in.Source, true)
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

// installFromHubPage is /install/huggingface as a small page. A GET only asks to confirm (a link, an image or a
// prefetch must not install anything: docs/security.md "Cross-site requests"); the confirmation is a form that
// POSTs to the same path, which starts the install.
func installFromHubPage(c *Call, d ModelDeps, source string, confirmed bool) error {
	page := func(status int, msg, form string) error {
		c.W.Header().Set("Content-Type", "text/html; charset=utf-8")
		c.W.WriteHeader(status)
		_, err := fmt.Fprintf(c.W, "<!DOCTYPE html><html><head><title>invokego</title></head><body><p>%s</p>%s</body></html>\n", html.EscapeString(msg), form)
		return err
	}
	sources, err := d.Models.InstalledSources(c.Context())
	if err != nil {
		return page(http.StatusInternalServerError, "Could not check the installed models.", "")
	}
	if sources[source] {
		return page(http.StatusOK, "This model is already installed.", "")
	}
	if _, _, _, ok := download.ParseHFSource(source); !ok {
		return page(http.StatusBadRequest, "Not a Hugging Face repository id.", "")
	}
	if !confirmed {
		action := "huggingface?" + url.Values{"source": {source}}.Encode()
		return page(http.StatusOK, "Install "+source+" from Hugging Face?",
			`<form method="post" action="`+html.EscapeString(action)+`"><button type="submit">Install</button></form>`)
	}
	if _, err := d.Installer.Install(c.Context(), source, false, "", models.Changes{}); err != nil {
		return page(apperr.StatusOf(err), "The install could not be started.", "")
	}
	return page(http.StatusCreated, "The model is being installed. You can close this page.", "")
}
