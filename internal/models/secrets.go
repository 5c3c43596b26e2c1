package models

import (
	"net/url"
	"strings"
)

// Model sources are pasted by people with their credentials in them: Civitai keys and signed storage links in
// the query string, user:password in the authority. Only the download needs those, so invokego stores and shows a
// source's public form everywhere else (records, install jobs, events, logs, error messages), and keeps the URL
// as given only in the install job's private field for as long as the job may still download
// (docs/security.md "Model sources and paths").

// publicQueryKeys are the query parameters a stored source keeps: the ones that choose what is downloaded, never
// the ones that authorise it. Every other parameter is dropped, so a token under a name nobody anticipated does
// not survive either. Keys compare case-insensitively.
var publicQueryKeys = map[string]bool{
	"type": true, "format": true, "size": true, "fp": true, "modelversionid": true, "version": true, "revision": true,
	"variant": true, "file": true, "filename": true, "download": true, "dl": true,
}

// PublicURL is a source URL without credentials: no user information, no fragment, and only the query
// parameters of publicQueryKeys (in their original order). A string that is not an absolute http(s) URL is
// returned as it is, since it is not a URL source (a path or a repository id).
func PublicURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
			// A URL too malformed to parse keeps nothing after its authority that could hold a secret.
			return redactUnparsable(raw)
		}
		return raw
	}
	u.User, u.Fragment, u.RawFragment = nil, "", ""
	var kept []string
	for _, pair := range strings.Split(u.RawQuery, "&") {
		key, _, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); err == nil && publicQueryKeys[strings.ToLower(k)] {
			kept = append(kept, pair)
		}
	}
	u.RawQuery, u.ForceQuery = strings.Join(kept, "&"), false
	return u.String()
}

// redactUnparsable keeps the scheme and host of a URL that does not parse, nothing else.
func redactUnparsable(raw string) string {
	scheme, rest, _ := strings.Cut(raw, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	return scheme + "://" + rest + "/"
}

// ScrubURL replaces every form of a secret URL in text (an error message from the network, say) with its
// public form.
func ScrubURL(text, secret string) string {
	public := PublicURL(secret)
	if secret == "" || secret == public {
		return text
	}
	text = strings.ReplaceAll(text, secret, public)
	if u, err := url.Parse(secret); err == nil {
		// net/http reports URLs with the password replaced by "xxxxx", and the query string intact.
		for _, form := range []string{u.Redacted(), u.String()} {
			text = strings.ReplaceAll(text, form, public)
		}
		if u.RawQuery != "" {
			text = strings.ReplaceAll(text, u.RawQuery, "")
		}
	}
	return text
}

// ForNonAdmin is a model record as a non-admin sees it: what the model is and how to use it, without where it
// came from or where it lives on the server (source, source_url, the hub's answer, path, config_path).
func (c *Config) ForNonAdmin() *Config {
	if c == nil {
		return nil
	}
	out := *c
	out.Path, out.Source = "", ""
	out.SourceAPIResponse, out.SourceURL, out.ConfigPath = nil, nil, nil
	return &out
}

// hideCredentials keeps only the public form of the record's source URLs.
func (c *Config) hideCredentials() {
	c.Source = PublicURL(c.Source)
	if c.SourceURL != nil {
		if pub := PublicURL(*c.SourceURL); pub != *c.SourceURL {
			c.SourceURL = &pub
		}
	}
}
