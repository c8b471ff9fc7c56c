package main

import (
	"archive/tar"
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const repoRoot = "../.."

// TestImage builds the image as `make image` does and reads the tarball
// back as a loader would: the reference, the config (user, entrypoint,
// labels, platform), the files of the layer, and the binary of the layer
// run with `version`.
func TestImage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "image.tar")
	o := options{
		Repo: repoRoot, Version: "v9.8.7-test", Revision: "0123456789abcdef0123456789abcdef01234567",
		Source: defaultSource, Image: defaultRepository + ":v9.8.7-test", Arch: runtime.GOARCH,
		Out: out, CACerts: caBundle, Go: "go", SourceDate: time.Unix(0, 0).UTC(),
	}
	if _, err := os.Stat(caBundle); err != nil {
		o.CACerts = "" // a host without the bundle: the image has none either
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.part left behind: %v", out, err)
	}

	// manifest.json is what docker load and kind read: one image, tagged.
	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 1 || !cmp.Equal(manifest[0].RepoTags, []string{o.Image}) {
		t.Fatalf("manifest.json: %+v, want one image tagged %s", manifest, o.Image)
	}
	tag, err := name.NewTag(o.Image)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", cf.Config.User)
	}
	if diff := cmp.Diff([]string{"/hpa-autoscaler"}, cf.Config.Entrypoint); diff != "" {
		t.Errorf("entrypoint (-want +got):\n%s", diff)
	}
	if len(cf.Config.Cmd) != 0 {
		t.Errorf("cmd %q, want none (the chart passes the subcommand)", cf.Config.Cmd)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   defaultSource,
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.title":    "hpa-autoscaler",
	}
	if diff := cmp.Diff(wantLabels, cf.Config.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if !cf.Created.Time.Equal(o.SourceDate) {
		t.Errorf("created %v, want the source date %v", cf.Created.Time, o.SourceDate)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 (an empty base and the rootfs)", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bin := filepath.Join(t.TempDir(), "hpa-autoscaler")
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		switch h.Name {
		case "hpa-autoscaler":
			f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		case "etc/passwd":
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "nonroot:x:65532:65532:") {
				t.Errorf("/etc/passwd names no user 65532:\n%s", b)
			}
		}
	}
	for _, f := range []string{"hpa-autoscaler", "etc/passwd", "etc/group", "tmp/", "home/nonroot/"} {
		if files[f] == nil {
			t.Errorf("layer has no %s", f)
		}
	}
	if o.CACerts != "" && files["etc/ssl/certs/ca-certificates.crt"] == nil {
		t.Error("layer has no CA bundle")
	}
	if h := files["hpa-autoscaler"]; h != nil {
		// Owned by root and not writable by the user it runs as.
		if h.Uid != 0 || h.Mode&0o022 != 0 || h.Mode&0o111 == 0 {
			t.Errorf("/hpa-autoscaler uid %d mode %o, want root's, 0755", h.Uid, h.Mode)
		}
		if !h.ModTime.Equal(o.SourceDate) {
			t.Errorf("/hpa-autoscaler mtime %v, want the source date", h.ModTime)
		}
	}

	// Static: no program interpreter, so it runs on an empty base.
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a PT_INTERP (dynamically linked): CGO was on")
		}
	}
	ef.Close()
	got, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, got)
	}
	if want := "hpa-autoscaler " + o.Version + "\n"; string(got) != want {
		t.Errorf("version printed %q, want %q", got, want)
	}
}

// TestDockerfileDescribesTheImage holds the Dockerfile's final stage to the
// image hack/image builds: the same user, entrypoint and label keys, the
// same source, and the version and revision from build arguments.
func TestDockerfileDescribesTheImage(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Join continuation lines, keep the instructions after the last FROM.
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || l == "" && cur.Len() == 0 {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var final []string
	var base string
	for _, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			final, base = nil, strings.Fields(l)[1]
			continue
		}
		final = append(final, l)
	}
	if !strings.HasPrefix(base, "gcr.io/distroless/static") || !strings.HasSuffix(base, ":nonroot") {
		t.Errorf("final stage FROM %s, want distroless static nonroot", base)
	}
	var userLine, entryLine string
	gotLabels := map[string]string{}
	labelRE := regexp.MustCompile(`([a-z0-9.]+)="([^"]*)"`)
	for _, l := range final {
		kw, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(kw) {
		case "USER":
			userLine = strings.TrimSpace(rest)
		case "ENTRYPOINT":
			entryLine = strings.TrimSpace(rest)
		case "LABEL":
			for _, m := range labelRE.FindAllStringSubmatch(rest, -1) {
				gotLabels[m[1]] = m[2]
			}
		}
	}
	if userLine != user {
		t.Errorf("Dockerfile USER %q, hack/image %q", userLine, user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entryLine), &ep); err != nil || !cmp.Equal(ep, []string{entrypoint}) {
		t.Errorf("Dockerfile ENTRYPOINT %s (%v), hack/image [%q]", entryLine, err, entrypoint)
	}
	want := labels(options{Source: defaultSource, Version: "${VERSION}", Revision: "${REVISION}"})
	if diff := cmp.Diff(want, gotLabels); diff != "" {
		t.Errorf("Dockerfile labels (-hack/image +Dockerfile):\n%s", diff)
	}
}

// TestMakefileImage: `make image` names the repository the tool and the
// chart default to.
func TestMakefileImage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGE\s*\?=\s*(\S+)\s*$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("Makefile: no IMAGE ?= line")
	}
	if string(m[1]) != defaultRepository {
		t.Errorf("Makefile IMAGE %s, hack/image's -repository %s", m[1], defaultRepository)
	}
}

func TestOptionsValidate(t *testing.T) {
	err := options{Version: "v 1", Image: "UPPER CASE:x"}.validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`-version "v 1"`, "-out: required", "-arch: required", `-image "UPPER CASE:x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := sourceDate("yesterday"); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("sourceDate(yesterday): %v", err)
	}
	if d, err := sourceDate("86400"); err != nil || !d.Equal(time.Unix(86400, 0)) {
		t.Errorf("sourceDate(86400) = %v, %v", d, err)
	}
}
