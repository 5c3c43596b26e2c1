package stylepresets

import (
	"errors"
	"strings"
	"testing"

	"github.com/invokego/invokego/internal/apperr"
)

// FuzzParseImport: any uploaded file gives presets within the bounds or a 400/415, never a panic.
func FuzzParseImport(f *testing.F) {
	for _, s := range []string{
		"name,prompt,negative_prompt\r\nA,\"{prompt}, x\",y\r\n", "\ufeffname,positive_prompt\nA,b\n", "name\n\"unterminated\n",
		"name,prompt\nA,b,c\n", "name,name\nA,B\n", `[{"name":"A","prompt":"b"}]`, `[{"name":null}]`, `{"name":"x"}`, `[1,2]`,
		"name\n" + strings.Repeat("x\n", 50), "a\"b,c\nd,e\n", "\x00\xff", "",
	} {
		f.Add("text/csv", "a.csv", []byte(s))
		f.Add("application/json", "a.json", []byte(s))
		f.Add("application/octet-stream", "a.csv", []byte(s))
	}
	f.Fuzz(func(t *testing.T, contentType, filename string, data []byte) {
		rows, err := ParseImport(contentType, filename, data)
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || (ae.Status != 400 && ae.Status != 415) || ae.Detail == "" {
				t.Fatalf("error %v is not a 400 or 415 with a detail", err)
			}
			return
		}
		if len(rows) > MaxImportRows {
			t.Fatalf("%d rows", len(rows))
		}
		for _, r := range rows {
			if strings.TrimSpace(r.Name) == "" || r.Name != strings.TrimSpace(r.Name) || checkSizes(r.Name, r.PositivePrompt, r.NegativePrompt) != nil {
				t.Fatalf("row %+v breaks the rules", r)
			}
		}
	})
}

// FuzzParseFormData: any "data" field gives a well-formed FormData or 400.
func FuzzParseFormData(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","positive_prompt":"b","negative_prompt":"c","type":"user"}`,
		`{"name":"a","positive_prompt":"b","negative_prompt":"c","type":"default","is_public":true}`,
		`{"name":"a","positive_prompt":"b","negative_prompt":"c","type":"user","is_public":"yes"}`,
		`{"name":1}`, `[]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		fd, err := ParseFormData(raw)
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("error %v is not a 400", err)
			}
			return
		}
		if (fd.Type != TypeUser && fd.Type != TypeDefault) || checkSizes(fd.Name, fd.PositivePrompt, fd.NegativePrompt) != nil {
			t.Fatalf("form %+v breaks the rules", fd)
		}
	})
}
