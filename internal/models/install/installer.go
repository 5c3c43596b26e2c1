// Package install runs model install jobs: from a local file or folder (copied into the models folder or
// used in place), a URL, or a Hugging Face repository. Jobs are persisted, so an interrupted download resumes
// after a restart; they can be paused, resumed, cancelled and restarted, and report progress as InvokeAI's
// model_install_* and download_* events.
package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/events"
	"github.com/invokego/invokego/internal/models"
	"github.com/invokego/invokego/internal/models/download"
	"github.com/invokego/invokego/internal/models/probe"
	"github.com/invokego/invokego/internal/store"
)

var (
	errPaused    = errors.New("install paused")
	errCancelled = errors.New("install cancelled")
	errShutdown  = errors.New("server shutting down")
)

// Options configure an Installer.
type Options struct {
	// CacheDir holds downloads in progress (one folder per job).
	CacheDir   string
	Downloader *download.Client
	Hub        *download.HFClient
	Events     events.Publisher
	Logger     *slog.Logger
	// Workers is how many jobs run at once (default 2).
	Workers int
	// ProgressEvery throttles progress events (default 250ms).
	ProgressEvery time.Duration
	// HFToken supplies the stored hub token when a request brings none.
	HFToken HFTokenSource
	// ResumeJobs loads the persisted jobs and runs again those a stop interrupted. Only the server sets it:
	// a command-line run beside a running server must not take over (and corrupt) the server's downloads,
	// so without it the installer knows and runs only the jobs submitted to it.
	ResumeJobs bool
}

// Installer runs install jobs on background workers.
type Installer struct {
	svc  *models.Service
	db   *store.DB
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	jobs    map[int64]*Job
	cancels map[int64]context.CancelCauseFunc
	queue   []int64
	wake    chan struct{}

	ctx  context.Context
	stop context.CancelCauseFunc
	wg   sync.WaitGroup
}

// New starts the workers; with ResumeJobs it first loads the persisted jobs and re-queues those that were
// interrupted. Close stops the workers.
func New(ctx context.Context, svc *models.Service, db *store.DB, opts Options) (*Installer, error) {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Events == nil {
		opts.Events = events.NewBus()
	}
	in := &Installer{svc: svc, db: db, opts: opts, log: opts.Logger, jobs: map[int64]*Job{},
		cancels: map[int64]context.CancelCauseFunc{}, wake: make(chan struct{}, 1)}
	if err := in.loadJobs(ctx); err != nil {
		return nil, err
	}
	in.ctx, in.stop = context.WithCancelCause(context.Background())
	for w := 0; w < opts.Workers; w++ {
		in.wg.Add(1)
		go in.worker()
	}
	in.signal()
	return in, nil
}

// loadJobs reads the persisted jobs (ResumeJobs only) and queues those a stop interrupted, so that their
// downloads resume where they were.
func (in *Installer) loadJobs(ctx context.Context) error {
	if !in.opts.ResumeJobs {
		return nil
	}
	rows, err := in.db.ListInstallJobs(ctx)
	if err != nil {
		return fmt.Errorf("load install jobs: %w", err)
	}
	for _, r := range rows {
		var j Job
		if err := json.Unmarshal(r.Job, &j); err != nil {
			in.log.Warn("skip unreadable install job", "id", r.ID, "error", err)
			continue
		}
		j.ID = r.ID
		if j.hideSecrets() {
			if b, err := json.Marshal(&j); err == nil {
				if err := in.db.UpdateInstallJob(ctx, j.ID, b, j.Status); err != nil {
					in.log.Warn("persist install job", "id", j.ID, "error", err)
				}
			}
		}
		switch j.Status {
		case StatusWaiting, StatusDownloading, StatusDownloadsDone, StatusRunning:
			j.Status = StatusWaiting // interrupted by a restart: run again, resuming partial downloads
			in.queue = append(in.queue, j.ID)
		}
		in.jobs[j.ID] = &j
	}
	return nil
}

// Close stops the workers; running downloads keep their partial files and resume on the next start.
func (in *Installer) Close() {
	in.stop(errShutdown)
	in.wg.Wait()
}

func (in *Installer) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

func (in *Installer) worker() {
	defer in.wg.Done()
	for {
		in.mu.Lock()
		var id int64
		if len(in.queue) > 0 {
			id, in.queue = in.queue[0], in.queue[1:]
		}
		in.mu.Unlock()
		if id == 0 {
			select {
			case <-in.ctx.Done():
				return
			case <-in.wake:
				continue
			}
		}
		in.signal() // let another worker look at the rest of the queue
		in.run(id)
		if in.ctx.Err() != nil {
			return
		}
	}
}

// --- job submission and control ---

// Install starts a job for a source: an existing local path, an http(s) URL, or owner/name[:variant][::sub].
// Local models are identified before the job is created, so an unknown or malformed file is refused (415)
// with nothing installed.
func (in *Installer) Install(ctx context.Context, source string, inplace bool, accessToken string, changes models.Changes) (*Job, error) {
	if err := changes.Validate(); err != nil {
		return nil, err // 422 for values outside ModelRecordChanges' schema, as FastAPI answers
	}
	j := &Job{Status: StatusWaiting, ConfigIn: changes, Inplace: inplace, Parts: []*Part{}}
	switch {
	case strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://"):
		// Credentials in the URL stay in the job's secret; everything else sees the public form.
		j.Source = Source{Type: SourceURL, URL: models.PublicURL(source), AccessToken: accessToken}
		if j.Source.URL != source {
			j.Secret = &JobSecret{URL: source}
		}
	case localPath(source) != "":
		abs := localPath(source)
		j.Source = Source{Type: SourceLocal, Path: abs, Inplace: inplace}
		j.LocalPath = abs
		res, err := probe.Probe(ctx, abs, hints(changes))
		if err != nil {
			return nil, probeError(err)
		}
		dest := in.destination(abs, res, inplace)
		if err := in.checkFree(ctx, dest, inplace); err != nil {
			return nil, err
		}
	default:
		repo, variant, sub, ok := download.ParseHFSource(source)
		if !ok {
			return nil, apperr.Conflict(fmt.Sprintf("Unsupported model source: '%s'", source))
		}
		j.Source = Source{Type: SourceHF, RepoID: repo, Variant: variant, Subfolder: sub, AccessToken: accessToken}
	}
	if err := in.insert(ctx, j); err != nil {
		return nil, err
	}
	in.mu.Lock()
	in.jobs[j.ID] = j
	in.queue = append(in.queue, j.ID)
	view := j.clone()
	in.mu.Unlock()
	in.signal()
	return view, nil
}

func localPath(source string) string {
	if source == "" {
		return ""
	}
	abs, err := filepath.Abs(source)
	if err != nil {
		return ""
	}
	if _, err := os.Stat(abs); err != nil {
		return ""
	}
	return abs
}

func hints(ch models.Changes) probe.Hints {
	return probe.Hints{Base: val(ch.Base), Type: val(ch.Type), Format: val(ch.Format), Variant: val(ch.Variant), PredictionType: val(ch.PredictionType)}
}

// val is a set enum value as a string, or "".
func val[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

func probeError(err error) error {
	if errors.Is(err, probe.ErrUnknownModel) || errors.Is(err, probe.ErrInvalidModel) {
		return apperr.UnsupportedMedia(fmt.Sprintf("Invalid model: %v", err)).Wrap(err)
	}
	return err
}

// destination is where a model ends up: its own path in place, else <models>/<base>/<type>/<name>.
func (in *Installer) destination(src string, res *probe.Result, inplace bool) string {
	if inplace {
		return src
	}
	return filepath.Join(in.svc.ModelsDir(), res.Base, res.Type, filepath.Base(src))
}

func (in *Installer) checkFree(ctx context.Context, dest string, inplace bool) error {
	if _, found, err := in.svc.ByPath(ctx, in.svc.RecordPath(dest)); err != nil {
		return err
	} else if found {
		return apperr.Conflict(fmt.Sprintf("A model at %s is already installed", in.svc.RecordPath(dest))).Wrap(models.ErrDuplicate)
	}
	if !inplace {
		if _, err := os.Lstat(dest); err == nil {
			return apperr.Conflict(fmt.Sprintf("%s already exists in the models folder", in.svc.RecordPath(dest))).Wrap(models.ErrDuplicate)
		}
	}
	return nil
}

func (in *Installer) insert(ctx context.Context, j *Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	id, err := in.db.InsertInstallJob(ctx, b, j.Status)
	if err != nil {
		return err
	}
	j.ID = id
	return nil
}

// save persists a job (callers hold no lock; the job is cloned under the lock).
func (in *Installer) save(j *Job) {
	in.mu.Lock()
	c := j.clone()
	in.mu.Unlock()
	b, err := json.Marshal(c)
	if err == nil {
		// A background context: a job's state must be stored even while it is being cancelled.
		err = in.db.UpdateInstallJob(context.Background(), c.ID, b, c.Status)
	}
	if err != nil {
		in.log.Warn("persist install job", "id", c.ID, "error", err)
	}
}

// Jobs lists every job, oldest first.
func (in *Installer) Jobs() []*Job {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]*Job, 0, len(in.jobs))
	for _, j := range in.jobs {
		out = append(out, j.clone())
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// Job returns one job; 404 when unknown.
func (in *Installer) Job(id int64) (*Job, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	j, ok := in.jobs[id]
	if !ok {
		return nil, apperr.NotFound(fmt.Sprintf("No such install job: %d", id))
	}
	return j.clone(), nil
}

var errNoSuchJob = apperr.UnsupportedMedia("No such job")

// Prune forgets finished jobs (completed, error, cancelled).
func (in *Installer) Prune(ctx context.Context) error {
	in.mu.Lock()
	var ids []int64
	for id, j := range in.jobs {
		if terminal(j.Status) {
			ids = append(ids, id)
			delete(in.jobs, id)
		}
	}
	in.mu.Unlock()
	return in.db.DeleteInstallJobs(ctx, ids)
}

// Cancel stops a job and removes its partial files. Finished jobs are left as they are.
func (in *Installer) Cancel(id int64) error {
	in.mu.Lock()
	j, ok := in.jobs[id]
	if !ok {
		in.mu.Unlock()
		return errNoSuchJob
	}
	if terminal(j.Status) {
		in.mu.Unlock()
		return nil
	}
	if cancel, running := in.cancels[id]; running {
		in.mu.Unlock()
		cancel(errCancelled)
		return nil
	}
	in.dequeue(id)
	j.Status = StatusCancelled
	for _, p := range j.Parts {
		if p.Status != PartCompleted {
			p.Status = PartCancelled
		}
	}
	tmp := j.TmpDir
	in.mu.Unlock()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	in.save(j)
	in.publish("model_install_cancelled", InstallEvent{ID: id, Source: j.Source.String()})
	return nil
}

// dequeue removes a waiting job from the queue; the caller holds the lock.
func (in *Installer) dequeue(id int64) {
	for i, q := range in.queue {
		if q == id {
			in.queue = append(in.queue[:i], in.queue[i+1:]...)
			return
		}
	}
}

// Pause stops a waiting or downloading job, keeping what was downloaded.
func (in *Installer) Pause(id int64) (*Job, error) {
	in.mu.Lock()
	j, ok := in.jobs[id]
	if !ok {
		in.mu.Unlock()
		return nil, errNoSuchJob
	}
	cancel, running := in.cancels[id]
	switch {
	case running && (j.Status == StatusDownloading || j.Status == StatusWaiting):
		in.mu.Unlock()
		cancel(errPaused)
		return in.waitSettled(id), nil
	case !running && j.Status == StatusWaiting:
		in.dequeue(id)
		j.Status = StatusPaused
		in.mu.Unlock()
		in.save(j)
		return in.Job(id)
	}
	view := j.clone()
	in.mu.Unlock()
	return view, nil
}

// waitSettled waits briefly for a cancelled job's worker to record the new status.
func (in *Installer) waitSettled(id int64) *Job {
	for i := 0; i < 200; i++ {
		in.mu.Lock()
		_, running := in.cancels[id]
		in.mu.Unlock()
		if !running {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	j, _ := in.Job(id)
	return j
}

// Resume queues a paused job again; its downloads continue where they stopped.
func (in *Installer) Resume(id int64) (*Job, error) {
	return in.requeue(id, func(j *Job) bool { return j.Status == StatusPaused }, nil)
}

// RestartFailed queues a failed job again.
func (in *Installer) RestartFailed(id int64) (*Job, error) {
	return in.requeue(id, func(j *Job) bool { return j.Status == StatusError }, func(j *Job) {
		j.Error, j.ErrorReason = "", ""
		for _, p := range j.Parts {
			if p.Status != PartCompleted {
				p.Status, p.Error, p.ErrorType = PartWaiting, "", ""
			}
		}
	})
}

// RestartFile downloads one file of a job again from scratch and queues the job.
func (in *Installer) RestartFile(id int64, url string) (*Job, error) {
	in.mu.Lock()
	j, ok := in.jobs[id]
	found := false
	if ok {
		for _, p := range j.Parts {
			if p.URL == url {
				found = true
			}
		}
	}
	in.mu.Unlock()
	if !ok {
		return nil, errNoSuchJob
	}
	if !found {
		return nil, apperr.UnsupportedMedia(fmt.Sprintf("Job %d has no download %s", id, url))
	}
	return in.requeue(id, func(j *Job) bool { return j.Status != StatusCompleted }, func(j *Job) {
		j.Error, j.ErrorReason = "", ""
		for _, p := range j.Parts {
			if p.URL == url {
				if p.DownloadPath != "" {
					os.Remove(p.DownloadPath + download.PartialSuffix)
					os.Remove(p.DownloadPath)
				}
				p.Status, p.Bytes, p.Error, p.ErrorType = PartWaiting, 0, "", ""
			}
		}
	})
}

func (in *Installer) requeue(id int64, allowed func(*Job) bool, reset func(*Job)) (*Job, error) {
	in.mu.Lock()
	j, ok := in.jobs[id]
	if !ok {
		in.mu.Unlock()
		return nil, errNoSuchJob
	}
	if _, running := in.cancels[id]; running || !allowed(j) {
		view := j.clone()
		in.mu.Unlock()
		return view, nil
	}
	if reset != nil {
		reset(j)
	}
	j.Status = StatusWaiting
	in.queue = append(in.queue, id)
	in.mu.Unlock()
	in.save(j)
	in.signal()
	return in.Job(id)
}

// Wait blocks until a job finishes or ctx ends (for the command line).
func (in *Installer) Wait(ctx context.Context, id int64) (*Job, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		j, err := in.Job(id)
		if err != nil {
			return nil, err
		}
		if terminal(j.Status) || j.Status == StatusPaused {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-t.C:
		}
	}
}

// publish sends an install or download event to admins only: it names sources and server paths, which
// non-admins never see (docs/security.md "Model sources and paths").
func (in *Installer) publish(name string, payload any) {
	in.opts.Events.Publish(events.Event{Name: name, UserID: access.SystemUserID, Audience: events.Admins, Payload: events.Fields(payload)})
}

// --- running a job ---

func (in *Installer) run(id int64) {
	ctx, cancel := context.WithCancelCause(in.ctx)
	defer cancel(nil)
	in.mu.Lock()
	j, ok := in.jobs[id]
	if _, running := in.cancels[id]; !ok || running || j.Status != StatusWaiting {
		in.mu.Unlock()
		return
	}
	in.cancels[id] = cancel
	first := !j.Started
	j.Started = true
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		delete(in.cancels, id)
		in.mu.Unlock()
	}()
	if first {
		in.publish("model_install_started", InstallEvent{ID: id, Source: j.Source.String()})
	}
	var err error
	if j.Source.Type == SourceLocal {
		err = in.runLocal(ctx, j)
	} else {
		err = in.runRemote(ctx, j)
	}
	if err != nil {
		in.fail(ctx, j, err)
	}
}

func (in *Installer) setStatus(j *Job, status string) {
	in.mu.Lock()
	j.Status = status
	in.mu.Unlock()
	in.save(j)
}

// fail records how a job ended early: paused (partials kept), cancelled (partials removed), shutdown (left
// to resume on the next start) or error.
func (in *Installer) fail(ctx context.Context, j *Job, err error) {
	cause := context.Cause(ctx)
	src := j.Source.String()
	switch {
	case errors.Is(cause, errShutdown):
		in.save(j) // status stays as it was; the next start resumes
	case errors.Is(cause, errPaused):
		in.mu.Lock()
		for _, p := range j.Parts {
			if p.Status == PartRunning {
				p.Status = PartPaused
			}
		}
		in.mu.Unlock()
		in.setStatus(j, StatusPaused)
	case errors.Is(cause, errCancelled):
		in.mu.Lock()
		for _, p := range j.Parts {
			if p.Status != PartCompleted {
				if p.Status == PartRunning {
					in.publish("download_cancelled", DownloadEvent{Source: p.URL})
				}
				p.Status = PartCancelled
			}
		}
		in.mu.Unlock()
		if j.TmpDir != "" {
			os.RemoveAll(j.TmpDir)
		}
		in.setStatus(j, StatusCancelled)
		in.publish("model_install_cancelled", InstallEvent{ID: j.ID, Source: src})
	default:
		reason, msg := errorType(err), j.scrub(errorMessage(err))
		in.mu.Lock()
		j.Error, j.ErrorReason = msg, reason
		in.mu.Unlock()
		if j.TmpDir != "" {
			os.RemoveAll(j.TmpDir) // a failed job leaves nothing behind; restart_failed downloads again
			in.mu.Lock()
			for _, p := range j.Parts {
				if p.Status != PartError {
					p.Status, p.Bytes = PartWaiting, 0
				}
			}
			in.mu.Unlock()
		}
		in.setStatus(j, StatusError)
		in.log.Warn("model install failed", "id", j.ID, "source", src, "error", msg)
		in.publish("model_install_error", InstallErrorEvent{InstallEvent: InstallEvent{ID: j.ID, Source: src}, ErrorType: reason, Error: msg})
	}
}

// errorMessage is a failure's text as InvokeAI shows it (the exception's message): an apperr's HTTP status is
// for API answers and is left out.
func errorMessage(err error) string {
	ae, ok := apperr.As(err)
	if !ok {
		return err.Error()
	}
	detail, isString := ae.Detail.(string)
	if !isString {
		detail = fmt.Sprint(ae.Detail)
	}
	return strings.Replace(err.Error(), ae.Error(), detail, 1)
}

// errorType names a failure the way InvokeAI's events do (the exception class).
func errorType(err error) string {
	switch {
	case errors.Is(err, models.ErrDuplicate):
		return "DuplicateModelException"
	case errors.Is(err, probe.ErrUnknownModel), errors.Is(err, probe.ErrInvalidModel):
		return "InvalidModelConfigException"
	case errors.Is(err, download.ErrSizeMismatch), errors.Is(err, download.ErrHashMismatch):
		return "DownloadIntegrityError"
	case errors.Is(err, download.ErrRepoNotFound):
		return "RepositoryNotFoundError"
	}
	var he *download.HTTPError
	if errors.As(err, &he) {
		return "HTTPError"
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return "ValueError"
	}
	return "Exception"
}

func (in *Installer) runLocal(ctx context.Context, j *Job) error {
	in.setStatus(j, StatusRunning)
	src := j.Source.Path
	res, err := probe.Probe(ctx, src, hints(j.ConfigIn))
	if err != nil {
		return err
	}
	return in.register(ctx, j, src, res, j.Inplace, false)
}

// register places a model (copy, move or in place), hashes it and stores its record.
func (in *Installer) register(ctx context.Context, j *Job, src string, res *probe.Result, inplace, move bool) error {
	dest := in.destination(src, res, inplace)
	if err := in.checkFree(ctx, dest, inplace); err != nil {
		return err
	}
	cfg := models.FromProbe(res)
	configPath := res.ConfigPath
	placed := false
	if !inplace {
		if err := placeModel(ctx, src, dest, move); err != nil {
			return err
		}
		placed = true
		if configPath != "" {
			yamlDest := strings.TrimSuffix(dest, filepath.Ext(dest)) + ".yaml"
			if err := copyFile(configPath, yamlDest); err == nil {
				configPath = yamlDest
			}
		}
	}
	cleanup := func() {
		if placed {
			os.RemoveAll(dest)
			if configPath != "" && configPath != res.ConfigPath {
				os.Remove(configPath)
			}
		}
	}
	hash, err := probe.Hash(ctx, dest, nil)
	if err != nil {
		cleanup()
		return err
	}
	cfg.Path = in.svc.RecordPath(dest)
	cfg.Hash = hash
	if configPath != "" {
		cfg.ConfigPath = models.Ptr(in.svc.RecordPath(configPath))
	}
	switch j.Source.Type {
	case SourceLocal:
		cfg.Source, cfg.SourceType = j.Source.Path, models.SourcePath
	case SourceURL:
		cfg.Source, cfg.SourceType = j.Source.URL, models.SourceURL
	case SourceHF:
		cfg.Source, cfg.SourceType = j.Source.String(), models.SourceHF
		if j.APIResponse != "" {
			cfg.SourceAPIResponse = models.Ptr(j.APIResponse)
		}
		cfg.Name = repoName(j.Source.RepoID)
		if j.Source.Subfolder != "" {
			sub := path.Base(j.Source.Subfolder)
			if st, err := os.Stat(dest); err == nil && !st.IsDir() {
				sub = strings.TrimSuffix(sub, path.Ext(sub)) // a single file: FLUX.1-schnell::ae.safetensors is FLUX.1-schnell_ae
			}
			cfg.Name += "_" + sub
		}
		cfg.Description = models.Ptr(fmt.Sprintf("%s %s model %s", cfg.Base, cfg.Type, cfg.Name))
	}
	changes := j.ConfigIn
	changes.Key, changes.Path, changes.Hash, changes.FileSize = nil, nil, nil, nil
	if err := changes.Apply(cfg); err != nil {
		cleanup()
		return err
	}
	if err := in.svc.Add(ctx, cfg); err != nil {
		cleanup()
		return err
	}
	in.mu.Lock()
	j.ConfigOut = cfg
	j.Status = StatusCompleted
	j.forgetSecrets()
	if j.TotalBytes == 0 {
		j.TotalBytes, j.Bytes = cfg.FileSize, cfg.FileSize
	}
	in.mu.Unlock()
	in.save(j)
	in.publish("model_install_complete", InstallCompleteEvent{InstallEvent: InstallEvent{ID: j.ID, Source: j.Source.String()},
		Key: cfg.Key, TotalBytes: j.TotalBytes, Config: cfg})
	return nil
}

// placeModel moves or copies src to dest through a hidden temporary name, so a crash never leaves a
// half-copied model under its real name.
func placeModel(ctx context.Context, src, dest string, move bool) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if move {
		if err := os.Rename(src, dest); err == nil {
			return nil
		}
	}
	tmp := filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".installing")
	os.RemoveAll(tmp)
	if err := copyTree(ctx, src, tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("copy model: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("place model: %w", err)
	}
	return nil
}

func copyTree(ctx context.Context, src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return copyFile(src, dst)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, target)
		}
		return nil // links and devices are not part of a model
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
