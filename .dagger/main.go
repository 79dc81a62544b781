// CI for the Go application in app/: build its commands and run its tests
// in a golang container of a pinned version, with access to private modules.
package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"dagger/app-ci/internal/dagger"
)

// Paths inside the build container. HOME is /root in the golang images, so
// ssh and git look in /root for their settings.
const (
	srcDir     = "/src"
	outDir     = "/out"
	goModCache = "/go/pkg/mod"
	goCache    = "/root/.cache/go-build"
	sshDirPath = "/root/.ssh"
)

// gitCredentialHelper answers git's "get" request with the token from the
// GITHUB_TOKEN variable. It reads the variable at fetch time, so git's config
// holds only this script and the token never lands in a layer.
const gitCredentialHelper = `!f() { test "$1" = get || return 0; echo username=x-access-token; echo "password=$GITHUB_TOKEN"; }; f`

var goVersionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// AppCi builds and tests the application.
type AppCi struct {
	// Fields are exported so that Dagger keeps them between function calls,
	// and private so that they do not show up as functions.

	// +private
	Source *dagger.Directory
	// +private
	GoVersion string
	// +private
	GithubToken *dagger.Secret
	// +private
	SshDir *dagger.Directory
	// +private
	Goprivate string
}

// New checks the arguments shared by every function.
func New(
	// The Go module to build and test. Build outputs are left out of the
	// upload; they are not inputs and would only slow it down.
	// +defaultPath="/app"
	// +ignore=["bin", "**/*.test", "**/*.out"]
	source *dagger.Directory,
	// Go version, MAJOR.MINOR.PATCH: the build runs in golang:<go-version>.
	goVersion string,
	// GitHub token for fetching private modules over HTTPS (CI). Pass a
	// reference such as env://GITHUB_TOKEN, never the token itself.
	// +optional
	githubToken *dagger.Secret,
	// ssh directory for fetching private modules over ssh (developer
	// machines). Only known_hosts and the id_* key files are uploaded:
	// config often holds macOS-only options that break Linux ssh, and
	// nothing else in it is needed.
	// +optional
	// +ignore=["*", "!known_hosts", "!id_*"]
	sshDir *dagger.Directory,
	// GOPRIVATE patterns for the private modules, e.g. github.com/example/*.
	// +optional
	goprivate string,
) (*AppCi, error) {
	// The version has no default: the xtask passes the one in versions.toml,
	// so a bump changes the call itself and with it every cache key.
	if !goVersionPattern.MatchString(goVersion) {
		return nil, fmt.Errorf("go version %q is not of the form MAJOR.MINOR.PATCH, e.g. 1.26.8", goVersion)
	}
	// Exactly one credential keeps it obvious which one a run used.
	if (githubToken == nil) == (sshDir == nil) {
		return nil, errors.New("pass exactly one credential: --ssh-dir (developer machines) or --github-token (CI)")
	}
	return &AppCi{
		Source:      source,
		GoVersion:   goVersion,
		GithubToken: githubToken,
		SshDir:      sshDir,
		Goprivate:   goprivate,
	}, nil
}

// Build compiles every command under cmd/ into static binaries.
func (m *AppCi) Build() *Build {
	// The output goes to a plain directory, not to a cache volume: the
	// contents of a cache mount are not part of the container that
	// Binaries reads from.
	ctr := m.goEnv().
		WithExec([]string{"go", "build", "-trimpath", "-o", outDir + "/", "./cmd/..."})
	return &Build{Container: ctr}
}

// Test runs the unit tests and returns their output.
func (m *AppCi) Test(ctx context.Context) (string, error) {
	return m.goEnv().
		WithExec([]string{"go", "test", "./..."}).
		Stdout(ctx)
}

// Build is the result of compiling the application.
type Build struct {
	// +private
	Container *dagger.Container
}

// Binaries returns the compiled executables, one file per command.
func (b *Build) Binaries() *dagger.Directory {
	return b.Container.Directory(outDir)
}

// goEnv returns a golang container with the module caches, the credential
// and the source in place, working in the source directory.
func (m *AppCi) goEnv() *dagger.Container {
	ctr := dag.Container().
		From("golang:"+m.GoVersion).
		// The image already sets GOTOOLCHAIN=local; setting it again makes
		// sure a toolchain line in go.mod can never download another Go.
		WithEnvVariable("GOTOOLCHAIN", "local").
		// Build and test share the same settings so that they share the
		// compiled packages in the build cache.
		WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOMODCACHE", goModCache).
		WithEnvVariable("GOCACHE", goCache).
		// Downloaded modules do not depend on the Go version; compiled
		// packages and test results do, so each version gets its own cache.
		WithMountedCache(goModCache, dag.CacheVolume("app-ci-go-mod")).
		WithMountedCache(goCache, dag.CacheVolume("app-ci-go-build-"+m.GoVersion))
	if m.Goprivate != "" {
		// Private modules bypass the public proxy and checksum database.
		ctr = ctr.WithEnvVariable("GOPRIVATE", m.Goprivate)
	}

	switch {
	case m.GithubToken != nil:
		// The config step comes before the secret so that its layer does not
		// depend on the token's value.
		ctr = ctr.
			WithExec([]string{"git", "config", "--global", "credential.https://github.com.helper", gitCredentialHelper}).
			WithSecretVariable("GITHUB_TOKEN", m.GithubToken)
	case m.SshDir != nil:
		// Read-only, so nothing in the build can alter the keys. ssh then
		// cannot record a new host key; accept-new still connects and only
		// warns, which is fine for github.com on a fresh known_hosts.
		ctr = ctr.
			WithMountedDirectory(sshDirPath, m.SshDir, dagger.ContainerWithMountedDirectoryOpts{ReadOnly: true}).
			WithEnvVariable("GIT_SSH_COMMAND", "ssh -o StrictHostKeyChecking=accept-new").
			WithExec([]string{"git", "config", "--global", "url.git@github.com:.insteadOf", "https://github.com/"})
	}

	// The source comes last so that editing it leaves the layers above cached.
	return ctr.
		WithMountedDirectory(srcDir, m.Source).
		WithWorkdir(srcDir)
}
