// Package download fetches model files over HTTP(S): streamed to disk, resumed with Range requests after a
// dropped connection or a restart, checked against an expected size and SHA-256, with a bearer token chosen
// per URL. It also speaks the parts of the Hugging Face hub API the installer needs (hf.go).
package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrSizeMismatch and ErrHashMismatch mean the downloaded bytes are not what the source promised.
var (
	ErrSizeMismatch = errors.New("downloaded size does not match")
	ErrHashMismatch = errors.New("downloaded file hash does not match")
)

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// HTTPError is a non-success response.
type HTTPError struct {
	Status int
	URL    string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
}

// TokenRule attaches a bearer token to URLs matching a regular expression (InvokeAI's remote_api_tokens).
type TokenRule struct {
	Pattern *regexp.Regexp
	Token   string
}

// Client downloads files. The zero value is not usable; use New.
type Client struct {
	http   *http.Client
	tokens []TokenRule
	// Retries is how many times a dropped transfer is resumed before giving up.
	Retries int
	// Backoff is the pause before resume attempt n (1-based).
	Backoff func(n int) time.Duration
	// ChunkSize is the read size between progress reports and cancellation checks.
	ChunkSize int
}

// New builds a client over an HTTP client (injected so tests and the CLI share one) and token rules.
func New(hc *http.Client, tokens []TokenRule) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{http: hc, tokens: tokens, Retries: 5, ChunkSize: 256 << 10,
		Backoff: func(n int) time.Duration { return time.Duration(n) * 200 * time.Millisecond }}
}

// CompileTokens turns configured (regex, token) pairs into rules, refusing bad expressions.
func CompileTokens(pairs [][2]string) ([]TokenRule, error) {
	var out []TokenRule
	for _, p := range pairs {
		re, err := regexp.Compile(p[0])
		if err != nil {
			return nil, fmt.Errorf("remote_api_tokens: bad url_regex %q: %w", p[0], err)
		}
		out = append(out, TokenRule{Pattern: re, Token: p[1]})
	}
	return out, nil
}

// TokenFor returns the configured token for a URL ("" when no rule matches).
func (c *Client) TokenFor(u string) string {
	for _, r := range c.tokens {
		if r.Pattern.MatchString(u) {
			return r.Token
		}
	}
	return ""
}

// Request describes one file to fetch.
type Request struct {
	URL string
	// Dir is where the file goes. FileName, when empty, comes from Content-Disposition or the URL path.
	Dir      string
	FileName string
	// Token is an explicit bearer token; when empty a configured rule may supply one.
	Token string
	// ExpectSize (> 0) and ExpectSHA256 (hex) are checked once the transfer is complete.
	ExpectSize   int64
	ExpectSHA256 string
	// Progress is called after each chunk with the bytes on disk and the total (0 when unknown).
	Progress func(done, total int64)
	// Started is called once the file name and total are known.
	Started func(path string, total int64)
}

// Result describes a completed download.
type Result struct {
	Path        string
	Size        int64
	ContentType string
}

// PartialSuffix marks a file still being downloaded.
const PartialSuffix = ".downloading"

// Fetch downloads req.URL into req.Dir, resuming a partial file left by an earlier attempt. On a size or hash
// mismatch the partial file is removed; on cancellation it is kept (so a pause can resume), and callers
// that cancel for good remove it.
func (c *Client) Fetch(ctx context.Context, req Request) (*Result, error) {
	if err := os.MkdirAll(req.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create download folder: %w", err)
	}
	token := req.Token
	if token == "" {
		token = c.TokenFor(req.URL)
	}
	name := req.FileName
	var partial string
	var total int64
	var contentType, linkedSHA string
	attempt := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		var have int64
		if partial != "" {
			if st, err := os.Stat(partial); err == nil {
				have = st.Size()
			}
		} else if name != "" {
			partial = filepath.Join(req.Dir, name+PartialSuffix)
			if st, err := os.Stat(partial); err == nil {
				have = st.Size()
			}
		}
		done, resp, err := c.transfer(ctx, req, token, &name, &partial, &linkedSHA, have, &total)
		if resp != "" {
			contentType = resp
		}
		if err == nil && done {
			break
		}
		if err != nil {
			var he *HTTPError
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			if errors.As(err, &he) || errors.Is(err, ErrSizeMismatch) {
				return nil, err
			}
		}
		attempt++
		if attempt > c.Retries {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("download %s: gave up after %d attempts: %w", req.URL, attempt, err)
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(c.Backoff(attempt)):
		}
	}
	st, err := os.Stat(partial)
	if err != nil {
		return nil, err
	}
	if req.ExpectSize > 0 && st.Size() != req.ExpectSize {
		os.Remove(partial)
		return nil, fmt.Errorf("%w: %s is %d bytes, expected %d", ErrSizeMismatch, name, st.Size(), req.ExpectSize)
	}
	if req.ExpectSHA256 == "" {
		req.ExpectSHA256 = linkedSHA
	}
	if req.ExpectSHA256 != "" {
		sum, err := sha256File(ctx, partial)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(sum, req.ExpectSHA256) {
			os.Remove(partial)
			return nil, fmt.Errorf("%w: %s has sha256 %s, expected %s", ErrHashMismatch, name, sum, req.ExpectSHA256)
		}
	}
	final := strings.TrimSuffix(partial, PartialSuffix)
	if err := os.Rename(partial, final); err != nil {
		return nil, fmt.Errorf("finish download: %w", err)
	}
	return &Result{Path: final, Size: st.Size(), ContentType: contentType}, nil
}

// transfer makes one request, from byte `have` on, and appends to the partial file. It reports whether the
// file is complete.
func (c *Client) transfer(ctx context.Context, req Request, token string, name, partial, linkedSHA *string, have int64, total *int64) (bool, string, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, req.URL, nil)
	if err != nil {
		return false, "", err
	}
	if token != "" {
		hr.Header.Set("Authorization", "Bearer "+token)
	}
	if have > 0 {
		hr.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	res, err := c.http.Do(hr)
	if err != nil {
		return false, "", err
	}
	defer res.Body.Close()
	ctype := res.Header.Get("Content-Type")
	switch {
	case res.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// The partial file already holds everything (or more than) the server has.
		if cr := res.Header.Get("Content-Range"); cr != "" {
			if n := contentRangeTotal(cr); n >= 0 && n == have {
				*total = n
				return true, ctype, nil
			}
		}
		os.Remove(*partial)
		return false, ctype, nil
	case res.StatusCode == http.StatusPartialContent && have > 0:
		start, n := parseContentRange(res.Header.Get("Content-Range"))
		if start != have {
			os.Remove(*partial) // the server resumed somewhere else: start over
			return false, ctype, nil
		}
		*total = n
	case res.StatusCode == http.StatusOK:
		have = 0
		*total = res.ContentLength
		if *total < 0 {
			*total = 0
		}
	default:
		return false, ctype, &HTTPError{Status: res.StatusCode, URL: req.URL}
	}
	if *name == "" {
		*name = fileNameFor(res, req.URL)
		*partial = filepath.Join(req.Dir, *name+PartialSuffix)
	}
	if req.ExpectSHA256 == "" {
		// The hub names an LFS file's SHA-256 in X-Linked-Etag; check it when the listing did not.
		if tag := strings.Trim(strings.TrimPrefix(res.Header.Get("X-Linked-Etag"), "W/"), `"`); sha256Hex.MatchString(tag) {
			*linkedSHA = tag
		}
	}
	if req.ExpectSize > 0 && *total > 0 && *total != req.ExpectSize {
		os.Remove(*partial)
		return false, ctype, fmt.Errorf("%w: server offers %d bytes of %s, expected %d", ErrSizeMismatch, *total, *name, req.ExpectSize)
	}
	if req.Started != nil {
		req.Started(strings.TrimSuffix(*partial, PartialSuffix), *total)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if have == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(*partial, flags, 0o644)
	if err != nil {
		return false, ctype, fmt.Errorf("open %s: %w", *partial, err)
	}
	defer f.Close()
	done := have
	buf := make([]byte, c.ChunkSize)
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return false, ctype, fmt.Errorf("write %s: %w", *partial, err)
			}
			done += int64(n)
			if req.Progress != nil {
				req.Progress(done, *total)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return false, ctype, rerr // a dropped connection: the caller resumes
		}
	}
	if *total > 0 && done < *total {
		return false, ctype, io.ErrUnexpectedEOF
	}
	if *total == 0 {
		*total = done
	}
	return true, ctype, nil
}

// fileNameFor takes the name from Content-Disposition, else from the URL path, reduced to a safe base name.
func fileNameFor(res *http.Response, rawURL string) string {
	if cd := res.Header.Get("Content-Disposition"); cd != "" {
		if _, params, err := mime.ParseMediaType(cd); err == nil {
			if fn := safeName(params["filename"]); fn != "" {
				return fn
			}
		}
	}
	if u, err := url.Parse(rawURL); err == nil {
		if fn := safeName(path.Base(u.Path)); fn != "" {
			return fn
		}
	}
	return "download"
}

// safeName keeps a file name from escaping its folder.
func safeName(s string) string {
	s = filepath.Base(strings.ReplaceAll(s, "\\", "/"))
	if s == "." || s == "/" || s == ".." || strings.HasPrefix(s, ".") {
		return ""
	}
	return s
}

// parseContentRange reads "bytes start-end/total"; -1 for unknown parts.
func parseContentRange(h string) (start, total int64) {
	start, total = -1, -1
	h = strings.TrimPrefix(h, "bytes ")
	rng, tot, ok := strings.Cut(h, "/")
	if !ok {
		return
	}
	if s, _, ok := strings.Cut(rng, "-"); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			start = n
		}
	}
	if n, err := strconv.ParseInt(tot, 10, 64); err == nil {
		total = n
	}
	return
}

func contentRangeTotal(h string) int64 {
	_, tot, ok := strings.Cut(h, "/")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(tot, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func sha256File(ctx context.Context, p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
