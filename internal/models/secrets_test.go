package models

import (
	"strings"
	"testing"
)

// The rule behind the public form: user information, fragments and every query parameter that does not choose
// what is downloaded are dropped, whatever its name.
func TestPublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@h.example/m.safetensors":                                          "https://h.example/m.safetensors",
		"https://h.example/m?token=x":                                                  "https://h.example/m",
		"https://h.example/m?type=Model&format=SafeTensor&token=x":                     "https://h.example/m?type=Model&format=SafeTensor",
		"https://h.example/m?X-Amz-Credential=a&X-Amz-Signature=b&X-Amz-Expires=60":    "https://h.example/m",
		"https://h.example/m?sig=a&se=2026&sv=1&sp=r":                                  "https://h.example/m",
		"https://h.example/m?api_key=a&apikey=b&key=c&access_token=d&auth=e&session=f": "https://h.example/m",
		"https://h.example/m?some_new_secret_name=z":                                   "https://h.example/m",
		"https://h.example/m?TYPE=Model&Token=x":                                       "https://h.example/m?TYPE=Model",
		"https://h.example/m?download=1#access_token=x":                                "https://h.example/m?download=1",
		"https://h.example/m?%74oken=x":                                                "https://h.example/m",
		"http://u@h.example:8080/a/b?":                                                 "http://h.example:8080/a/b",
		"https://u:p@h.example/%zz?token=x":                                            "https://h.example/",
		"owner/repo:fp16::vae":                                                         "owner/repo:fp16::vae",
		"/models/local.safetensors":                                                    "/models/local.safetensors",
	} {
		if got := PublicURL(in); got != want {
			t.Errorf("PublicURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ScrubURL(`Get "https://h.example/m?token=S3CRET-TOKEN": connection refused`, "https://h.example/m?token=S3CRET-TOKEN"); strings.Contains(got, "S3CRET") {
		t.Errorf("ScrubURL left the token: %s", got)
	}
}
