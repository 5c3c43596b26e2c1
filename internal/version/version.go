// Package version holds invokego's release version.
package version

// Version is invokego's semantic version (semver.org): what GET /api/v1/app/version answers, `invokego version`
// prints and /openapi.json carries. It changes with each release, in this file.
const Version = "0.2.0"

// Commit is the source revision a binary was built from, set by `make build` with
// -ldflags "-X github.com/invokego/invokego/internal/version.Commit=<git describe>"; empty otherwise.
var Commit string

// Full is Version with the commit as semver build metadata ("0.2.0+eb4f161") when the build recorded one.
func Full() string {
	if Commit == "" {
		return Version
	}
	return Version + "+" + Commit
}
