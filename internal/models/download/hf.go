package download

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// ErrRepoNotFound means the hub does not know the repository (or hides it from this token).
var ErrRepoNotFound = errors.New("no HuggingFace repository found")

// HFFile is one file of a hub repository.
// Its JSON form is what InvokeAI's source_metadata.files entries look like.
type HFFile struct {
	Path   string `json:"path"`   // relative to the repository root
	Size   int64  `json:"size"`   // 0 when the hub did not say
	SHA256 string `json:"sha256"` // the LFS object id, when the file is in LFS
}

// HFRepo is a repository's file listing and the hub's raw answer (kept as the record's source_api_response).
type HFRepo struct {
	ID          string
	Files       []HFFile
	APIResponse string
}

// HFClient talks to a Hugging Face hub (or anything that answers like one) at Endpoint.
type HFClient struct {
	HTTP     *http.Client
	Endpoint string
}

// RepoIDPattern matches owner/name.
var RepoIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (h *HFClient) get(ctx context.Context, u, token string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := h.HTTP.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	return body, res.StatusCode, err
}

// Repo lists a repository's files through the model-info endpoint (with blob sizes and LFS hashes), falling
// back to the tree listing endpoint.
func (h *HFClient) Repo(ctx context.Context, repoID, token string) (*HFRepo, error) {
	if !RepoIDPattern.MatchString(repoID) {
		return nil, fmt.Errorf("%w: %q is not a repository id", ErrRepoNotFound, repoID)
	}
	base := strings.TrimRight(h.Endpoint, "/")
	var body []byte
	var status int
	var err error
	// The model-info endpoint, then its revision form (some mirrors answer only that one).
	for _, u := range []string{base + "/api/models/" + repoID + "?blobs=true", base + "/api/models/" + repoID + "/revision/main?blobs=true"} {
		body, status, err = h.get(ctx, u, token)
		if err != nil {
			return nil, fmt.Errorf("hub model info for %s: %w", repoID, err)
		}
		if status != http.StatusNotFound {
			break
		}
	}
	if status == http.StatusOK {
		var info struct {
			ID       string `json:"id"`
			Siblings []struct {
				RFilename string `json:"rfilename"`
				Size      int64  `json:"size"`
				LFS       *struct {
					SHA256 string `json:"sha256"`
					Size   int64  `json:"size"`
				} `json:"lfs"`
			} `json:"siblings"`
		}
		if err := json.Unmarshal(body, &info); err != nil {
			return nil, fmt.Errorf("hub model info for %s: %w", repoID, err)
		}
		repo := &HFRepo{ID: repoID, APIResponse: string(body)}
		for _, s := range info.Siblings {
			f := HFFile{Path: s.RFilename, Size: s.Size}
			if s.LFS != nil {
				f.SHA256 = s.LFS.SHA256
				if s.LFS.Size > 0 {
					f.Size = s.LFS.Size
				}
			}
			repo.Files = append(repo.Files, f)
		}
		if len(repo.Files) > 0 {
			return repo, nil
		}
	} else if status != http.StatusNotFound {
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			return nil, fmt.Errorf("%w: %s (status %d; a token may be needed)", ErrRepoNotFound, repoID, status)
		}
		return nil, fmt.Errorf("hub model info for %s: status %d", repoID, status)
	}
	body, status, err = h.get(ctx, base+"/api/models/"+repoID+"/tree/main?recursive=true", token)
	if err != nil {
		return nil, fmt.Errorf("hub file listing for %s: %w", repoID, err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%w: %s", ErrRepoNotFound, repoID)
	}
	var tree []struct {
		Type string `json:"type"`
		Path string `json:"path"`
		Size int64  `json:"size"`
		LFS  *struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"lfs"`
	}
	if err := json.Unmarshal(body, &tree); err != nil {
		return nil, fmt.Errorf("hub file listing for %s: %w", repoID, err)
	}
	repo := &HFRepo{ID: repoID, APIResponse: string(body)}
	for _, e := range tree {
		if e.Type != "" && e.Type != "file" {
			continue
		}
		f := HFFile{Path: e.Path, Size: e.Size}
		if e.LFS != nil {
			f.SHA256, f.Size = e.LFS.OID, e.LFS.Size
		}
		repo.Files = append(repo.Files, f)
	}
	if len(repo.Files) == 0 {
		return nil, fmt.Errorf("%w: %s has no files", ErrRepoNotFound, repoID)
	}
	return repo, nil
}

// ResolveURL is the download address of a file.
func (h *HFClient) ResolveURL(repoID, file string) string {
	parts := strings.Split(file, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.TrimRight(h.Endpoint, "/") + "/" + repoID + "/resolve/main/" + strings.Join(parts, "/")
}

// WhoAmI checks a token: true when the hub accepts it.
func (h *HFClient) WhoAmI(ctx context.Context, token string) (bool, error) {
	_, status, err := h.get(ctx, strings.TrimRight(h.Endpoint, "/")+"/api/whoami-v2", token)
	if err != nil {
		return false, err
	}
	switch status {
	case http.StatusOK:
		return true, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return false, nil
	}
	return false, fmt.Errorf("hub whoami: status %d", status)
}

var modelFileRe = regexp.MustCompile(`model.*\.(safetensors|bin|onnx|xml|pth|pt|ckpt|msgpack)$`)

// SelectFiles picks what to download for a diffusers-style repository, as InvokeAI does: configs and
// tokenizer files, the weights of each component in the requested variant (fp16) when present, safetensors
// rather than .bin, limited to a subfolder when one is given. A repository holding a single checkpoint and no
// diffusers weights yields that checkpoint.
//
// A subfolder that names a file of the repository (owner/name::ae.safetensors) selects just that file.
func SelectFiles(files []HFFile, variant, subfolder string) []HFFile {
	subfolder = strings.Trim(subfolder, "/")
	if subfolder != "" {
		for _, f := range files {
			if f.Path == subfolder {
				return []HFFile{f}
			}
		}
	}
	var candidates []HFFile
	for _, f := range files {
		if subfolder != "" && !strings.HasPrefix(f.Path, subfolder+"/") {
			continue
		}
		name := path.Base(f.Path)
		if strings.HasPrefix(f.Path, "safety_checker/") || strings.HasPrefix(f.Path, "feature_extractor/") {
			continue // invokego never runs the safety checker; its weights are a gigabyte
		}
		if otherRuntime(name, variant) {
			continue
		}
		switch {
		case strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".txt"):
			candidates = append(candidates, f)
		case strings.HasSuffix(name, "learned_embeds.bin") || strings.HasSuffix(name, "lora_weights.safetensors"):
			candidates = append(candidates, f)
		case modelFileRe.MatchString(name):
			candidates = append(candidates, f)
		}
	}
	picked := filterVariant(candidates, variant)
	hasWeights := false
	for _, f := range picked {
		if isWeights(f.Path) {
			hasWeights = true
		}
	}
	if !hasWeights {
		// A single-checkpoint repository (e.g. name.safetensors at the top).
		var singles []HFFile
		for _, f := range files {
			rel := f.Path
			if subfolder != "" {
				if !strings.HasPrefix(rel, subfolder+"/") {
					continue
				}
				rel = strings.TrimPrefix(rel, subfolder+"/")
			}
			if !strings.Contains(rel, "/") && (strings.HasSuffix(rel, ".safetensors") || strings.HasSuffix(rel, ".ckpt")) {
				singles = append(singles, f)
			}
		}
		singles = filterVariant(singles, variant)
		if len(singles) == 1 {
			return singles
		}
		return nil
	}
	sort.Slice(picked, func(i, j int) bool { return picked[i].Path < picked[j].Path })
	return picked
}

// otherRuntime reports weights for ONNX, OpenVINO or Flax, which are only wanted when that variant is asked.
func otherRuntime(name, variant string) bool {
	switch {
	case strings.HasSuffix(name, ".onnx") || strings.HasSuffix(name, ".pb") || strings.HasSuffix(name, ".onnx_data"):
		return variant != "onnx"
	case strings.Contains(name, "openvino_model"):
		return variant != "openvino"
	case strings.Contains(name, "flax_model") || strings.HasSuffix(name, ".msgpack"):
		return variant != "flax"
	}
	return false
}

func isWeights(p string) bool {
	for _, ext := range []string{".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".msgpack"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}

// filterVariant keeps, for each weights file stem in each folder, the one file that best fits the variant.
func filterVariant(files []HFFile, variant string) []HFFile {
	type choice struct {
		f     HFFile
		score int
	}
	best := map[string]choice{}
	var out []HFFile
	for _, f := range files {
		if !isWeights(f.Path) {
			out = append(out, f)
			continue
		}
		dir, name := path.Split(f.Path)
		ext := path.Ext(name)
		stem := strings.TrimSuffix(name, ext)
		fileVariant := ""
		if i := strings.LastIndex(stem, "."); i >= 0 {
			fileVariant = stem[i+1:]
			stem = stem[:i]
		}
		score := 0
		switch {
		case variant != "" && fileVariant == variant:
			score += 10
		case fileVariant == "":
			score += 5
		default:
			continue // another variant's file
		}
		if ext == ".safetensors" {
			score += 2
		}
		key := dir + stem
		if c, ok := best[key]; !ok || score > c.score {
			best[key] = choice{f, score}
		}
	}
	for _, c := range best {
		out = append(out, c.f)
	}
	return out
}

// RepoVariants are InvokeAI's ModelRepoVariant values a source may name (the default variant is written by
// naming none).
var RepoVariants = []string{"fp16", "fp32", "onnx", "openvino", "flax"}

// ParseHFSource splits a Hugging Face source as InvokeAI's installer reads it: owner/name, owner/name:variant,
// owner/name::subfolder or owner/name:variant:subfolder (the subfolder may start with a slash, and may name a
// single file). owner/name:variant::subfolder, which is how InvokeAI writes such a source back, is accepted
// too. A variant that is not one of RepoVariants, or a subfolder that climbs out of the repository, is not
// a Hugging Face source.
func ParseHFSource(s string) (repoID, variant, subfolder string, ok bool) {
	repoID, rest, hasRest := strings.Cut(s, ":")
	if !RepoIDPattern.MatchString(repoID) {
		return "", "", "", false
	}
	if !hasRest {
		return repoID, "", "", true
	}
	variant, sub, hasSub := strings.Cut(rest, ":")
	if variant != "" && !slices.Contains(RepoVariants, variant) {
		return "", "", "", false
	}
	if !hasSub {
		return repoID, variant, "", true
	}
	if variant != "" {
		sub = strings.TrimPrefix(sub, ":")
	}
	sub = strings.TrimRight(strings.TrimPrefix(sub, "/"), "/")
	if sub == "" || strings.Contains(sub, ":") || strings.Contains(sub, "\\") {
		return "", "", "", false
	}
	for _, part := range strings.Split(sub, "/") {
		if part == "" || part == "." || part == ".." {
			return "", "", "", false
		}
	}
	return repoID, variant, sub, true
}
