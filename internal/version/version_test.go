package version

import (
	"regexp"
	"testing"
)

// semver is the grammar of semver.org 2.0.0 (the "suggested regular expression").
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

func TestVersionIsSemantic(t *testing.T) {
	if !semver.MatchString(Version) {
		t.Fatalf("Version %q is not a semantic version", Version)
	}
	if Full() != Version {
		t.Fatalf("Full() = %q without a commit", Full())
	}
}

func TestFullCarriesTheCommitAsBuildMetadata(t *testing.T) {
	for _, c := range []string{"eb4f161", "eb4f161-dirty", "v0.1-12-geb4f161"} {
		Commit = c
		got := Full()
		Commit = ""
		if got != Version+"+"+c || !semver.MatchString(got) {
			t.Errorf("Full() with commit %q = %q", c, got)
		}
	}
}
