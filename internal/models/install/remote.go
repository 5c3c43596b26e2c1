package install

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/invokego/invokego/internal/models/download"
	"github.com/invokego/invokego/internal/models/probe"
)

// HFTokenSource returns the stored Hugging Face token, used when a request brings none.
type HFTokenSource func(ctx context.Context) (string, error)

func (in *Installer) hubToken(ctx context.Context, j *Job) string {
	if j.Source.AccessToken != "" {
		return j.Source.AccessToken
	}
	if in.opts.HFToken != nil {
		if tok, err := in.opts.HFToken(ctx); err == nil {
			return tok
		}
	}
	return ""
}

// plan fills a fresh remote job's download parts: one for a URL, the selected files of a hub repository.
func (in *Installer) plan(ctx context.Context, j *Job) error {
	in.mu.Lock()
	planned := len(j.Parts) > 0
	if j.TmpDir == "" {
		j.TmpDir = filepath.Join(in.opts.CacheDir, "job-"+strconv.FormatInt(j.ID, 10))
	}
	tmp := j.TmpDir
	in.mu.Unlock()
	if planned {
		return nil
	}
	var parts []*Part
	var apiResponse string
	var meta json.RawMessage
	switch j.Source.Type {
	case SourceURL:
		parts = []*Part{{URL: j.Source.URL, Dest: tmp, Status: PartWaiting}}
	case SourceHF:
		if in.opts.Hub == nil {
			return fmt.Errorf("no Hugging Face endpoint configured")
		}
		repo, err := in.opts.Hub.Repo(ctx, j.Source.RepoID, in.hubToken(ctx, j))
		if err != nil {
			return err
		}
		files := download.SelectFiles(repo.Files, j.Source.Variant, j.Source.Subfolder)
		if len(files) == 0 {
			return fmt.Errorf("%w: no model files in %s", probe.ErrUnknownModel, j.Source.String())
		}
		root := filepath.Join(tmp, repoName(j.Source.RepoID))
		for _, f := range files {
			rel := f.Path
			switch sub := strings.Trim(j.Source.Subfolder, "/"); {
			case sub == "":
			case f.Path == sub: // the subfolder names this one file
				rel = path.Base(f.Path)
			default:
				rel = strings.TrimPrefix(f.Path, sub+"/")
			}
			parts = append(parts, &Part{URL: in.opts.Hub.ResolveURL(j.Source.RepoID, f.Path), Dest: filepath.Join(root, filepath.FromSlash(path.Dir(rel))),
				Status: PartWaiting, RelPath: rel, ExpectSize: f.Size, SHA256: f.SHA256, TotalBytes: f.Size})
		}
		apiResponse = repo.APIResponse
		meta, _ = json.Marshal(map[string]any{"name": repoName(j.Source.RepoID), "type": "huggingface", "id": j.Source.RepoID,
			"files": files})
	}
	in.mu.Lock()
	for i, p := range parts {
		p.ID = int64(i + 1)
	}
	j.Parts, j.APIResponse, j.SourceMetadata = parts, apiResponse, meta
	j.LocalPath = tmp
	j.sumBytes()
	in.mu.Unlock()
	in.save(j)
	return nil
}

func (in *Installer) runRemote(ctx context.Context, j *Job) error {
	if err := in.plan(ctx, j); err != nil {
		return err
	}
	in.setStatus(j, StatusDownloading)
	in.mu.Lock()
	parts := append([]*Part(nil), j.Parts...)
	in.mu.Unlock()
	for _, p := range parts {
		if p.Status == PartCompleted {
			if _, err := os.Stat(p.DownloadPath); err == nil {
				continue
			}
		}
		if err := in.fetchPart(ctx, j, p); err != nil {
			return err
		}
	}
	in.setStatus(j, StatusDownloadsDone)
	in.publish("model_install_downloads_complete", InstallEvent{ID: j.ID, Source: j.Source.String()})
	in.setStatus(j, StatusRunning)
	local := in.downloadedModel(j)
	res, err := probe.Probe(ctx, local, hints(j.ConfigIn))
	if err != nil {
		return err
	}
	if err := in.register(ctx, j, local, res, false, true); err != nil {
		return err
	}
	os.RemoveAll(j.TmpDir)
	return nil
}

// downloadedModel is the file or folder a remote job installs.
func (in *Installer) downloadedModel(j *Job) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if j.Source.Type == SourceURL || len(j.Parts) == 1 && j.Parts[0].RelPath != "" && path.Dir(j.Parts[0].RelPath) == "." &&
		!isConfigFile(j.Parts[0].RelPath) && !folderLayoutFile[j.Parts[0].RelPath] {
		return j.Parts[0].DownloadPath
	}
	return filepath.Join(j.TmpDir, repoName(j.Source.RepoID))
}

// folderLayoutFile names the files that stand for a diffusers folder even alone in a repository: a LoRA's
// or an embedding's weights under the fixed name diffusers saves them with. Installed as the repository's
// folder, two such repositories do not collide on the file name.
var folderLayoutFile = map[string]bool{"pytorch_lora_weights.safetensors": true, "pytorch_lora_weights.bin": true,
	"learned_embeds.safetensors": true, "learned_embeds.bin": true}

func isConfigFile(p string) bool { return path.Ext(p) == ".json" || path.Ext(p) == ".txt" }

// fetchPart downloads one file with throttled progress events.
func (in *Installer) fetchPart(ctx context.Context, j *Job, p *Part) error {
	var last time.Time
	var lastSave time.Time
	started := false
	token := j.Source.AccessToken
	if j.Source.Type == SourceHF {
		token = in.hubToken(ctx, j)
	}
	in.mu.Lock()
	p.Status = PartRunning
	fileName := ""
	if p.RelPath != "" {
		fileName = path.Base(p.RelPath)
	} else if p.DownloadPath != "" {
		fileName = filepath.Base(p.DownloadPath)
	}
	in.mu.Unlock()
	req := download.Request{URL: j.fetchURL(p), Dir: p.Dest, FileName: fileName, Token: token, ExpectSize: p.ExpectSize, ExpectSHA256: p.SHA256,
		Started: func(path string, total int64) {
			in.mu.Lock()
			p.DownloadPath = path
			if total > 0 {
				p.TotalBytes = total
			}
			j.sumBytes()
			in.mu.Unlock()
			in.save(j) // the file name is now known, so a restart can resume this part
			if !started {
				started = true
				in.publish("download_started", DownloadStartedEvent{Source: p.URL, DownloadPath: path})
			}
		},
		Progress: func(done, total int64) {
			in.mu.Lock()
			p.Bytes = done
			if total > 0 {
				p.TotalBytes = total
			}
			j.sumBytes()
			in.mu.Unlock()
			now := time.Now()
			final := total > 0 && done >= total
			if last.IsZero() || final || now.Sub(last) >= in.opts.ProgressEvery {
				last = now
				in.progressEvents(j, p)
			}
			if now.Sub(lastSave) >= time.Second {
				lastSave = now
				in.save(j)
			}
		},
	}
	res, err := in.opts.Downloader.Fetch(ctx, req)
	if err != nil {
		if ctx.Err() == nil {
			in.mu.Lock()
			p.Status, p.Error, p.ErrorType = PartError, j.scrub(errorMessage(err)), errorType(err)
			in.mu.Unlock()
			in.publish("download_error", DownloadErrorEvent{Source: p.URL, ErrorType: errorType(err), Error: j.scrub(errorMessage(err))})
		}
		return err
	}
	in.mu.Lock()
	p.Status, p.DownloadPath, p.Bytes, p.TotalBytes, p.ContentType = PartCompleted, res.Path, res.Size, res.Size, res.ContentType
	j.sumBytes()
	in.mu.Unlock()
	in.save(j)
	in.publish("download_complete", DownloadCompleteEvent{Source: p.URL, DownloadPath: res.Path, TotalBytes: res.Size})
	return nil
}

func (in *Installer) progressEvents(j *Job, p *Part) {
	in.mu.Lock()
	parts := make([]PartProgress, 0, len(j.Parts))
	for _, q := range j.Parts {
		parts = append(parts, PartProgress{URL: q.URL, LocalPath: q.DownloadPath, Bytes: q.Bytes, TotalBytes: q.TotalBytes})
	}
	payload := InstallDownloadProgressEvent{InstallEvent: InstallEvent{ID: j.ID, Source: j.Source.String()}, LocalPath: j.LocalPath,
		Bytes: j.Bytes, TotalBytes: j.TotalBytes, Parts: parts}
	dl := DownloadProgressEvent{Source: p.URL, DownloadPath: p.DownloadPath, CurrentBytes: p.Bytes, TotalBytes: p.TotalBytes}
	in.mu.Unlock()
	in.publish("download_progress", dl)
	in.publish("model_install_download_progress", payload)
}
