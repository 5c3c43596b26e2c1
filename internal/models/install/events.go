package install

import "github.com/invokego/invokego/internal/models"

// The installer's events, one type each; the json tags give InvokeAI's payloads. They go to admins only
// (publish): they name sources and server paths (docs/security.md "Model sources and paths").

// InstallEvent is model_install_started, model_install_downloads_complete and model_install_cancelled.
type InstallEvent struct {
	ID     int64  `json:"id"`
	Source string `json:"source"`
}

// InstallErrorEvent is model_install_error.
type InstallErrorEvent struct {
	InstallEvent
	ErrorType string `json:"error_type"`
	Error     string `json:"error"`
}

// InstallCompleteEvent is model_install_complete.
type InstallCompleteEvent struct {
	InstallEvent
	Key        string         `json:"key"`
	TotalBytes int64          `json:"total_bytes"`
	Config     *models.Config `json:"config"`
}

// InstallDownloadProgressEvent is model_install_download_progress: the job's totals and each part's.
type InstallDownloadProgressEvent struct {
	InstallEvent
	LocalPath  string         `json:"local_path"`
	Bytes      int64          `json:"bytes"`
	TotalBytes int64          `json:"total_bytes"`
	Parts      []PartProgress `json:"parts"`
}

// PartProgress is one part of an InstallDownloadProgressEvent (fields in the order of InvokeAI's JSON).
type PartProgress struct {
	Bytes      int64  `json:"bytes"`
	LocalPath  string `json:"local_path"`
	TotalBytes int64  `json:"total_bytes"`
	URL        string `json:"url"`
}

// DownloadEvent is download_cancelled.
type DownloadEvent struct {
	Source string `json:"source"`
}

// DownloadStartedEvent is download_started.
type DownloadStartedEvent struct {
	Source       string `json:"source"`
	DownloadPath string `json:"download_path"`
}

// DownloadProgressEvent is download_progress.
type DownloadProgressEvent struct {
	Source       string `json:"source"`
	DownloadPath string `json:"download_path"`
	CurrentBytes int64  `json:"current_bytes"`
	TotalBytes   int64  `json:"total_bytes"`
}

// DownloadCompleteEvent is download_complete.
type DownloadCompleteEvent struct {
	Source       string `json:"source"`
	DownloadPath string `json:"download_path"`
	TotalBytes   int64  `json:"total_bytes"`
}

// DownloadErrorEvent is download_error.
type DownloadErrorEvent struct {
	Source    string `json:"source"`
	ErrorType string `json:"error_type"`
	Error     string `json:"error"`
}
