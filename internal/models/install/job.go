package install

import (
	"encoding/json"
	"strings"

	"github.com/invokego/invokego/internal/models"
)

// Job statuses (InvokeAI's InstallStatus).
const (
	StatusWaiting       = "waiting"
	StatusDownloading   = "downloading"
	StatusDownloadsDone = "downloads_done"
	StatusRunning       = "running"
	StatusPaused        = "paused"
	StatusCompleted     = "completed"
	StatusError         = "error"
	StatusCancelled     = "cancelled"
)

func terminal(status string) bool {
	return status == StatusCompleted || status == StatusError || status == StatusCancelled
}

// Source types of install jobs.
const (
	SourceLocal = "local"
	SourceHF    = "hf"
	SourceURL   = "url"
)

// Source is where a job installs from.
type Source struct {
	Type        string `json:"type"`
	Path        string `json:"path,omitempty"`
	Inplace     bool   `json:"inplace,omitempty"`
	RepoID      string `json:"repo_id,omitempty"`
	Variant     string `json:"variant,omitempty"`
	Subfolder   string `json:"subfolder,omitempty"`
	URL         string `json:"url,omitempty"`
	AccessToken string `json:"access_token,omitempty"`
}

// String is the source as the user wrote it (InvokeAI's str(source)).
func (s Source) String() string {
	switch s.Type {
	case SourceLocal:
		return s.Path
	case SourceURL:
		return s.URL
	}
	out := s.RepoID
	if s.Variant != "" {
		out += ":" + s.Variant
	}
	if s.Subfolder != "" {
		out += "::" + s.Subfolder
	}
	return out
}

// view is the API shape of a source: InvokeAI's per-type fields, with the access token never echoed back.
func (s Source) view() map[string]any {
	null := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	switch s.Type {
	case SourceLocal:
		return map[string]any{"type": "local", "path": s.Path, "inplace": s.Inplace}
	case SourceURL:
		return map[string]any{"type": "url", "url": s.URL, "access_token": nil}
	}
	return map[string]any{"type": "hf", "repo_id": s.RepoID, "variant": null(s.Variant), "subfolder": null(s.Subfolder), "access_token": nil}
}

// Part is one file of a download (InvokeAI's DownloadJob).
type Part struct {
	ID           int64  `json:"id"`
	URL          string `json:"source"`
	Dest         string `json:"dest"`
	DownloadPath string `json:"download_path,omitempty"`
	Status       string `json:"status"`
	Bytes        int64  `json:"bytes"`
	TotalBytes   int64  `json:"total_bytes"`
	ErrorType    string `json:"error_type,omitempty"`
	Error        string `json:"error,omitempty"`
	ContentType  string `json:"content_type,omitempty"`
	// RelPath is the file's path inside the job's download folder; ExpectSize and SHA256 come from the hub.
	RelPath    string `json:"rel_path,omitempty"`
	ExpectSize int64  `json:"expect_size,omitempty"`
	SHA256     string `json:"sha256,omitempty"`
}

// Download part statuses (InvokeAI's DownloadJobStatus).
const (
	PartWaiting   = "waiting"
	PartRunning   = "running"
	PartPaused    = "paused"
	PartCompleted = "completed"
	PartCancelled = "cancelled"
	PartError     = "error"
)

// Job is one model install job. It is persisted as JSON (model_install_jobs) with the fields the API
// omits (token, download folder), so an interrupted download resumes after a restart.
type Job struct {
	ID             int64           `json:"id"`
	Status         string          `json:"status"`
	ErrorReason    string          `json:"error_reason,omitempty"`
	ConfigIn       models.Changes  `json:"config_in"`
	ConfigOut      *models.Config  `json:"config_out,omitempty"`
	Inplace        bool            `json:"inplace"`
	Source         Source          `json:"source"`
	LocalPath      string          `json:"local_path"`
	Bytes          int64           `json:"bytes"`
	TotalBytes     int64           `json:"total_bytes"`
	SourceMetadata json.RawMessage `json:"source_metadata,omitempty"`
	Parts          []*Part         `json:"download_parts"`
	Error          string          `json:"error,omitempty"`
	// TmpDir is the job's download folder; APIResponse is the hub's answer, kept for the record.
	TmpDir      string `json:"tmp_dir,omitempty"`
	APIResponse string `json:"api_response,omitempty"`
	// Started records that model_install_started was sent.
	Started bool `json:"started,omitempty"`
	// Secret holds what only the download may use: the source URL as given, credentials included, while
	// Source.URL and the parts carry its public form (models.PublicURL). It is stored with the job so that a
	// download resumes after a restart, never shown, and dropped once the job has completed.
	Secret *JobSecret `json:"secret,omitempty"`
}

// JobSecret is a job's private download data.
type JobSecret struct {
	URL string `json:"url"`
}

// fetchURL is the URL to download a part from: the secret form of a URL source's own part.
func (j *Job) fetchURL(p *Part) string {
	if j.Source.Type == SourceURL && j.Secret != nil && p.URL == j.Source.URL {
		return j.Secret.URL
	}
	return p.URL
}

// scrub takes the job's secret out of a text meant for logs, events or the API.
func (j *Job) scrub(text string) string {
	if j.Secret == nil {
		return text
	}
	return models.ScrubURL(text, j.Secret.URL)
}

// forgetSecrets drops what a finished job no longer needs: its credentials.
func (j *Job) forgetSecrets() {
	j.Secret = nil
	j.Source.AccessToken = ""
}

// hideSecrets moves credentials found in a job's public fields (a job stored by an earlier invokego) to
// Secret, or drops them when the job has completed. It reports whether anything changed.
func (j *Job) hideSecrets() bool {
	changed := false
	if j.Source.Type == SourceURL {
		if pub := models.PublicURL(j.Source.URL); pub != j.Source.URL {
			if j.Secret == nil {
				j.Secret = &JobSecret{URL: j.Source.URL}
			}
			j.Source.URL, changed = pub, true
		}
	}
	for _, p := range j.Parts {
		if pub := models.PublicURL(p.URL); pub != p.URL {
			p.URL, changed = pub, true
		}
	}
	if j.Status == StatusCompleted && (j.Secret != nil || j.Source.AccessToken != "") {
		j.forgetSecrets()
		changed = true
	}
	return changed
}

func (j *Job) clone() *Job {
	c := *j
	c.Parts = make([]*Part, len(j.Parts))
	for i, p := range j.Parts {
		pc := *p
		c.Parts[i] = &pc
	}
	return &c
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// View is the job as the API shows it (InvokeAI's ModelInstallJob).
func (j *Job) View() map[string]any {
	parts := make([]map[string]any, 0, len(j.Parts))
	for _, p := range j.Parts {
		parts = append(parts, map[string]any{
			"id": p.ID, "source": p.URL, "dest": p.Dest, "download_path": nullable(p.DownloadPath), "status": p.Status,
			"bytes": p.Bytes, "total_bytes": p.TotalBytes, "error_type": nullable(p.ErrorType), "error": nullable(p.Error),
			"priority": 10, "access_token": nil, "content_type": nullable(p.ContentType), "job_started": nil, "job_ended": nil,
		})
	}
	var out any
	if j.ConfigOut != nil {
		out = j.ConfigOut
	}
	var meta any
	if len(j.SourceMetadata) > 0 {
		meta = j.SourceMetadata
	}
	return map[string]any{
		"id": j.ID, "status": j.Status, "error_reason": nullable(j.ErrorReason), "config_in": j.ConfigIn,
		"config_out": out, "inplace": j.Inplace, "source": j.Source.view(), "local_path": j.LocalPath,
		"bytes": j.Bytes, "total_bytes": j.TotalBytes, "source_metadata": meta, "download_parts": parts,
		"error": nullable(j.Error), "error_traceback": nil,
	}
}

func (j *Job) sumBytes() {
	if len(j.Parts) == 0 {
		return
	}
	var b, t int64
	for _, p := range j.Parts {
		b += p.Bytes
		if p.TotalBytes > 0 {
			t += p.TotalBytes
		} else {
			t += p.ExpectSize
		}
	}
	j.Bytes, j.TotalBytes = b, t
}

// repoName is the last path element of a repo id, used as the downloaded folder's name.
func repoName(repoID string) string {
	if i := strings.LastIndex(repoID, "/"); i >= 0 {
		return repoID[i+1:]
	}
	return repoID
}
