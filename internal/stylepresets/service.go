// Package stylepresets is the library of style presets ("prompt templates"): users' private and shared presets
// and the built-in ones, with an optional preview image each (InvokeAI's style_preset_records and
// style_preset_images services). Permissions come from the access package; SQL lives in the store.
//
// Where invokego differs from InvokeAI (docs/compatibility.md §1.13):
//   - In multi-user mode presets belong to their author and are private unless shared (is_public in the form
//     data), as workflows are; built-in presets are readable by everyone and changeable by nobody.
//   - The built-in presets keep stable ids ("default_…") across restarts instead of new ones at every start,
//     so a preset the UI has selected stays selected.
//   - An update without is_public keeps the preset's sharing; one without an image removes it, as in InvokeAI.
//   - Unknown ids are 404 for update and delete (InvokeAI's reference answered 500 or 200); malformed form
//     data is 400 before anything changes; import and export are for every user, on their own presets
//     (admins: everyone's), and bounded.
//   - Preview images are PNG files (<outputs>/style_preset_images/<id>.png, at most 256 px on a side) made from
//     PNG, JPEG or GIF uploads, served like workflow thumbnails: to callers who may read the preset.
package stylepresets

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/invokego/invokego/internal/access"
	"github.com/invokego/invokego/internal/apperr"
	"github.com/invokego/invokego/internal/schema"
	"github.com/invokego/invokego/internal/store"
	"github.com/invokego/invokego/internal/workflows"
)

// Preset types.
const (
	TypeUser    = access.PresetTypeUser
	TypeDefault = access.PresetTypeDefault
)

// Bounds on what a preset holds and an import brings.
const (
	MaxNameBytes   = 1 << 10
	MaxPromptBytes = 64 << 10
	// MaxImportRows bounds the presets one import creates.
	MaxImportRows = 10_000
	// MaxImportBytes bounds an import file (the route's body limit is a little above it).
	MaxImportBytes = 8 << 20
	// MaxImageUpload bounds a preview image upload.
	MaxImageUpload = workflows.MaxThumbnailUpload
)

// Options configure a Service.
type Options struct {
	DB *store.DB
	// ImageDir holds <id>.png preview images.
	ImageDir string
	// Owner resolves the account a queue item runs for into the principal its nodes act as (PresetPrompts).
	Owner  func(ctx context.Context, userID string) (access.Principal, error)
	Logger *slog.Logger
}

// Service is the style preset library.
type Service struct {
	db     *store.DB
	dir    string
	owner  func(ctx context.Context, userID string) (access.Principal, error)
	logger *slog.Logger
}

// NewService builds the library; call SyncDefaults once at start-up.
func NewService(o Options) (*Service, error) {
	if o.DB == nil || o.ImageDir == "" {
		return nil, errors.New("stylepresets: a database and an image folder are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{db: o.DB, dir: o.ImageDir, owner: o.Owner, logger: o.Logger}, nil
}

// PresetData is a preset's prompts; "{prompt}" in positive_prompt is where the user's prompt goes.
type PresetData struct {
	PositivePrompt string `json:"positive_prompt" description:"Positive prompt"`
	NegativePrompt string `json:"negative_prompt" description:"Negative prompt"`
}

// PresetType is a preset's type, as InvokeAI's schema names the enum.
type PresetType string

// EnumValues implements schema.Enum.
func (PresetType) EnumValues() []string { return []string{TypeUser, TypeDefault} }

// StylePresetRecordWithImage is a preset as InvokeAI returns it, with the owner and sharing of later InvokeAI.
type StylePresetRecordWithImage struct {
	Name       string     `json:"name" description:"The name of the style preset."`
	PresetData PresetData `json:"preset_data" description:"The preset data"`
	Type       PresetType `json:"type" description:"The type of style preset"`
	ID         string     `json:"id" description:"The style preset ID."`
	Image      *string    `json:"image" description:"The path for image"`
	UserID     string     `json:"user_id" description:"The user who owns the style preset"`
	IsPublic   bool       `json:"is_public" description:"Whether the style preset is visible to other users"`
}

// FormData is the JSON of the "data" form field of create and update.
type FormData struct {
	Name           string
	PositivePrompt string
	NegativePrompt string
	Type           string
	// IsPublic is nil when the form does not say (an update then keeps the preset's sharing).
	IsPublic *bool
}

// ParseFormData reads the "data" field: a JSON object with string name, positive_prompt and negative_prompt, a
// type of "user" or "default", and optionally is_public; other keys are ignored, as InvokeAI's model does.
// Anything else is 400 "Invalid preset data".
func ParseFormData(raw string) (*FormData, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m == nil {
		return nil, apperr.BadRequest("Invalid preset data")
	}
	str := func(key string) (string, bool) {
		var s string
		v, ok := m[key]
		if !ok || json.Unmarshal(v, &s) != nil || schema.IsNull(v) {
			return "", false
		}
		return s, true
	}
	var fd FormData
	var ok [4]bool
	fd.Name, ok[0] = str("name")
	fd.PositivePrompt, ok[1] = str("positive_prompt")
	fd.NegativePrompt, ok[2] = str("negative_prompt")
	fd.Type, ok[3] = str("type")
	if ok != [4]bool{true, true, true, true} || (fd.Type != TypeUser && fd.Type != TypeDefault) {
		return nil, apperr.BadRequest("Invalid preset data")
	}
	if v, has := m["is_public"]; has && !schema.IsNull(v) {
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return nil, apperr.BadRequest("Invalid preset data")
		}
		fd.IsPublic = &b
	}
	if err := checkSizes(fd.Name, fd.PositivePrompt, fd.NegativePrompt); err != nil {
		return nil, apperr.BadRequest("Invalid preset data: " + err.Error())
	}
	return &fd, nil
}

func checkSizes(name, positive, negative string) error {
	switch {
	case len(name) > MaxNameBytes:
		return fmt.Errorf("the name is longer than %d bytes", MaxNameBytes)
	case len(positive) > MaxPromptBytes || len(negative) > MaxPromptBytes:
		return fmt.Errorf("a prompt is longer than %d bytes", MaxPromptBytes)
	case !utf8.ValidString(name) || !utf8.ValidString(positive) || !utf8.ValidString(negative):
		return errors.New("the text is not valid UTF-8")
	}
	return nil
}

// Upload is an image sent with a create or update.
type Upload struct {
	ContentType string
	Data        []byte
}

// thumbnail checks an upload and makes the stored preview, before anything is written.
func thumbnail(img *Upload) ([]byte, error) {
	if !strings.HasPrefix(img.ContentType, "image") {
		return nil, apperr.UnsupportedMedia("Not an image")
	}
	thumb, err := workflows.MakeThumbnail(img.Data)
	if err != nil {
		return nil, apperr.UnsupportedMedia("Failed to read image").Wrap(err)
	}
	return thumb, nil
}

func ref(r *store.StylePresetRecord) access.StylePresetRef {
	return access.StylePresetRef{OwnerID: r.UserID, IsPublic: r.IsPublic, Type: r.Type}
}

// load fetches a preset or answers 404.
func (s *Service) load(ctx context.Context, id string) (*store.StylePresetRecord, error) {
	r, err := s.db.StylePresetByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("Style preset not found")
	}
	return r, err
}

func (s *Service) dto(r *store.StylePresetRecord) (*StylePresetRecordWithImage, error) {
	var data PresetData
	if err := json.Unmarshal([]byte(r.PresetData), &data); err != nil {
		return nil, fmt.Errorf("style preset %s holds malformed data: %w", r.ID, err)
	}
	return &StylePresetRecordWithImage{Name: r.Name, PresetData: data, Type: PresetType(r.Type), ID: r.ID,
		Image: s.imageURL(r.ID), UserID: r.UserID, IsPublic: r.IsPublic}, nil
}

func encodeData(positive, negative string) string {
	b, _ := json.Marshal(PresetData{PositivePrompt: positive, NegativePrompt: negative})
	return string(b)
}

// List returns the presets the caller sees, by lower-cased name.
func (s *Service) List(ctx context.Context, p access.Principal) ([]StylePresetRecordWithImage, error) {
	rows, err := s.db.ListStylePresets(ctx, store.StylePresetFilter{Access: access.StylePresetListFilter(p)})
	if err != nil {
		return nil, err
	}
	out := make([]StylePresetRecordWithImage, 0, len(rows))
	for i := range rows {
		d, err := s.dto(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, nil
}

// Get returns a preset the caller may read.
func (s *Service) Get(ctx context.Context, p access.Principal, id string) (*StylePresetRecordWithImage, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := access.ReadStylePreset(p, ref(r)); err != nil {
		return nil, err
	}
	return s.dto(r)
}

// Create stores a new preset owned by the caller, private unless the form shares it, with its image if one
// was sent. The image is checked before the preset is written.
func (s *Service) Create(ctx context.Context, p access.Principal, fd *FormData, img *Upload) (*StylePresetRecordWithImage, error) {
	if err := access.CreateStylePreset(p, fd.Type); err != nil {
		return nil, err
	}
	var thumb []byte
	if img != nil {
		var err error
		if thumb, err = thumbnail(img); err != nil {
			return nil, err
		}
	}
	id := uuid.NewString()
	rec := store.StylePresetRecord{ID: id, Name: fd.Name, PresetData: encodeData(fd.PositivePrompt, fd.NegativePrompt),
		Type: TypeUser, UserID: p.UserID, IsPublic: fd.IsPublic != nil && *fd.IsPublic}
	if err := s.db.InsertStylePresets(ctx, []store.StylePresetRecord{rec}); err != nil {
		return nil, err
	}
	if thumb != nil {
		if err := s.saveImage(id, thumb); err != nil {
			return nil, err
		}
	}
	return s.Get(ctx, p, id)
}

// Update replaces a preset's name, prompts and (when the form says) sharing. As in InvokeAI, the image is
// replaced by the one sent, or removed when none is.
func (s *Service) Update(ctx context.Context, p access.Principal, id string, fd *FormData, img *Upload) (*StylePresetRecordWithImage, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := access.ChangeStylePreset(p, ref(r)); err != nil {
		return nil, err
	}
	var thumb []byte
	if img != nil {
		if thumb, err = thumbnail(img); err != nil {
			return nil, err
		}
	}
	isPublic := r.IsPublic
	if fd.IsPublic != nil {
		isPublic = *fd.IsPublic
	}
	if err := s.db.UpdateStylePreset(ctx, id, fd.Name, encodeData(fd.PositivePrompt, fd.NegativePrompt), isPublic); err != nil {
		return nil, notFoundIfGone(err)
	}
	if thumb != nil {
		err = s.saveImage(id, thumb)
	} else {
		err = s.removeImage(id)
	}
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, p, id)
}

// Delete removes a preset and its image.
func (s *Service) Delete(ctx context.Context, p access.Principal, id string) error {
	r, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if err := access.ChangeStylePreset(p, ref(r)); err != nil {
		return err
	}
	if err := s.db.DeleteStylePreset(ctx, id); err != nil {
		return notFoundIfGone(err)
	}
	if err := s.removeImage(id); err != nil {
		s.logger.Warn("could not remove a style preset image", "style_preset_id", id, "error", err)
	}
	return nil
}

func notFoundIfGone(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFound("Style preset not found")
	}
	return err
}

// PresetPrompts returns a preset's prompts read with the rights of the account a queue item runs for: what a
// node (prompt_template) uses. Errors are 404 and 403 apperr errors, or the owner resolver's.
func (s *Service) PresetPrompts(ctx context.Context, userID, presetID string) (positive, negative string, err error) {
	p := access.System()
	if s.owner != nil {
		if p, err = s.owner(ctx, userID); err != nil {
			return "", "", err
		}
	}
	d, err := s.Get(ctx, p, presetID)
	if err != nil {
		return "", "", err
	}
	return d.PresetData.PositivePrompt, d.PresetData.NegativePrompt, nil
}

// Export writes the presets the caller may change (their own; admins: every user's) as CSV with InvokeAI's
// columns name, prompt, negative_prompt.
func (s *Service) Export(ctx context.Context, p access.Principal) ([]byte, error) {
	rows, err := s.db.ListStylePresets(ctx, store.StylePresetFilter{Type: TypeUser, Access: access.StylePresetExportScope(p)})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true // as Python's csv module writes
	_ = w.Write([]string{"name", "prompt", "negative_prompt"})
	for i := range rows {
		var d PresetData
		if err := json.Unmarshal([]byte(rows[i].PresetData), &d); err != nil {
			return nil, fmt.Errorf("style preset %s holds malformed data: %w", rows[i].ID, err)
		}
		_ = w.Write([]string{rows[i].Name, d.PositivePrompt, d.NegativePrompt})
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// Import creates private presets owned by the caller from a CSV or JSON file, all or none.
func (s *Service) Import(ctx context.Context, p access.Principal, contentType, filename string, data []byte) error {
	rows, err := ParseImport(contentType, filename, data)
	if err != nil {
		return err
	}
	recs := make([]store.StylePresetRecord, len(rows))
	for i, r := range rows {
		recs[i] = store.StylePresetRecord{ID: uuid.NewString(), Name: r.Name, PresetData: encodeData(r.PositivePrompt, r.NegativePrompt),
			Type: TypeUser, UserID: p.UserID}
	}
	return s.db.InsertStylePresets(ctx, recs)
}

// ImportRow is one preset of an import file.
type ImportRow struct {
	Name, PositivePrompt, NegativePrompt string
}

const (
	badCSV  = "Invalid CSV format: must include columns 'name', 'prompt', and 'negative_prompt' and name cannot be blank"
	badJSON = "Invalid JSON format: must be a list of objects with keys 'name', 'prompt', and 'negative_prompt' and name cannot be blank"
)

// ParseImport reads an import file: CSV (text/csv) with the columns name, prompt (or positive_prompt) and
// negative_prompt, or JSON (application/json), a list of objects with those keys. Values are trimmed; a name
// may not be blank; other columns or keys are refused, as InvokeAI refuses them. A .csv or .json file sent with
// a generic content type (browsers label CSV files in several ways) is read by its extension. Unsupported
// types are 415, bad contents 400.
func ParseImport(contentType, filename string, data []byte) ([]ImportRow, error) {
	if len(data) > MaxImportBytes {
		return nil, apperr.BadRequest(fmt.Sprintf("The file is larger than %d MiB", MaxImportBytes>>20))
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	ext := strings.ToLower(filepath.Ext(filename))
	generic := mt == "" || mt == "application/octet-stream" || mt == "text/plain" || mt == "application/vnd.ms-excel"
	switch {
	case mt == "text/csv" || mt == "application/csv" || (generic && ext == ".csv"):
		return parseCSV(data)
	case mt == "application/json" || (generic && ext == ".json"):
		return parseJSON(data)
	default:
		return nil, apperr.UnsupportedMedia("Unsupported file type: import a .csv (text/csv) or .json (application/json) file")
	}
}

func finishRow(name, positive, negative string) (ImportRow, bool) {
	r := ImportRow{Name: strings.TrimSpace(name), PositivePrompt: strings.TrimSpace(positive), NegativePrompt: strings.TrimSpace(negative)}
	return r, r.Name != "" && checkSizes(r.Name, r.PositivePrompt, r.NegativePrompt) == nil
}

func parseCSV(data []byte) ([]ImportRow, error) {
	if !utf8.Valid(data) {
		return nil, apperr.BadRequest(badCSV + " (the file is not UTF-8)")
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	rd := csv.NewReader(bytes.NewReader(data))
	rd.FieldsPerRecord = -1
	rd.LazyQuotes = true // Python's csv module takes stray quotes inside fields as text
	header, err := rd.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return []ImportRow{}, nil
		}
		return nil, apperr.BadRequest(badCSV)
	}
	col := map[string]int{}
	for i, h := range header {
		switch h {
		case "name", "prompt", "positive_prompt", "negative_prompt":
			if _, dup := col[h]; dup {
				return nil, apperr.BadRequest(badCSV)
			}
			col[h] = i
		default:
			return nil, apperr.BadRequest(badCSV)
		}
	}
	if _, ok := col["name"]; !ok {
		return nil, apperr.BadRequest(badCSV)
	}
	var out []ImportRow
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || len(rec) != len(header) {
			return nil, apperr.BadRequest(badCSV)
		}
		if len(out) == MaxImportRows {
			return nil, apperr.BadRequest(fmt.Sprintf("The file has more than %d presets", MaxImportRows))
		}
		field := func(name string) string {
			if i, ok := col[name]; ok {
				return rec[i]
			}
			return ""
		}
		positive := field("positive_prompt")
		if _, ok := col["positive_prompt"]; !ok {
			positive = field("prompt")
		}
		r, ok := finishRow(field("name"), positive, field("negative_prompt"))
		if !ok {
			return nil, apperr.BadRequest(badCSV)
		}
		out = append(out, r)
	}
	if out == nil {
		out = []ImportRow{}
	}
	return out, nil
}

func parseJSON(data []byte) ([]ImportRow, error) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, apperr.BadRequest(badJSON)
	}
	if len(items) > MaxImportRows {
		return nil, apperr.BadRequest(fmt.Sprintf("The file has more than %d presets", MaxImportRows))
	}
	out := make([]ImportRow, 0, len(items))
	for _, it := range items {
		vals := map[string]string{}
		for k, v := range it {
			switch k {
			case "name", "prompt", "positive_prompt", "negative_prompt":
			default:
				return nil, apperr.BadRequest(badJSON)
			}
			var s string
			if json.Unmarshal(v, &s) != nil || schema.IsNull(v) {
				return nil, apperr.BadRequest(badJSON)
			}
			vals[k] = s
		}
		positive, ok := vals["positive_prompt"]
		if !ok {
			positive = vals["prompt"]
		}
		r, ok := finishRow(vals["name"], positive, vals["negative_prompt"])
		if !ok {
			return nil, apperr.BadRequest(badJSON)
		}
		out = append(out, r)
	}
	return out, nil
}

// imageIDPattern is what an id must look like before it names a file: the uuids this server makes and the
// default_* ids of the built-in presets.
var imageIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

func (s *Service) imagePath(id string) (string, error) {
	if !imageIDPattern.MatchString(id) {
		return "", fmt.Errorf("style preset id %q cannot name an image file", id)
	}
	return filepath.Join(s.dir, id+".png"), nil
}

// imageURL is the API path of a preset's image, or nil when it has none. Like workflow thumbnails, it carries
// no cache buster: the image is served with a revalidating cache policy.
func (s *Service) imageURL(id string) *string {
	p, err := s.imagePath(id)
	if err != nil {
		return nil
	}
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	u := "api/v1/style_presets/i/" + id + "/image"
	return &u
}

// saveImage writes the file atomically, so a reader never sees half a PNG.
func (s *Service) saveImage(id string, data []byte) error {
	p, err := s.imagePath(id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("create style preset image folder: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".upload-*.png")
	if err != nil {
		return fmt.Errorf("save style preset image: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save style preset image: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save style preset image: %w", err)
	}
	return os.Rename(tmp.Name(), p)
}

func (s *Service) removeImage(id string) error {
	p, err := s.imagePath(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove style preset image: %w", err)
	}
	return nil
}

// ImageFile opens the image of a preset the caller may read. The caller closes the file.
func (s *Service) ImageFile(ctx context.Context, p access.Principal, id string) (*os.File, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := access.ReadStylePreset(p, ref(r)); err != nil {
		return nil, err
	}
	path, err := s.imagePath(id)
	if err != nil {
		return nil, apperr.NotFound("Not Found")
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apperr.NotFound("Not Found")
	}
	if err != nil {
		return nil, fmt.Errorf("open style preset image: %w", err)
	}
	return f, nil
}

// RemoveUserFiles deletes the images of presets removed with a deleted account (auth.ContentRemover).
func (s *Service) RemoveUserFiles(_ context.Context, content *store.DeletedContent) {
	if content == nil {
		return
	}
	for _, id := range content.StylePresetIDs {
		if err := s.removeImage(id); err != nil {
			s.logger.Warn("remove image of a deleted style preset", "style_preset_id", id, "error", err)
		}
	}
}

// RemoveOrphanImages deletes image files whose preset no longer exists. Run at start-up.
func (s *Service) RemoveOrphanImages(ctx context.Context) error {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list style preset images: %w", err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".png")
		if !ok || !e.Type().IsRegular() || !imageIDPattern.MatchString(id) {
			continue
		}
		if _, err := s.db.StylePresetByID(ctx, id); !errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err := s.removeImage(id); err != nil {
			return err
		}
	}
	return nil
}
